/**
 * Abuse limit: at most `maxFailures` failed sessions per reference template within `windowMs`,
 * then a cool-down during which sessions against that reference are refused. It stops an attacker
 * from trying artefact after artefact against one stolen ID. Pure: the caller passes `now` and
 * keeps the returned state (persisting it is the runner's business).
 */
import { KioskError } from '../../base/errors.js';
import { defaultsOf, int, type SettingValues } from './setting-table.js';
import type { SessionResult } from './types.js';

/**
 * The abuse settings (see setting-table.ts: the type, the defaults and the config schema entries derive
 * from it). The range [1, ∞) is what `createAbuseState` refuses as not "a positive integer".
 */
export const ABUSE_KEYS = Object.freeze({
  maxFailures: int(5, [1, Number.POSITIVE_INFINITY], 'count', 'failed sessions allowed per ID portrait within the window; the last starts the cool-down'),
  windowMs: int(3 * 60_000, [1, Number.POSITIVE_INFINITY], 'ms', 'sliding window the failures are counted in'),
  cooldownMs: int(10 * 60_000, [1, Number.POSITIVE_INFINITY], 'ms', 'how long a portrait is refused once the limit is reached'),
  maxTracked: int(10_000, [1, Number.POSITIVE_INFINITY], 'count', 'portraits tracked at most (least recently failed forgotten first)'),
});

export interface AbuseConfig extends SettingValues<typeof ABUSE_KEYS> {}

export const DEFAULT_ABUSE_CONFIG: Readonly<AbuseConfig> = defaultsOf(ABUSE_KEYS);

interface Entry {
  /** Times of the failures still inside the window, oldest first. */
  readonly failures: readonly number[];
  readonly blockedUntil: number | null;
  readonly lastFailure: number;
}

export interface AbuseState {
  readonly config: AbuseConfig;
  readonly entries: ReadonlyMap<string, Entry>;
}

export type AttemptCheck = { allowed: true; failuresInWindow: number } | { allowed: false; retryAfterMs: number };

/** An empty limiter; validates the config (throws `E_CONFIG_INVALID` naming the key). */
export function createAbuseState(config: Partial<AbuseConfig> = {}): AbuseState {
  const cfg: AbuseConfig = { ...DEFAULT_ABUSE_CONFIG, ...config };
  for (const key of Object.keys(cfg) as (keyof AbuseConfig)[]) {
    if (!(key in DEFAULT_ABUSE_CONFIG)) throw new KioskError('E_CONFIG_INVALID', `abuse setting ${key} is unknown`, { subject: `abuse.${key}` });
    const v = cfg[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < ABUSE_KEYS[key].min || v > ABUSE_KEYS[key].max) {
      throw new KioskError('E_CONFIG_INVALID', `abuse setting ${key} must be a positive integer, got ${String(v)}`, { subject: `abuse.${key}` });
    }
  }
  return { config: cfg, entries: new Map() };
}

/** Whether a session against `templateId` may start at `now`. */
export function checkAttempt(state: AbuseState, templateId: string, now: number): AttemptCheck {
  const e = state.entries.get(templateId);
  if (!e) return { allowed: true, failuresInWindow: 0 };
  if (e.blockedUntil !== null && now < e.blockedUntil) return { allowed: false, retryAfterMs: e.blockedUntil - now };
  if (e.blockedUntil !== null) return { allowed: true, failuresInWindow: 0 };
  return { allowed: true, failuresInWindow: inWindow(e.failures, now, state.config).length };
}

/** Records a failed session at `now`; the `maxFailures`-th failure within the window starts the cool-down. */
export function recordFailure(state: AbuseState, templateId: string, now: number): AbuseState {
  const cfg = state.config;
  const old = state.entries.get(templateId);
  const expired = old?.blockedUntil != null && now >= old.blockedUntil;
  const previous = !old || expired ? [] : inWindow(old.failures, now, cfg);
  if (old?.blockedUntil != null && !expired) return state; // already cooling down: nothing more to count
  const failures = [...previous, now];
  const blockedUntil = failures.length >= cfg.maxFailures ? now + cfg.cooldownMs : null;
  const entries = new Map(state.entries);
  entries.delete(templateId);
  entries.set(templateId, { failures: blockedUntil === null ? failures : [], blockedUntil, lastFailure: now });
  while (entries.size > cfg.maxTracked) entries.delete(entries.keys().next().value as string);
  return { config: cfg, entries };
}

/** Records a successful session: the reference's failure count starts again (a cool-down in force stays). */
export function recordSuccess(state: AbuseState, templateId: string, now: number): AbuseState {
  const e = state.entries.get(templateId);
  if (!e || (e.blockedUntil !== null && now < e.blockedUntil)) return state;
  const entries = new Map(state.entries);
  entries.delete(templateId);
  return { config: state.config, entries };
}

/** Forgets references with nothing left to remember at `now` (no failure in the window, no cool-down). */
export function prune(state: AbuseState, now: number): AbuseState {
  const entries = new Map<string, Entry>();
  for (const [id, e] of state.entries) {
    const blocked = e.blockedUntil !== null && now < e.blockedUntil;
    if (blocked || inWindow(e.failures, now, state.config).length > 0) entries.set(id, e);
  }
  return entries.size === state.entries.size ? state : { config: state.config, entries };
}

/**
 * Whether a session result counts as a failed attempt: every `reject` except a cancellation by
 * the operator or a shutdown; a `retry` (quality, no face) does not, it reveals nothing about the match.
 */
export function countsAsFailure(result: Pick<SessionResult, 'verdict' | 'cancelReason'>): boolean {
  if (result.verdict !== 'reject') return false;
  return result.cancelReason !== 'operator' && result.cancelReason !== 'shutdown';
}

function inWindow(failures: readonly number[], now: number, cfg: AbuseConfig): number[] {
  return failures.filter((t) => now - t < cfg.windowMs && t <= now);
}
