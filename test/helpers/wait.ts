import { readFileSync } from 'node:fs';

/** How to wait: the limit, the polling interval, and what to add to the timeout message. */
export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** More context for the timeout error (child output, events seen). */
  detail?: () => string;
}

/**
 * Polls `fn` (every 50 ms by default) until it gives a truthy value, which is returned; past the
 * limit (60 s by default) it throws "timed out waiting for <what>". The one polling helper of the
 * tests: for conditions a test cannot await directly (a broker message, a child process state); not
 * a timing assertion.
 */
export async function waitFor<T>(
  what: string,
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  options: number | WaitOptions = {},
): Promise<T> {
  const o = typeof options === 'number' ? { timeoutMs: options } : options;
  const deadline = Date.now() + (o.timeoutMs ?? 60_000);
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${o.detail ? `; ${o.detail()}` : ''}`);
    await new Promise((r) => setTimeout(r, o.intervalMs ?? 50));
  }
}

/** Whether a process runs, has exited but is not reaped yet (a zombie), or is gone. */
export function processState(pid: number | undefined): 'running' | 'zombie' | 'gone' {
  if (!pid) return 'gone';
  try {
    process.kill(pid, 0);
  } catch {
    return 'gone';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z' ? 'zombie' : 'running';
  } catch {
    return 'gone';
  }
}

/** True while a process runs (a zombie holds no device or pipe any more). */
export function processAlive(pid: number | undefined): boolean {
  return processState(pid) === 'running';
}
