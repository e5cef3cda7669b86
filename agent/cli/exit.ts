import { isKioskError, toKioskError } from '../errors.js';

/** Exit codes shared by every command: 0 success/accept, 1 reject or failed check, 2 error. */
export const EXIT = { ok: 0, reject: 1, error: 2 } as const;

/** Prints an error as one line (or JSON) naming its code and subject, and sets exit code 2. */
export function reportError(err: unknown, json = false): void {
  const e = toKioskError(err);
  if (json) process.stdout.write(`${JSON.stringify({ error: e.toJSON() })}\n`);
  else process.stderr.write(`error ${e.code}: ${e.message}\n`);
  if (!isKioskError(err)) process.stderr.write(`${(err as Error)?.stack ?? ''}\n`);
  process.exitCode = EXIT.error;
}
