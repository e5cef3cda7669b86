/**
 * The CA's record in PostgreSQL: certificates issued and revoked, the CRL number. Every change is a
 * single statement (INSERT ... ON CONFLICT, an upsert with RETURNING for the CRL number), atomic under
 * READ COMMITTED: two hosts revoking one serial record one revocation (the first time and reason),
 * and two hosts writing CRLs at once get two different numbers.
 */
import { type RevocationReason, type RevokedEntry, normalizeSerial } from '../../revocation.js';
import type { IssuedCertificate, RevocationStore } from '../types.js';
import { type PgContext, num } from './pool.js';

/** The CA record in one PostgreSQL database. */
export class PgRevocationStore implements RevocationStore {
  constructor(private readonly ctx: PgContext) {}

  async recordIssued(cert: IssuedCertificate, cn: string, profile: string, at: Date): Promise<void> {
    await this.ctx.run(
      'record issued',
      (sql) => sql`INSERT INTO ca_issued (serial, cn, profile, not_after, issued_at)
        VALUES (${normalizeSerial(cert.serialNumber)}, ${cn}, ${profile}, ${cert.notAfter.getTime()}, ${at.getTime()}) ON CONFLICT DO NOTHING`,
    );
  }

  async serialsOf(cn: string): Promise<string[]> {
    const rows = await this.ctx.run('serials', (sql) => sql`SELECT serial FROM ca_issued WHERE cn = ${cn} ORDER BY issued_at, seq`);
    return rows.map((r) => r.serial as string);
  }

  async revoke(serial: string, reason: RevocationReason, at: Date): Promise<boolean> {
    const rows = await this.ctx.run(
      'revoke',
      (sql) => sql`INSERT INTO ca_revoked (serial, revoked_at, reason) VALUES (${normalizeSerial(serial)}, ${at.getTime()}, ${reason})
        ON CONFLICT DO NOTHING RETURNING serial`,
    );
    return rows.length > 0;
  }

  async reasonOf(serial: string): Promise<RevocationReason | undefined> {
    const [r] = await this.ctx.run('read revocation', (sql) => sql`SELECT reason FROM ca_revoked WHERE serial = ${normalizeSerial(serial)}`);
    return r?.reason as RevocationReason | undefined;
  }

  async isRevoked(serial: string): Promise<boolean> {
    const rows = await this.ctx.run('check revocation', (sql) => sql`SELECT 1 FROM ca_revoked WHERE serial = ${normalizeSerial(serial)}`);
    return rows.length > 0;
  }

  async revoked(): Promise<RevokedEntry[]> {
    const rows = await this.ctx.run('list revocations', (sql) => sql`SELECT serial, revoked_at, reason FROM ca_revoked ORDER BY revoked_at, serial`);
    return rows.map((r) => ({ serial: r.serial as string, revokedAt: new Date(num(r.revoked_at)), reason: r.reason as RevocationReason }));
  }

  async nextCrlNumber(): Promise<number> {
    const [r] = await this.ctx.run(
      'next CRL number',
      (sql) => sql`INSERT INTO ca_meta (name, value) VALUES ('crl_number', 1)
        ON CONFLICT (name) DO UPDATE SET value = ca_meta.value + 1 RETURNING value`,
    );
    return num(r?.value);
  }

  /** The pool belongs to the set of stores; CarrierStores.close() ends it. */
  async stop(): Promise<void> {}
}
