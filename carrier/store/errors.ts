/** The stores' errors: E_STORAGE naming the store (and never a password or personal data). */
import { KioskError } from '../../base/errors.js';

/** The stores, as errors and logs name them. */
export type StoreName = 'nonce store' | 'enrolment registry' | 'CA record' | 'rollout state' | 'carrier schema';

/** A database whose schema is newer than this code: refused, since older code could misread or corrupt it. */
export function schemaTooNew(store: StoreName, subject: string, found: number, supported: number): KioskError {
  return new KioskError(
    'E_STORAGE',
    `${store}: the database schema (version ${found}) is newer than this carrier supports (${supported}); upgrade the carrier`,
    {
      subject,
      details: { store, reason: 'schema_too_new', found, supported },
    },
  );
}

/** Wraps a driver or server failure (connection lost, server shut down, disk full) as E_STORAGE naming the store and the operation. */
export function storageError(store: StoreName, op: string, subject: string, err: unknown, details: Record<string, unknown> = {}): KioskError {
  if (err instanceof KioskError) return err;
  const e = err as { code?: string; message?: string };
  // The server's message names the constraint or type; row values go in its `detail`, left out here.
  // The carrier's stores hold ids, keys' hashes and times, no personal data.
  return new KioskError('E_STORAGE', `${store}: ${op} failed: ${e?.message ?? String(err)}`, {
    subject,
    cause: err,
    details: { store, op, reason: e?.code ?? 'error', ...details },
  });
}

/** The URL of a database without its password (for subjects and logs). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.password = '';
    return u.toString().replace(/^(\w+:\/\/[^@/]*):?@/, '$1@');
  } catch {
    return 'postgres://(unparsable url)';
  }
}
