import type { Test } from 'tap';
import { isKioskError, type ErrorCode } from '../../base/errors.js';

/** Asserts that `p` rejects with a KioskError of `code` whose message matches `message`. */
export async function rejectsWithCode(t: Test, p: Promise<unknown>, code: ErrorCode, message?: RegExp | string): Promise<void> {
  try {
    await p;
    t.fail(`expected a rejection with ${code}`);
  } catch (err) {
    t.ok(isKioskError(err, code), `rejected with ${code} (got ${(err as { code?: string }).code ?? String(err)})`);
    if (message !== undefined) {
      const m = (err as Error).message;
      t.ok(typeof message === 'string' ? m.includes(message) : message.test(m), `message "${m}" names ${String(message)}`);
    }
  }
}
