/**
 * The clock every device component takes in its deps, so that debouncing, hold times, pulses, LED
 * patterns and restart backoff are tested with a fake clock instead of real sleeps.
 */
import { KioskError } from './errors.js';

/** An opaque timer handle returned by `Clock.setTimeout`. */
export type TimerHandle = object;

export interface Clock {
  /** Monotonic milliseconds (not wall time); only differences are meaningful. */
  now(): number;
  /** Wall time in milliseconds since the epoch, for what is compared with dates (certificate validity). */
  wallNow(): number;
  /** Calls `fn` once after `ms` milliseconds. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timer; a handle that already fired or was cleared is ignored. */
  clearTimeout(handle: TimerHandle | undefined): void;
}

/**
 * The real clock: `performance.now()` and Node timers. Timers are not unref'd: a pending pulse or
 * restart should keep the process alive, and `stop()` of each component clears its timers.
 */
export const systemClock: Clock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, Math.max(0, ms)),
  clearTimeout(handle) {
    if (handle) clearTimeout(handle as NodeJS.Timeout);
  },
};

/** Resolves after `ms` on `clock`, or rejects with `signal.reason` when aborted first. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clock.clearTimeout(handle);
      reject(signal!.reason);
    };
    const handle = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Settles like `p`, or rejects with `E_TIMEOUT` naming `what` once `ms` have passed on `clock`,
 * whichever comes first. `p` is left to settle on its own (an inference call cannot be interrupted);
 * its later rejection is ignored.
 */
export async function deadline<T>(p: Promise<T>, ms: number, what: string, clock: Pick<Clock, 'setTimeout' | 'clearTimeout'> = systemClock): Promise<T> {
  let handle: TimerHandle | undefined;
  const late = new Promise<never>((_, reject) => {
    handle = clock.setTimeout(() => reject(new KioskError('E_TIMEOUT', `${what} took longer than ${ms} ms`, { subject: what })), ms);
  });
  p.catch(() => undefined);
  try {
    return await Promise.race([p, late]);
  } finally {
    clock.clearTimeout(handle);
  }
}

/**
 * Resolves with what `p` resolves to, or with `fallback` once `ms` have passed on `clock`, whichever
 * comes first; `p` is left to settle on its own. For waits at shutdown that must not hang on a peer
 * that stopped answering. `p` must not reject (map a rejection to a value first).
 */
export async function within<T, F>(clock: Pick<Clock, 'setTimeout' | 'clearTimeout'>, ms: number, p: Promise<T>, fallback: F): Promise<T | F> {
  let handle: TimerHandle | undefined;
  const timeout = new Promise<F>((resolve) => {
    handle = clock.setTimeout(() => resolve(fallback), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clock.clearTimeout(handle);
  }
}
