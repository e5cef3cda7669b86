/**
 * The carrier CA's durable record (SQLite `<ca dir>/ca.db`, WAL): every certificate it issued (serial,
 * CN, profile) and every one it revoked (serial, time, reason), plus the CRL number. The enrolment
 * services, the verifiers and the `carrier` command line on one host share the file: a revocation
 * recorded by one is seen by the others at their next query, without a restart.
 */
import type Database from 'better-sqlite3';
import { join } from 'node:path';
import { KioskError } from '../base/errors.js';
import { openSqlite } from '../base/sqlite.js';
import type { x509 } from '../base/keys/x509.js';
import { CA_MIGRATIONS } from './store/migrations/sqlite.js';
import { migrateSqlite } from './store/sqlite/migrate.js';

/** RFC 5280 revocation reasons the carrier uses (the CRL carries them as reasonCode). */
export const REVOCATION_REASONS = ['unspecified', 'keyCompromise', 'affiliationChanged', 'superseded', 'cessationOfOperation'] as const;
export type RevocationReason = (typeof REVOCATION_REASONS)[number];

/** One revoked certificate. */
export interface RevokedEntry {
  /** Serial, lower-case hex without leading zeros. */
  serial: string;
  revokedAt: Date;
  reason: RevocationReason;
}

/** The file name of the CA's record in its directory. */
export const CA_RECORDS_FILE = 'ca.db';

/** A serial as stored: lower-case hex, no leading zeros (parsers differ on both). */
export function normalizeSerial(serial: string): string {
  return serial.toLowerCase().replace(/^0+(?=.)/, '');
}

/**
 * The CA record in one SQLite file (one host); carrier/store/postgres/ has the one for many hosts. It is a
 * RevocationStore (carrier/store/types.ts; checked in carrier/store/sqlite/open.ts, not imported here: a cycle).
 */
export class CaRecords {
  private db?: Database.Database;

  /** `path`: SQLite file, or ':memory:' for a CA without a directory. */
  constructor(private readonly path: string) {}

  private open(): Database.Database {
    if (this.db) return this.db;
    try {
      const db = openSqlite(this.path, { durable: true, schema: '' });
      migrateSqlite(db, 'CA record', this.path, CA_MIGRATIONS);
      this.db = db;
      return db;
    } catch (err) {
      if (err instanceof KioskError) throw err;
      throw new KioskError('E_STORAGE', `cannot open the CA record: ${(err as Error).message}`, { subject: this.path, cause: err });
    }
  }

  /** Records a certificate the CA issued. */
  async recordIssued(cert: { serialNumber: string; notAfter: Date }, cn: string, profile: string, at: Date): Promise<void> {
    this.open()
      .prepare('INSERT OR IGNORE INTO issued (serial, cn, profile, not_after, issued_at) VALUES (?, ?, ?, ?, ?)')
      .run(normalizeSerial(cert.serialNumber), cn, profile, cert.notAfter.getTime(), at.getTime());
  }

  /** Serials of every certificate issued to `cn`, oldest first. */
  async serialsOf(cn: string): Promise<string[]> {
    const rows = this.open().prepare('SELECT serial FROM issued WHERE cn = ? ORDER BY issued_at, rowid').all(cn) as { serial: string }[];
    return rows.map((r) => r.serial);
  }

  /** Revokes `serial`; true when it was not revoked before (the first time and reason are kept). */
  async revoke(serial: string, reason: RevocationReason, at: Date): Promise<boolean> {
    const r = this.open()
      .prepare('INSERT OR IGNORE INTO revoked (serial, revoked_at, reason) VALUES (?, ?, ?)')
      .run(normalizeSerial(serial), at.getTime(), reason);
    return r.changes > 0;
  }

  /** Why `serial` was revoked, or undefined when it is not. */
  async reasonOf(serial: string): Promise<RevocationReason | undefined> {
    const row = this.open().prepare('SELECT reason FROM revoked WHERE serial = ?').get(normalizeSerial(serial)) as { reason: RevocationReason } | undefined;
    return row?.reason;
  }

  /** True when `serial` is revoked. */
  async isRevoked(serial: string): Promise<boolean> {
    return this.open().prepare('SELECT 1 FROM revoked WHERE serial = ?').get(normalizeSerial(serial)) !== undefined;
  }

  /** Every revoked certificate, oldest revocation first. */
  async revoked(): Promise<RevokedEntry[]> {
    const rows = this.open().prepare('SELECT serial, revoked_at, reason FROM revoked ORDER BY revoked_at, serial').all() as {
      serial: string;
      revoked_at: number;
      reason: RevocationReason;
    }[];
    return rows.map((r) => ({ serial: r.serial, revokedAt: new Date(r.revoked_at), reason: r.reason }));
  }

  /** The next CRL number (1, 2, ...): CRLs are numbered in issue order, across processes. */
  async nextCrlNumber(): Promise<number> {
    const db = this.open();
    return db
      .transaction(() => {
        db.prepare("INSERT INTO meta (name, value) VALUES ('crl_number', 1) ON CONFLICT(name) DO UPDATE SET value = value + 1").run();
        return (db.prepare("SELECT value FROM meta WHERE name = 'crl_number'").get() as { value: number }).value;
      })
      .immediate();
  }

  async stop(): Promise<void> {
    this.db?.close();
    this.db = undefined;
  }
}

/**
 * The verifier's revocation check over the CA record in `caDir` (by serial; the verifier checked the
 * chain to the CA before): `isRevoked` for {@link ResultVerifier}, `stop` closes the file.
 */
export function revocationCheck(caDir: string): { isRevoked: (cert: x509.X509Certificate) => Promise<boolean>; stop: () => Promise<void> } {
  return revocationCheckOf(new CaRecords(join(caDir, CA_RECORDS_FILE)));
}

/** The same check over any revocation store (PostgreSQL for verifiers on many hosts); `stop` stops the store. */
export function revocationCheckOf(records: Pick<CaRecords, 'isRevoked' | 'stop'>): {
  isRevoked: (cert: x509.X509Certificate) => Promise<boolean>;
  stop: () => Promise<void>;
} {
  return { isRevoked: (cert) => records.isRevoked(cert.serialNumber), stop: () => records.stop() };
}
