/**
 * The staged rollout's decisions as pure functions (no I/O, no clock of its own): which kiosks a
 * rollout targets and in which order, how big the canary and the waves are, and, given what every
 * kiosk reported so far, what to do next: send jobs to a wave, wait, abort, or stop. The service
 * (service.ts) executes the decision; the store (store.ts) keeps the per-kiosk states.
 *
 * Rules: the canary (wave 0) and then each wave must reach final states (committed, rolled_back,
 * failed; a job without a final report after the kiosk timeout counts as failed `timeout`) before the
 * next wave is sent. The failure rate is (rolled_back + failed) / finished over every kiosk that
 * reached a final state; it aborts the rollout when it is strictly above the threshold and at least
 * `minFinished` kiosks finished. After an abort no job is sent again. Kiosks that are offline when
 * their wave would take them stay `pending` and are reported as "stayed put".
 */
import { createHash } from 'node:crypto';
import { KioskError } from '../../base/errors.js';
import { FINAL_UPDATE_STATES, type UpdateState } from '../../protocol/update.js';

/** A size: a count of kiosks, or a percentage of the targets (rounded up, at least 1). */
export type RolloutSize = { count: number } | { percent: number };

/** A kiosk's state in a rollout: `pending` (no job yet), `sent` (job published, nothing reported), or the kiosk's last report. */
export type KioskRolloutState = 'pending' | 'sent' | UpdateState;

/** What the plan knows of one kiosk. */
export interface KioskStatus {
  state: KioskRolloutState;
  /** The wave its job was sent in. */
  wave?: number;
  /** When its job was sent, ms. */
  sentAt?: number;
  /** When its state last changed, ms. */
  updatedAt?: number;
  /** The coded reason of `failed` / `rolled_back` (`timeout` when the carrier gave up waiting). */
  reason?: string;
}

/** The rollout's rules. */
export interface RolloutRules {
  canary: RolloutSize;
  wave: RolloutSize;
  /** Abort when the failure rate is strictly above this, 0..1. */
  abortFailureRate: number;
  /** The failure rate applies only once this many kiosks finished (>= 1). */
  minFinished: number;
  /** A job without a final report this long after it was sent counts as failed `timeout`, ms. */
  kioskTimeoutMs: number;
}

/** Everything a decision depends on. */
export interface PlanInput {
  /** The targets in rollout order (see {@link orderTargets}). */
  targets: readonly string[];
  rules: RolloutRules;
  kiosks: ReadonlyMap<string, KioskStatus>;
  /** Kiosks known to be connected now; a pending kiosk not in it is skipped (stays put). */
  online: ReadonlySet<string>;
  now: number;
  /** The recorded abort, once there was one. */
  aborted?: { reason: string; wave: number };
}

/** Counts over the targets, with timed-out jobs counted as failed. */
export interface RolloutCounts {
  targets: number;
  pending: number;
  inFlight: number;
  committed: number;
  rolledBack: number;
  failed: number;
  finished: number;
  /** (rolledBack + failed) / finished, 0 when nothing finished. */
  failureRate: number;
}

/** What to do next. */
export type RolloutDecision =
  | { kind: 'send'; wave: number; kiosks: string[] }
  | { kind: 'wait'; wave: number; inFlight: number }
  | { kind: 'abort'; wave: number; reason: string; counts: RolloutCounts }
  | { kind: 'done'; aborted: boolean; counts: RolloutCounts };

/** The kiosks of `ids` a rollout takes, `percent` of them (rounded up), in an order fixed by `seed`: a re-run with the same seed takes the same kiosks in the same order. */
export function orderTargets(ids: readonly string[], seed: string, percent = 100): string[] {
  if (!(percent > 0 && percent <= 100)) throw new KioskError('E_USAGE', 'the percentage must be in (0, 100]', { subject: 'rollout percent' });
  const rank = (id: string) => createHash('sha256').update(seed).update('\0').update(id).digest('hex');
  const unique = [...new Set(ids)];
  const ordered = unique.map((id) => ({ id, r: rank(id) })).sort((a, b) => (a.r < b.r ? -1 : a.r > b.r ? 1 : 0));
  return ordered.slice(0, Math.ceil((unique.length * percent) / 100)).map((o) => o.id);
}

/** The number of kiosks `size` means out of `total` (at least 1, at most `total`). */
export function sizeOf(size: RolloutSize, total: number): number {
  const n = 'count' in size ? size.count : Math.ceil((total * size.percent) / 100);
  return Math.max(1, Math.min(total, Math.floor(n)));
}

