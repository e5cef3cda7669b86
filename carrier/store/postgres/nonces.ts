/**
 * Session nonces in PostgreSQL, shared by verifier processes on any number of hosts.
 *
 * Exactly once: consumption is ONE conditional statement, `UPDATE ... SET jti WHERE jti IS NULL AND
 * <still valid> RETURNING`, under READ COMMITTED. When two hosts consume the same nonce at once, the
 * second UPDATE waits for the first's row lock and, once that commits, re-checks its WHERE against
 * the committed row (jti is no longer NULL), so it updates nothing: one accept, whatever the timing.
 * We chose this over SERIALIZABLE with retries because it needs no retry loop and never fails under
 * contention; the decision between duplicate, replay, expired ... is then read from the committed row.
 */
import { randomBytes } from 'node:crypto';
import { KioskError } from '../../../base/errors.js';
import { type ConsumeAt, DEFAULT_NONCE_TTL_MS, type NonceCheck, type NonceRow, decide } from '../../nonce-store.js';
import type { NonceStoreApi } from '../types.js';
import { type PgContext, num, optNum } from './pool.js';

/** Session nonces in one PostgreSQL database. */
export class PgNonceStore implements NonceStoreApi {
  constructor(private readonly ctx: PgContext) {}

  async issue(deviceId: string, now: Date, ttlMs = DEFAULT_NONCE_TTL_MS): Promise<string> {
    const nonce = randomBytes(32).toString('hex');
    await this.ctx.run(
      'issue',
      (sql) => sql`INSERT INTO nonces (nonce, device, issued, expires) VALUES (${nonce}, ${deviceId}, ${now.getTime()}, ${now.getTime() + ttlMs})`,
    );
    return nonce;
  }

  /** Issues one nonce per entry of `deviceIds` in one statement (one transaction). */
  async issueMany(deviceIds: string[], now: Date, ttlMs = DEFAULT_NONCE_TTL_MS): Promise<string[]> {
    const nonces = deviceIds.map(() => randomBytes(32).toString('hex'));
    if (!nonces.length) return nonces;
    await this.ctx.run(
      'issue',
      (sql) => sql`INSERT INTO nonces (nonce, device, issued, expires)
        SELECT n, d, ${now.getTime()}::bigint, ${now.getTime() + ttlMs}::bigint FROM unnest(${nonces}::text[], ${deviceIds}::text[]) AS u(n, d)`,
    );
    return nonces;
  }

  async consume(nonce: string, deviceId: string, jti: string, at: ConsumeAt): Promise<NonceCheck> {
    return this.ctx.run('consume', async (sql) => {
      const taken = await sql`UPDATE nonces SET jti = ${jti}
        WHERE nonce = ${nonce} AND device = ${deviceId} AND jti IS NULL AND expires >= ${at.now.getTime()}::bigint
          AND (issued IS NULL OR issued - ${Math.round(at.skewMs)}::bigint <= ${at.iat.getTime()}::bigint)
        RETURNING nonce`;
      if (taken.length === 1) return 'ok';
      // Not taken: say why, from the committed row (the same decision the other stores make).
      const [r] = await sql`SELECT device, issued, expires, jti FROM nonces WHERE nonce = ${nonce}`;
      const row: NonceRow | undefined = r && { device: r.device, issued: optNum(r.issued) ?? null, expires: num(r.expires), jti: r.jti };
      const check = decide(row, deviceId, jti, at);
      // The UPDATE's condition and decide() must agree; if they ever do not, refuse rather than accept twice.
      if (check === 'ok') throw new KioskError('E_INTERNAL', 'nonce store: consume condition and decision disagree', { subject: 'nonce store' });
      return check;
    });
  }

  /** The pool belongs to the set of stores; CarrierStores.close() ends it. */
  async stop(): Promise<void> {}
}
