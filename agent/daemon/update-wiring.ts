/**
 * Fleet updates in the daemon (`update.enabled`): the `update` command, the job run when the kiosk
 * is idle and inside its window, the trial of a new release after the switch, and the reports.
 *
 *   command  -> verify the release (carrier release key) -> job record `queued` -> (idle, window)
 *            -> downloading -> verifying -> installing -> switch -> restart (exit 75, systemd restarts)
 *   restart  -> guard (ExecStartPre, from the last committed release) counts the start or rolls back
 *            -> this agent: trial -> model self-test before any session -> READY -> broker reached
 *               and the `trial` report acknowledged -> commit -> `committed`
 *            -> any failure: roll back, report `rolled_back` with the reason, restart on the old release
 *
 * Every report is a daemon event `update` (events.ts: stored before it is published, kept at the
 * queue's bound). The job record says which states were handed over, so each release reports what
 * the one before could not.
 */
import type { EventEmitter } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { KioskError, toKioskError } from '../../base/errors.js';
import type { Logger } from '../../base/log.js';
import { parseRollbackReason, rollbackReason } from '../../provisioning/update/guard.js';
import { readJob, type UpdateJobRecord, writeJob } from '../../provisioning/update/job-record.js';
import { ReleaseVerifier, type VerifiedRelease } from '../../provisioning/update/manifest.js';
import { ReleaseStore } from '../../provisioning/update/release-store.js';
import { parseCompact } from '../../protocol/jws.js';
import type { UpdateFailure, UpdateJobArgs, UpdateReport, UpdateState } from '../../protocol/update.js';
import type { KioskConfig } from '../config/types.js';
import type { CommandOutcome } from '../transport/commands.js';
import type { DaemonEvents } from './events.js';
import { decideJob, inWindow, unreported } from './update-policy.js';
import { failureOf, runJob, type Stager } from './update-job.js';

type Kind = 'agent' | 'models';

/** Where a kiosk keeps its releases (`update.dir`, default `<stateDir>/update`). */
export function updatePaths(cfg: Pick<KioskConfig, 'stateDir' | 'update'>): { dir: string; agent: string; models: string; apt: string } {
  const dir = cfg.update.dir || join(cfg.stateDir, 'update');
  return { dir, agent: join(dir, 'agent'), models: join(dir, 'models'), apt: join(dir, 'apt') };
}

/** What the wiring needs from the daemon and the edges. */
export interface UpdateWiringDeps {
  config: KioskConfig;
  bus: EventEmitter<DaemonEvents>;
  /** Why the kiosk is not idle now (a customer, a session, a dispense), undefined when it is. */
  busy: () => string | undefined;
  /** The broker connection is up. */
  online: () => boolean;
  /** Daemon events not yet acknowledged by the broker. */
  eventsQueued: () => number;
  /** Loads and self-tests every model the engine uses (throws E_MODEL_* naming the check). */
  selfTest: () => Promise<void>;
  stagers: Partial<Record<Kind, Stager>>;
  /** Ends the process for systemd to restart it on whatever `current` names now. */
  restart: (why: string) => void;
  logger: Logger;
  now?: () => number;
  /** Poll period of the idle and delivery waits (default 500 ms). */
  pollMs?: number;
}

/** The update state /health and telemetry show. */
export interface UpdateStatus {
  job: { jobId: string; kind: Kind; version: number; state: UpdateState; reason?: UpdateFailure } | null;
  progress: { bytes: number; total: number } | null;
  running: { agent: number | null; models: number | null };
  trial: Kind | null;
}

export class UpdateWiring {
  private stores?: Record<Kind, ReleaseStore>;
  private verifier?: ReleaseVerifier;
  private job?: UpdateJobRecord;
  private trialKind: Kind | null = null;
  private progressNow: { bytes: number; total: number } | null = null;
  private lastProgressAt = 0;
  private readonly abort = new AbortController();
  private running?: Promise<void>;
  private readonly now: () => number;
  private readonly paths: ReturnType<typeof updatePaths>;

  constructor(private readonly d: UpdateWiringDeps) {
    this.now = d.now ?? Date.now;
    this.paths = updatePaths(d.config);
  }

  /**
   * Opens the stores, reports what an earlier release could not, and on a trial runs the model
   * self-test: a failure rolls back and throws E_UPDATE_TRIAL, so no session ever runs on it.
   */
  async start(): Promise<void> {
    await mkdir(this.paths.dir, { recursive: true, mode: 0o700 });
    this.stores = {
      agent: await ReleaseStore.open({ root: this.paths.agent, diskMarginBytes: this.d.config.update.diskMarginBytes }),
      models: await ReleaseStore.open({ root: this.paths.models, diskMarginBytes: this.d.config.update.diskMarginBytes }),
    };
    this.verifier = new ReleaseVerifier({ keys: this.d.config.update.releaseKeys.map((k) => ({ kid: k.kid, publicKey: { ...k.publicKey } })) });
    await this.verifier.start();
    this.job = await readJob(this.paths.dir);
    this.trialKind = (['agent', 'models'] as const).find((k) => this.stores![k].state.trial !== null) ?? null;
    if (this.trialKind) await this.beginTrial(this.trialKind);
    else await this.reportPending();
  }

