/**
 * One update job, from a verified release to the switch: stage (download and check every byte
 * against the signed manifest), install side by side, record the trial deadline, switch `current`.
 * The caller restarts the agent after the switch; the new release's trial (update-trial.ts) does
 * the rest. Each step is recorded in the job record before it starts, so a crash or power loss at
 * any point resumes the job (a download continues from its partial file) or, after the switch,
 * leaves the trial to the guard.
 */
import { isKioskError, KioskError, toKioskError } from '../../base/errors.js';
import type { StagedRelease } from '../../provisioning/update/bundle.js';
import type { UpdateJobRecord } from '../../provisioning/update/job-record.js';
import type { VerifiedRelease } from '../../provisioning/update/manifest.js';
import type { ReleaseStore } from '../../provisioning/update/release-store.js';
import type { UpdateFailure, UpdateState } from '../../protocol/update.js';

/** Fetches and checks a release into `stagingDir` (apt for the agent, HTTP bundles for models). */
export type Stager = (
  release: VerifiedRelease,
  stagingDir: string,
  o: { signal: AbortSignal; onProgress: (bytes: number, total: number) => void },
) => Promise<StagedRelease>;

/** What {@link runJob} needs. */
export interface JobDeps {
  store: ReleaseStore;
  stage: Stager;
  /** Records the job's new state (job record, then the report). */
  advance(patch: Partial<UpdateJobRecord> & { state: UpdateState }): Promise<void>;
  /** Reports download progress (throttled by the caller). */
  progress(bytes: number, total: number): void;
  /** Waits until the kiosk is idle and inside its update window; rejects with E_ABORTED on stop. */
  idle(signal: AbortSignal): Promise<void>;
  trialTimeoutMs: number;
  now: () => number;
  /** Transient download failures are retried this many times, `retryDelayMs` apart (then `failed`). */
  retries: number;
  retryDelayMs: number;
}

/** The coded reason of a failed update step. */
export function failureOf(err: unknown): { reason: UpdateFailure; message: string } {
  const e = toKioskError(err, 'E_INTERNAL', 'update');
  const byCode: Record<string, UpdateFailure> = {
    E_UPDATE_SIGNATURE: 'signature',
    E_UPDATE_MANIFEST: 'manifest',
    E_UPDATE_HASH: 'hash',
    E_UPDATE_DOWNGRADE: 'downgrade',
    E_UPDATE_DISK: 'disk',
    E_UPDATE_DOWNLOAD: 'download',
    E_MODEL_SELFTEST: 'self_test',
    E_MODEL_INTEGRITY: 'self_test',
    E_MODEL_MISSING: 'self_test',
  };
  return { reason: byCode[e.code] ?? 'internal', message: `${e.code}: ${e.message}`.slice(0, 300) };
}

/**
 * Runs the recorded job for `release` (state queued .. installing) to the switch. Resolves true when `current` now names the
 * new release (restart the agent), false when the job failed (already recorded as `failed`).
 * Rejects only with E_ABORTED (the daemon stops; the job resumes at the next start).
 */
export async function runJob(release: VerifiedRelease, d: JobDeps, signal: AbortSignal): Promise<boolean> {
  try {
    await d.idle(signal);
    const staging = await d.store.prepareStaging(release);
    await d.advance({ state: 'downloading' });
    const staged = await withRetries(d, signal, () =>
      d.stage(release, staging, {
        signal,
        onProgress: (bytes, total) => d.progress(bytes, total),
      }),
    );
    await d.advance({ state: 'verifying' });
    // Staging checked every file against the manifest; the store checks the floor again.
    await d.idle(signal);
    await d.advance({ state: 'installing', trialDeadline: new Date(d.now() + d.trialTimeoutMs).toISOString() });
    await d.store.install(staged);
    await d.store.switchTo(release.manifest.version);
    return true;
  } catch (err) {
    if (isKioskError(err) && err.code === 'E_ABORTED') throw err;
    await d.advance({ state: 'failed', ...failureOf(err) });
    return false;
  }
}

async function withRetries<T>(d: JobDeps, signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!isKioskError(err) || err.code !== 'E_UPDATE_DOWNLOAD' || attempt >= d.retries || signal.aborted) throw err;
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(resolve, d.retryDelayMs);
        signal.addEventListener('abort', () => {
          clearTimeout(t);
          reject(new KioskError('E_ABORTED', 'the update was interrupted by a stop', { subject: 'update' }));
        });
      });
    }
  }
}
