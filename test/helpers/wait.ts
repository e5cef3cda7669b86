/**
 * Polls `fn` every 50 ms until it gives a truthy value, which is returned; past `timeoutMs` it throws
 * "timed out waiting for <what>". For conditions a test cannot await directly (a broker message, a
 * child process state); not a timing assertion.
 */
export async function waitFor<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
