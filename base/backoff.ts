/**
 * Retry delays, one implementation for every restart and reconnect: exponential growth to a cap,
 * with full jitter where many devices retry against one server (so a fleet does not reconnect in
 * lockstep) and without it for a local process restart.
 */

/** Backoff bounds, in milliseconds. */
export interface BackoffOptions {
  /** Delay (or, with jitter, delay ceiling) of the first retry. */
  baseMs?: number;
  /** Largest delay. */
  capMs?: number;
}

/** Defaults for talking to a server (reconnects, renewals): 1 s doubling to 60 s. */
export const SERVER_BACKOFF = { baseMs: 1000, capMs: 60_000 } as const;
/** Defaults for restarting a local helper process (camera pipe, gpiod tool): 500 ms doubling to 10 s. */
export const RESTART_BACKOFF = { baseMs: 500, capMs: 10_000 } as const;

/** The delay before retry number `attempt` (0-based): min(cap, base * 2^attempt). */
export function exponentialDelay(attempt: number, options: BackoffOptions = {}): number {
  const base = options.baseMs ?? SERVER_BACKOFF.baseMs;
  const cap = options.capMs ?? SERVER_BACKOFF.capMs;
  return Math.min(cap, base * 2 ** Math.min(attempt, 30));
}

/**
 * The delay before retry number `attempt` (0-based): uniform in [0, exponentialDelay(attempt)).
 * `random` returns [0, 1) and is injected so tests are deterministic.
 */
export function fullJitterDelay(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  return Math.floor(random() * exponentialDelay(attempt, options));
}
