/**
 * The trial guard: what runs before every start of the agent (systemd's ExecStartPre, from the
 * release that was committed last, see systemd/kiosk-agent-exec), so that a new release that cannot
 * even start its own code is still rolled back. For each release store:
 *
 *   - repair whatever a crash or power loss left half done (ReleaseStore.open);
 *   - no trial: nothing to do;
 *   - a trial that already started `maxStarts` times without committing (it crashed, was killed,
 *     did not send READY in time, or the kiosk rebooted), or whose deadline passed: roll back to the
 *     previous release and record why in the job record, for the old agent to report;
 *   - otherwise count this start (ReleaseStore.startTrial).
 *
 * Pure file-system work: no network, no models, so it cannot fail for the reasons a release fails.
 */
import type { UpdateFailure } from '../../protocol/update.js';
import { readJob, writeJob } from './job-record.js';
import { ReleaseStore } from './release-store.js';

/** One store the guard looks after. */
export interface GuardedStore {
  kind: 'agent' | 'models';
  root: string;
}

/** What the guard did for one store. */
export interface GuardOutcome {
  kind: 'agent' | 'models';
  action: 'none' | 'trial_start' | 'rolled_back';
  /** The version on trial (trial_start) or rolled back (rolled_back). */
  version?: number;
  /** trial_start: how many starts the trial has had, this one included. */
  starts?: number;
  reason?: UpdateFailure;
  message?: string;
}

/** Options of {@link guardTrials}. */
export interface GuardOptions {
  stores: GuardedStore[];
  /** Where the job record is (`<update dir>`). */
  jobDir: string;
  /** Starts allowed to a trial release before it is rolled back. */
  maxStarts: number;
  now?: () => number;
}

/** Encodes a rollback reason for the store's `lastRollback.reason`: `<code>: <message>`. */
export function rollbackReason(code: UpdateFailure, message: string): string {
  return `${code}: ${message}`;
}

/** Splits a `lastRollback.reason` made by {@link rollbackReason}. */
export function parseRollbackReason(text: string): { reason: UpdateFailure; message: string } {
  const m = /^([a-z_]+): (.*)$/s.exec(text);
  return m ? { reason: m[1] as UpdateFailure, message: m[2]! } : { reason: 'internal', message: text };
}

/** Runs the guard over `o.stores`; see the file comment. */
export async function guardTrials(o: GuardOptions): Promise<GuardOutcome[]> {
  const now = o.now ?? Date.now;
  const out: GuardOutcome[] = [];
  for (const s of o.stores) {
    const store = await ReleaseStore.open({ root: s.root });
    const trial = store.state.trial;
    if (trial === null) {
      out.push({ kind: s.kind, action: 'none' });
      continue;
    }
    const job = await readJob(o.jobDir);
    const ours = job !== undefined && job.kind === s.kind && job.version === trial ? job : undefined;
    let failure: { reason: UpdateFailure; message: string } | undefined;
    if (store.state.trialStarts >= o.maxStarts)
      failure = { reason: 'start', message: `release ${trial} started ${store.state.trialStarts} times without passing its trial` };
    else if (ours?.trialDeadline !== undefined && now() > Date.parse(ours.trialDeadline))
      failure = { reason: 'trial_timeout', message: `release ${trial} did not pass its trial by ${ours.trialDeadline}` };
    if (failure === undefined) {
      out.push({ kind: s.kind, action: 'trial_start', version: trial, starts: await store.startTrial() });
      continue;
    }
    // The job record first: if the power goes between the two, the next guard rolls back again
    // (the store still says trial) and the record already holds the reason.
    if (ours) await writeJob(o.jobDir, { ...ours, state: 'rolled_back', ...failure, at: new Date(now()).toISOString() });
    await store.rollback(rollbackReason(failure.reason, failure.message));
    out.push({ kind: s.kind, action: 'rolled_back', version: trial, ...failure });
  }
  return out;
}
