import type { Test } from 'tap';
import type { ErrorCode } from '../../base/errors.js';

/** Asserts that `p` rejects with a KioskError of `code` whose message matches `message` (a string: contains it). */
export async function rejectsWithCode(t: Test, p: Promise<unknown>, code: ErrorCode, message?: RegExp | string): Promise<void> {
  const wanted = message === undefined ? {} : { message: typeof message === 'string' ? new RegExp(escapeRegExp(message)) : message };
  await t.rejects(p, { name: 'KioskError', code, ...wanted }, `rejected with ${code}${message === undefined ? '' : ` naming ${String(message)}`}`);
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