/** Parses `12` or `5%` into a {@link RolloutSize}; E_USAGE naming `option` otherwise. */
export function parseSize(text: string, option: string): RolloutSize {
  const m = /^(\d+(?:\.\d+)?)(%?)$/.exec(text.trim());
  const v = m ? Number(m[1]) : Number.NaN;
  if (!m || !(v > 0) || (m[2] === '%' ? v > 100 : !Number.isInteger(v)))
    throw new KioskError('E_USAGE', `${option} must be a positive count or a percentage up to 100%`, { subject: option });
  return m[2] === '%' ? { percent: v } : { count: v };
}

/** Checks the rules; E_USAGE naming the first bad one. */
export function checkRules(r: RolloutRules): RolloutRules {
  const bad = (subject: string, message: string) => new KioskError('E_USAGE', message, { subject });
  if (!(r.abortFailureRate >= 0 && r.abortFailureRate <= 1)) throw bad('abortFailureRate', 'the abort failure rate must be in 0..1');
  if (!Number.isInteger(r.minFinished) || r.minFinished < 1) throw bad('minFinished', 'min-finished must be an integer >= 1');
  if (!(r.kioskTimeoutMs > 0)) throw bad('kioskTimeoutMs', 'the kiosk timeout must be positive');
  sizeOf(r.canary, 1);
  sizeOf(r.wave, 1);
  return r;
}

/** True when `s` is final for the plan: a final report, or a job older than the kiosk timeout. */
function effective(s: KioskStatus | undefined, now: number, timeoutMs: number): KioskRolloutState {
  const state = s?.state ?? 'pending';
  if (state === 'pending' || FINAL_UPDATE_STATES.has(state as UpdateState)) return state;
  return s?.sentAt !== undefined && now - s.sentAt >= timeoutMs ? 'failed' : state;
}

/** The kiosks whose job has gone without a final report for the kiosk timeout (to be recorded as failed `timeout`). */
export function timedOut(kiosks: ReadonlyMap<string, KioskStatus>, now: number, timeoutMs: number): string[] {
  return [...kiosks]
    .filter(([, s]) => s.state !== 'pending' && !FINAL_UPDATE_STATES.has(s.state as UpdateState) && effective(s, now, timeoutMs) === 'failed')
    .map(([id]) => id);
}

/** Counts of `input`'s targets by outcome. */
export function countRollout(input: Pick<PlanInput, 'targets' | 'kiosks' | 'now' | 'rules'>): RolloutCounts {
  const c = { targets: input.targets.length, pending: 0, inFlight: 0, committed: 0, rolledBack: 0, failed: 0 };
  for (const id of input.targets) {
    const state = effective(input.kiosks.get(id), input.now, input.rules.kioskTimeoutMs);
    if (state === 'pending') c.pending++;
    else if (state === 'committed') c.committed++;
    else if (state === 'rolled_back') c.rolledBack++;
    else if (state === 'failed') c.failed++;
    else c.inFlight++;
  }
  const finished = c.committed + c.rolledBack + c.failed;
  return { ...c, finished, failureRate: finished === 0 ? 0 : (c.rolledBack + c.failed) / finished };
}

/** The next step of the rollout described by `input`. */
export function nextStep(input: PlanInput): RolloutDecision {
  const { rules, targets } = input;
  const counts = countRollout(input);
  let wave = -1;
  for (const id of targets) wave = Math.max(wave, input.kiosks.get(id)?.wave ?? -1);
  if (input.aborted) return counts.inFlight > 0 ? { kind: 'wait', wave, inFlight: counts.inFlight } : { kind: 'done', aborted: true, counts };
  if (counts.finished >= rules.minFinished && counts.failureRate > rules.abortFailureRate) {
    const rate = counts.failureRate.toFixed(3);
    return {
      kind: 'abort',
      wave: Math.max(wave, 0),
      reason: `failure rate ${rate} (${counts.rolledBack} rolled back + ${counts.failed} failed of ${counts.finished} finished) is above ${rules.abortFailureRate}`,
      counts,
    };
  }
  // The wave in flight (the canary first) must finish before another starts.
  if (counts.inFlight > 0) return { kind: 'wait', wave, inFlight: counts.inFlight };
  const next = wave + 1;
  const size = sizeOf(next === 0 ? rules.canary : rules.wave, targets.length);
  const ready = targets.filter((id) => (input.kiosks.get(id)?.state ?? 'pending') === 'pending' && input.online.has(id)).slice(0, size);
  if (ready.length === 0) return { kind: 'done', aborted: false, counts };
  return { kind: 'send', wave: next, kiosks: ready };
}
