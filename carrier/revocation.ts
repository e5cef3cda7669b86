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

export class CaRecords {
  private db?: Database.Database;

  /** `path`: SQLite file, or ':memory:' for a CA without a directory. */
  constructor(private readonly path: string) {}

  private open(): Database.Database {
    if (this.db) return this.db;
    try {
      this.db = openSqlite(this.path, {
        durable: true,
        schema: `CREATE TABLE IF NOT EXISTS issued (serial TEXT PRIMARY KEY, cn TEXT NOT NULL, profile TEXT NOT NULL, not_after INTEGER NOT NULL, issued_at INTEGER NOT NULL);
        CREATE INDEX IF NOT EXISTS issued_cn ON issued (cn);
        CREATE TABLE IF NOT EXISTS revoked (serial TEXT PRIMARY KEY, revoked_at INTEGER NOT NULL, reason TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL)`,
      });
      return this.db;
    } catch (err) {
      throw new KioskError('E_STORAGE', `cannot open the CA record: ${(err as Error).message}`, { subject: this.path, cause: err });
    }
  }

  /** Records a certificate the CA issued. */
  recordIssued(cert: x509.X509Certificate, cn: string, profile: string, at: Date): void {
    this.open()
      .prepare('INSERT OR IGNORE INTO issued (serial, cn, profile, not_after, issued_at) VALUES (?, ?, ?, ?, ?)')
      .run(normalizeSerial(cert.serialNumber), cn, profile, cert.notAfter.getTime(), at.getTime());
  }

  /** Serials of every certificate issued to `cn`, oldest first. */
  serialsOf(cn: string): string[] {
    const rows = this.open().prepare('SELECT serial FROM issued WHERE cn = ? ORDER BY issued_at, rowid').all(cn) as { serial: string }[];
    return rows.map((r) => r.serial);
  }

  /** Revokes `serial`; true when it was not revoked before (the first time and reason are kept). */
  revoke(serial: string, reason: RevocationReason, at: Date): boolean {
    const r = this.open()
      .prepare('INSERT OR IGNORE INTO revoked (serial, revoked_at, reason) VALUES (?, ?, ?)')
      .run(normalizeSerial(serial), at.getTime(), reason);
    return r.changes > 0;
  }

  /** Why `serial` was revoked, or undefined when it is not. */
  reasonOf(serial: string): RevocationReason | undefined {
    const row = this.open().prepare('SELECT reason FROM revoked WHERE serial = ?').get(normalizeSerial(serial)) as { reason: RevocationReason } | undefined;
    return row?.reason;
  }

  isRevoked(serial: string): boolean {
    return this.open().prepare('SELECT 1 FROM revoked WHERE serial = ?').get(normalizeSerial(serial)) !== undefined;
  }

  /** Every revoked certificate, oldest revocation first. */
  revoked(): RevokedEntry[] {
    const rows = this.open().prepare('SELECT serial, revoked_at, reason FROM revoked ORDER BY revoked_at, serial').all() as {
      serial: string;
      revoked_at: number;
      reason: RevocationReason;
    }[];
    return rows.map((r) => ({ serial: r.serial, revokedAt: new Date(r.revoked_at), reason: r.reason }));
  }

  /** The next CRL number (1, 2, ...): CRLs are numbered in issue order, across processes. */
  nextCrlNumber(): number {
    const db = this.open();
    return db
      .transaction(() => {
        db.prepare("INSERT INTO meta (name, value) VALUES ('crl_number', 1) ON CONFLICT(name) DO UPDATE SET value = value + 1").run();
        return (db.prepare("SELECT value FROM meta WHERE name = 'crl_number'").get() as { value: number }).value;
      })
      .immediate();
  }

  stop(): void {
    this.db?.close();
    this.db = undefined;
  }
}

/**
 * The verifier's revocation check over the CA record in `caDir` (by serial; the verifier checked the
 * chain to the CA before): `isRevoked` for {@link ResultVerifier}, `stop` closes the file.
 */
export function revocationCheck(caDir: string): { isRevoked: (cert: x509.X509Certificate) => boolean; stop: () => void } {
  const records = new CaRecords(join(caDir, CA_RECORDS_FILE));
  return { isRevoked: (cert) => records.isRevoked(cert.serialNumber), stop: () => records.stop() };
}
