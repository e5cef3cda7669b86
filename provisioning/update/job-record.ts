/**
 * The one update job a kiosk works on, kept in `<update dir>/job.json` (write-temp-fsync-rename), so
 * that every release that starts next (the old one after a crash mid-download, the new one on its
 * trial, the old one again after a rollback) knows which job it serves, what was reported already
 * and by when the trial must end. The reports themselves go out through the daemon's durable event
 * queue; this file only says which states were handed to it, so none is sent twice by design (the
 * carrier still accepts duplicates: the queue is at-least-once).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KioskError } from '../../base/errors.js';
import type { UpdateFailure, UpdateState } from '../../protocol/update.js';
import { FINAL_UPDATE_STATES, UPDATE_STATES } from '../../protocol/update.js';
import { writeFileDurable } from './fs-durable.js';

/** The durable record of the current update job. */
export interface UpdateJobRecord {
  jobId: string;
  kind: 'agent' | 'models';
  version: number;
  /** The release manifest token (re-verified by whichever release reads it). */
  token: string;
  /** The job's state on this kiosk. */
  state: UpdateState;
  /** The version that ran when the job arrived (where a rollback returns to). */
  from: number | null;
  /** `failed` / `rolled_back`: why. */
  reason?: UpdateFailure;
  message?: string;
  /** ISO time by which the trial must commit (set at the switch). */
  trialDeadline?: string;
  /** States already handed to the event queue. */
  reported: UpdateState[];
  /** ISO time of the last change. */
  at: string;
}

/** The job record file in `dir`. */
export const jobFile = (dir: string) => join(dir, 'job.json');

/** Reads the job record of `dir`, undefined when there is none; E_STORAGE when it is unreadable. */
export async function readJob(dir: string): Promise<UpdateJobRecord | undefined> {
  let text: string;
  try {
    text = await readFile(jobFile(dir), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new KioskError('E_STORAGE', `cannot read the update job record: ${(err as Error).message}`, { subject: jobFile(dir), cause: err });
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new KioskError('E_STORAGE', 'the update job record is not JSON', { subject: jobFile(dir) });
  }
  const problem = jobProblem(v);
  if (problem) throw new KioskError('E_STORAGE', `the update job record is malformed: ${problem}`, { subject: jobFile(dir) });
  return v as UpdateJobRecord;
}

/** Writes the job record durably (temp, fsync, rename, fsync dir). */
export async function writeJob(dir: string, job: UpdateJobRecord): Promise<void> {
  await writeFileDurable(jobFile(dir), `${JSON.stringify(job)}\n`);
}

/** True when nothing more will happen for `job` (it may still have a state to report). */
export function isFinished(job: UpdateJobRecord): boolean {
  return FINAL_UPDATE_STATES.has(job.state);
}

function jobProblem(v: unknown): string | undefined {
  if (typeof v !== 'object' || v === null) return 'not an object';
  const j = v as Record<string, unknown>;
  if (typeof j.jobId !== 'string' || !/^[A-Za-z0-9_-]{8,64}$/.test(j.jobId)) return 'jobId';
  if (j.kind !== 'agent' && j.kind !== 'models') return 'kind';
  if (!Number.isSafeInteger(j.version)) return 'version';
  if (typeof j.token !== 'string') return 'token';
  if (!UPDATE_STATES.includes(j.state as UpdateState)) return 'state';
  if (j.from !== null && !Number.isSafeInteger(j.from)) return 'from';
  if (!Array.isArray(j.reported) || !j.reported.every((s) => UPDATE_STATES.includes(s as UpdateState))) return 'reported';
  return undefined;
}
