/**
 * The enrolment registry in PostgreSQL, shared by enrolment services on any number of hosts. Each
 * decision (claim, renew, token, revoke, issued) is one READ COMMITTED transaction holding the
 * device's advisory lock (PgContext.locked): it reads and writes only that device's rows, so running
 * the decisions of one device one at a time gives the SQLite registry's behaviour (immediate
 * transactions) without serialization failures; two hosts cannot both spend a token or both renew.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { DeviceRecord, EnrolCheck, RenewCheck, RenewContext } from '../../enrol/registry.js';
import type { RegistryStore } from '../types.js';
import { LOCK_NS, type PgContext, optNum } from './pool.js';

const sha256 = (b: Uint8Array | string): Buffer => createHash('sha256').update(b).digest();

/** The enrolment registry in one PostgreSQL database. */
export class PgRegistryStore implements RegistryStore {
  constructor(private readonly ctx: PgContext) {}

  async allow(deviceIds: string[]): Promise<void> {
    if (!deviceIds.length) return;
    await this.ctx.run('allow', (sql) => sql`INSERT INTO enrol_allowed (device) SELECT unnest(${deviceIds}::text[]) ON CONFLICT DO NOTHING`);
  }

  async issueToken(deviceId: string): Promise<string> {
    const token = randomBytes(24).toString('base64url');
    await this.ctx.locked(
      'issue token',
      LOCK_NS.device,
      deviceId,
      (tx) => tx`INSERT INTO enrol_tokens (device, hash, used) VALUES (${deviceId}, ${sha256(token)}, false)
        ON CONFLICT (device) DO UPDATE SET hash = excluded.hash, used = false`,
    );
    return token;
  }

  async claim(deviceId: string, spki: Uint8Array, token?: string): Promise<EnrolCheck> {
    const keySha = sha256(spki).toString('hex');
    return this.ctx.locked('claim', LOCK_NS.device, deviceId, async (tx): Promise<EnrolCheck> => {
      const [dev] = await tx`SELECT key_sha256, revoked FROM enrol_devices WHERE device = ${deviceId}`;
      if (dev?.revoked) return 'revoked';
      if (dev) return dev.key_sha256 === keySha ? 'ok' : 'already_enrolled';
      const [tok] = await tx`SELECT hash, used FROM enrol_tokens WHERE device = ${deviceId}`;
      if (tok) {
        const hash = Buffer.from(tok.hash as Uint8Array);
        if (token === undefined || tok.used || hash.length !== 32 || !timingSafeEqual(hash, sha256(token))) return 'bad_token';
        await tx`UPDATE enrol_tokens SET used = true WHERE device = ${deviceId}`;
      } else if (!(await tx`SELECT 1 FROM enrol_allowed WHERE device = ${deviceId}`).length) {
        return 'not_allowed';
      }
      await tx`INSERT INTO enrol_devices (device, key_sha256) VALUES (${deviceId}, ${keySha})`;
      return 'ok';
    });
  }

  async renew(deviceId: string, spki: Uint8Array, ctx: RenewContext = {}): Promise<RenewCheck> {
    const keySha = sha256(spki).toString('hex');
    const now = (ctx.now ?? new Date()).getTime();
    return this.ctx.locked('renew', LOCK_NS.device, deviceId, async (tx): Promise<RenewCheck> => {
      const [dev] = await tx`SELECT key_sha256, revoked FROM enrol_devices WHERE device = ${deviceId}`;
      if (dev?.revoked) return 'revoked';
      if (dev && ctx.currentSpki && dev.key_sha256 !== sha256(ctx.currentSpki).toString('hex')) return 'not_current_key';
      const [last] = await tx`SELECT at FROM enrol_renewals WHERE device = ${deviceId}`;
      if (last && ctx.minIntervalMs && now - Number(last.at) < ctx.minIntervalMs) return 'rate_limited';
      // Devices enrolled offline (carrier sign-csr) are not in the registry yet: the broker authenticated them.
      await tx`INSERT INTO enrol_devices (device, key_sha256) VALUES (${deviceId}, ${keySha})
        ON CONFLICT (device) DO UPDATE SET key_sha256 = excluded.key_sha256`;
      await tx`INSERT INTO enrol_renewals (device, at) VALUES (${deviceId}, ${now}) ON CONFLICT (device) DO UPDATE SET at = excluded.at`;
      return 'ok';
    });
  }

  async issued(deviceId: string, serial: string, notAfter: Date): Promise<void> {
    await this.ctx.locked('record certificate', LOCK_NS.device, deviceId, async (tx) => {
      await tx`UPDATE enrol_devices SET serial = ${serial}, not_after = ${notAfter.getTime()} WHERE device = ${deviceId}`;
      await tx`INSERT INTO enrol_certificates (serial, device, not_after) VALUES (${serial}, ${deviceId}, ${notAfter.getTime()}) ON CONFLICT DO NOTHING`;
    });
  }

  async serials(deviceId: string): Promise<string[]> {
    const rows = await this.ctx.run('serials', (sql) => sql`SELECT serial FROM enrol_certificates WHERE device = ${deviceId} ORDER BY seq`);
    return rows.map((r) => r.serial as string);
  }

  async revoke(deviceId: string): Promise<void> {
    await this.ctx.locked(
      'revoke',
      LOCK_NS.device,
      deviceId,
      (tx) => tx`INSERT INTO enrol_devices (device, key_sha256, revoked) VALUES (${deviceId}, '', true) ON CONFLICT (device) DO UPDATE SET revoked = true`,
    );
  }

  async device(deviceId: string): Promise<DeviceRecord | undefined> {
    const [r] = await this.ctx.run(
      'read device',
      (sql) => sql`SELECT device, key_sha256, serial, not_after, revoked FROM enrol_devices WHERE device = ${deviceId}`,
    );
    return (
      r && {
        deviceId: r.device as string,
        keySha256: r.key_sha256 as string,
        serial: (r.serial as string | null) ?? undefined,
        notAfter: optNum(r.not_after),
        revoked: r.revoked === true,
      }
    );
  }

  /** The pool belongs to the set of stores; CarrierStores.close() ends it. */
  async stop(): Promise<void> {}
}
