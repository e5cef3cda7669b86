/**
 * The update decisions that need no I/O: whether the kiosk's clock is inside its update window,
 * whether a new job may be taken, and what is still to report of a job.
 */
import type { UpdateJobRecord } from '../../provisioning/update/job-record.js';
import type { UpdateFailure, UpdateState } from '../../protocol/update.js';
import { FINAL_UPDATE_STATES } from '../../protocol/update.js';

/** True when `at` (local time) is inside `window` ("HH:MM-HH:MM", may cross midnight; empty: always). */
export function inWindow(window: string, at: Date): boolean {
  if (!window) return true;
  const [from, to] = window.split('-').map((hm) => {
    const [h, m] = hm.split(':').map(Number);
    return h! * 60 + m!;
  }) as [number, number];
  const now = at.getHours() * 60 + at.getMinutes();
  if (from === to) return true;
  return from < to ? now >= from && now < to : now >= from || now < to;
}

/** What the kiosk does with a new, verified job. */
export type JobDecision =
  | { take: true }
  | { take: false; duplicate: true; job: UpdateJobRecord }
  | { take: false; duplicate: false; state: 'failed'; reason: UpdateFailure; message: string }
  | { take: false; duplicate: false; state: 'busy'; message: string };

/**
 * Decides on job `jobId` for `version`: the same job again is answered with its record (the carrier
 * may resend); another unfinished job keeps the kiosk busy; the running version or one below the
 * floor fails at once.
 */
export function decideJob(i: {
  jobId: string;
  version: number;
  current: UpdateJobRecord | undefined;
  running: number | null;
  floor: number;
  onTrial: boolean;
}): JobDecision {
  if (i.current?.jobId === i.jobId) return { take: false, duplicate: true, job: i.current };
  if (i.onTrial || (i.current !== undefined && !FINAL_UPDATE_STATES.has(i.current.state)))
    return { take: false, duplicate: false, state: 'busy', message: `job ${i.current?.jobId ?? '(trial)'} is not finished` };
  if (i.version === i.running) return { take: false, duplicate: false, state: 'failed', reason: 'already_current', message: `release ${i.version} is running` };
  if (i.version < i.floor)
    return { take: false, duplicate: false, state: 'failed', reason: 'downgrade', message: `release ${i.version} is below the security floor ${i.floor}` };
  return { take: true };
}

/** The states of `job` handed to nobody yet, in order: its current state if it was not reported. */
export function unreported(job: UpdateJobRecord): UpdateState[] {
  return job.reported.includes(job.state) ? [] : [job.state];
}
