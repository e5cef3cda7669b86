/** Reconnect delays: exponential backoff with full jitter, so a fleet does not reconnect in lockstep. */

/** Backoff bounds, in milliseconds. */
export interface BackoffOptions {
  /** Delay ceiling of the first retry (default 1000 ms). */
  baseMs?: number;
  /** Largest delay (default 60000 ms). */
  capMs?: number;
}

/**
 * The delay before retry number `attempt` (0-based): uniform in [0, min(cap, base * 2^attempt)).
 * `random` returns [0, 1) and is injected so tests are deterministic.
 */
export function fullJitterDelay(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const base = options.baseMs ?? 1000;
  const cap = options.capMs ?? 60_000;
  const ceiling = Math.min(cap, base * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}