  /** After READY: finishes a trial, or resumes an unfinished job. */
  afterStart(): void {
    if (this.trialKind) this.running = this.finishTrial(this.trialKind);
    else if (this.job && ['queued', 'downloading', 'verifying', 'installing'].includes(this.job.state)) this.running = this.resume(this.job);
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.running?.catch(() => undefined);
  }

  /** The `update` command. */
  async handle(cmd: UpdateJobArgs): Promise<CommandOutcome> {
    const stores = this.stores;
    if (!stores || !this.verifier) return { ok: false, reason: 'busy', detail: 'the updater is not started' };
    let release: VerifiedRelease;
    try {
      release = await this.verifier.verify(cmd.release);
    } catch (err) {
      const f = failureOf(err);
      this.emit({ jobId: cmd.job_id, ...unverifiedIdentity(cmd.release), state: 'failed', ...f });
      return { ok: true, body: { job_id: cmd.job_id, state: 'failed', reason: f.reason } };
    }
    const { kind, version } = release.manifest;
    const store = stores[kind];
    const decision = decideJob({
      jobId: cmd.job_id,
      version,
      current: this.job,
      running: store.state.current,
      floor: store.state.floor,
      onTrial: this.trialKind !== null,
    });
    if (!decision.take) {
      if (decision.duplicate) return { ok: true, body: { job_id: cmd.job_id, state: decision.job.state } };
      if (decision.state === 'busy') return { ok: false, reason: 'busy', detail: decision.message };
      this.emit({ jobId: cmd.job_id, kind, version, state: 'failed', reason: decision.reason, message: decision.message });
      return { ok: true, body: { job_id: cmd.job_id, state: 'failed', reason: decision.reason } };
    }
    this.job = { jobId: cmd.job_id, kind, version, token: release.token, state: 'queued', from: store.state.current, reported: [], at: this.iso() };
    await this.advance({ state: 'queued' });
    this.running = this.run(this.job, release);
    return { ok: true, body: { job_id: cmd.job_id, state: 'queued' } };
  }

  /** For /health and telemetry. */
  status(): UpdateStatus {
    const j = this.job;
    return {
      job: j ? { jobId: j.jobId, kind: j.kind, version: j.version, state: j.state, ...(j.reason ? { reason: j.reason } : {}) } : null,
      progress: j?.state === 'downloading' ? this.progressNow : null,
      running: { agent: this.stores?.agent.state.current ?? null, models: this.stores?.models.state.current ?? null },
      trial: this.trialKind,
    };
  }

  private async resume(job: UpdateJobRecord): Promise<void> {
    let release: VerifiedRelease;
    try {
      release = await this.verifier!.verify(job.token, job.kind);
    } catch (err) {
      return this.advance({ state: 'failed', ...failureOf(err) });
    }
    return this.run(job, release);
  }

  private async run(job: UpdateJobRecord, release: VerifiedRelease): Promise<void> {
    const stage = this.d.stagers[job.kind];
    if (!stage) return this.advance({ state: 'failed', reason: 'internal', message: `no source configured for ${job.kind} releases` });
    try {
      const switched = await runJob(
        release,
        {
          store: this.stores![job.kind],
          stage,
          advance: (patch) => this.advance(patch),
          progress: (bytes, total) => this.progress(bytes, total),
          idle: (signal) => this.idle(signal),
          trialTimeoutMs: this.d.config.update.trialTimeoutMs,
          now: this.now,
          retries: 3,
          retryDelayMs: 2000,
        },
        this.abort.signal,
      );
      if (switched) {
        this.d.logger.info({ kind: job.kind, version: job.version }, 'release switched: restarting on it for its trial');
        this.d.restart(`switched to ${job.kind} release ${job.version}`);
      }
    } catch (err) {
      this.d.logger.info({ err: toKioskError(err).toJSON() }, 'update job interrupted; it resumes at the next start');
    }
  }

  private async beginTrial(kind: Kind): Promise<void> {
    const store = this.stores![kind];
    const version = store.state.trial!;
    // No guard ran before this start (the agent was started by hand, not by the unit): count it here.
    if (store.state.trialStarts === 0) await store.startTrial();
    this.job = this.job && this.job.kind === kind && this.job.version === version ? this.job : undefined;
    if (this.job && this.job.state !== 'trial') await this.advance({ state: 'trial' });
    try {
      await this.d.selfTest();
    } catch (err) {
      const f = failureOf(err);
      await this.rollback(kind, { reason: 'self_test', message: f.message });
      throw new KioskError('E_UPDATE_TRIAL', `${kind} release ${version} failed its model self-test and was rolled back: ${f.message}`, {
        subject: `${kind} release ${version}`,
        cause: err,
      });
    }
    this.d.logger.info({ kind, version }, 'trial: model self-test passed');
  }

  private async finishTrial(kind: Kind): Promise<void> {
    const store = this.stores![kind];
    const version = store.state.trial!;
    const deadline = this.job?.trialDeadline ? Date.parse(this.job.trialDeadline) : this.now() + this.d.config.update.trialTimeoutMs;
    const reached = await this.until(deadline, () => this.d.online() && this.d.eventsQueued() === 0);
    if (reached === 'aborted') return;
    if (reached === 'timeout') {
      await this.rollback(kind, {
        reason: this.d.online() ? 'trial_timeout' : 'broker',
        message: this.d.online() ? 'the trial report was not acknowledged in time' : 'the broker was not reached within the trial time',
      });
      this.d.restart(`${kind} release ${version} rolled back`);
      return;
    }
    await store.commit();
    this.trialKind = null;
    this.d.logger.info({ kind, version }, 'trial passed: release committed');
    if (this.job) await this.advance({ state: 'committed' });
  }

  private async rollback(kind: Kind, f: { reason: UpdateFailure; message: string }): Promise<void> {
    // The record first (a power loss in between leaves the guard to roll back, with the reason kept),
    // the report after the switch back, so that it names the release running then.
    if (this.job) await this.record({ state: 'rolled_back', ...f });
    await this.stores![kind].rollback(rollbackReason(f.reason, f.message));
    this.trialKind = null;
    this.d.logger.warn({ kind, reason: f.reason, message: f.message }, 'release rolled back');
    if (this.job) await this.report(this.job, 'rolled_back');
  }

  /** Reports a final state an earlier release recorded but could not send (e.g. the guard's rollback). */
  private async reportPending(): Promise<void> {
    const job = this.job;
    if (!job) return;
    for (const state of unreported(job)) {
      if (state === 'rolled_back' && !job.reason) {
        const last = this.stores![job.kind].state.lastRollback;
        if (last?.version === job.version) Object.assign(job, parseRollbackReason(last.reason));
      }
      await this.report(job, state);
    }
  }

  /** Records `patch` in the job record, then reports the new state. */
  private async advance(patch: Partial<UpdateJobRecord> & { state: UpdateState }): Promise<void> {
    if (!this.job) return;
    await this.record(patch);
    await this.report(this.job, patch.state);
  }

  private async record(patch: Partial<UpdateJobRecord> & { state: UpdateState }): Promise<void> {
    if (!this.job) return;
    this.job = { ...this.job, ...patch, at: this.iso() };
    await writeJob(this.paths.dir, this.job);
  }

  private async report(job: UpdateJobRecord, state: UpdateState): Promise<void> {
    const final = state === 'failed' || state === 'rolled_back';
    this.emit({
      jobId: job.jobId,
      kind: job.kind,
      version: job.version,
      state,
      ...(final && job.reason ? { reason: job.reason, message: job.message ?? '' } : {}),
      running: this.stores![job.kind].state.current,
    });
    if (!job.reported.includes(state)) {
      this.job = { ...job, reported: [...job.reported, state] };
      await writeJob(this.paths.dir, this.job);
    }
  }

  private emit(r: UpdateReport): void {
    this.d.bus.emit('update', r);
  }

  private progress(bytes: number, total: number): void {
    this.progressNow = { bytes, total };
    const t = this.now();
    // A report every 10 s at most (and the last byte): each is a stored event.
    if (this.job && (t - this.lastProgressAt >= 10_000 || bytes === total)) {
      this.lastProgressAt = t;
      this.emit({ jobId: this.job.jobId, kind: this.job.kind, version: this.job.version, state: 'downloading', progress: { bytes, total } });
    }
  }

  private async idle(signal: AbortSignal): Promise<void> {
    let logged = '';
    for (;;) {
      if (signal.aborted) throw new KioskError('E_ABORTED', 'the update was interrupted by a stop', { subject: 'update' });
      const why =
        this.d.busy() ?? (inWindow(this.d.config.update.window, new Date(this.now())) ? undefined : `outside the update window ${this.d.config.update.window}`);
      if (why === undefined) return;
      if (why !== logged) this.d.logger.info({ why }, 'update deferred');
      logged = why;
      await this.sleep(signal);
    }
  }

  private async until(deadline: number, ok: () => boolean): Promise<'ok' | 'timeout' | 'aborted'> {
    for (;;) {
      if (this.abort.signal.aborted) return 'aborted';
      if (ok()) return 'ok';
      if (this.now() >= deadline) return 'timeout';
      await this.sleep(this.abort.signal).catch(() => undefined);
    }
  }

  private sleep(signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(resolve, this.d.pollMs ?? 500);
      signal.addEventListener(
        'abort',
        () => {
          clearTimeout(t);
          reject(new KioskError('E_ABORTED', 'the update was interrupted by a stop', { subject: 'update' }));
        },
        { once: true },
      );
    });
  }

  private iso(): string {
    return new Date(this.now()).toISOString();
  }
}

/** Kind and version read from an unverified token, only to label a `failed` report (never trusted). */
function unverifiedIdentity(token: string): { kind: Kind; version: number } {
  try {
    const p = parseCompact(token.trim()).payload;
    return { kind: p.kind === 'models' ? 'models' : 'agent', version: Number.isSafeInteger(p.version) ? (p.version as number) : 0 };
  } catch {
    return { kind: 'agent', version: 0 };
  }
}
