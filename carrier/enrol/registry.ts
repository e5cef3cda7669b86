/**
 * The carrier's enrolment registry (SQLite, WAL; ':memory:' in tests): which device ids may enrol
 * (an allow-list, or a one-time token stored as its SHA-256), which key each enrolled device holds,
 * every certificate serial issued to it, when it last renewed, and revocations. Shared by
 * enrolment-service instances on one host; every decision that changes state is one immediate
 * transaction, so two instances cannot both spend a token or both renew one device.
 */
import type Database from 'better-sqlite3';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { KioskError } from '../../base/errors.js';
import { openSqlite } from '../../base/sqlite.js';
import { REGISTRY_MIGRATIONS } from '../store/migrations/sqlite.js';
import { migrateSqlite } from '../store/sqlite/migrate.js';

/** What an enrolment attempt found. */
export type EnrolCheck = 'ok' | 'not_allowed' | 'bad_token' | 'already_enrolled' | 'revoked';
/** What a renewal attempt found. */
export type RenewCheck = 'ok' | 'revoked' | 'rate_limited' | 'not_current_key';

/** What a renewal is checked against besides the device id and the key to certify. */
export interface RenewContext {
  /** SPKI of the key that proved possession (the current certificate's); refused unless it is the recorded key. */
  currentSpki?: Uint8Array;
  /** Time of the renewal (default now). */
  now?: Date;
  /** Refuse a renewal less than this long after the device's last one, ms (default 0: no limit). */
  minIntervalMs?: number;
}

/** One enrolled device. */
export interface DeviceRecord {
  deviceId: string;
  /** hex SHA-256 of the SubjectPublicKeyInfo of its current key. */
  keySha256: string;
  serial?: string;
  notAfter?: number;
  revoked: boolean;
}

const sha256 = (b: Uint8Array | string): Buffer => createHash('sha256').update(b).digest();

/**
 * The registry in one SQLite file (one host); carrier/store/postgres/ has the one for many hosts. It is a
 * RegistryStore (carrier/store/types.ts; checked where the SQLite stores are opened, not imported here:
 * that would be an import cycle).
 */
export class EnrolmentRegistry {
  private db?: Database.Database;

  /** `path`: SQLite file (or ':memory:'). */
  constructor(private readonly path: string) {}

  private open(): Database.Database {
    if (this.db) return this.db;
    try {
      const db = openSqlite(this.path, { schema: '' });
      migrateSqlite(db, 'enrolment registry', this.path, REGISTRY_MIGRATIONS);
      this.db = db;
      return db;
    } catch (err) {
      if (err instanceof KioskError) throw err;
      throw new KioskError('E_STORAGE', `cannot open enrolment registry: ${(err as Error).message}`, { subject: this.path, cause: err });
    }
  }

  /** Lets these device ids enrol with the claim certificate alone (no token). */
  async allow(deviceIds: string[]): Promise<void> {
    const ins = this.open().prepare('INSERT OR IGNORE INTO allowed (device) VALUES (?)');
    this.open().transaction(() => {
      for (const d of deviceIds) ins.run(d);
    })();
  }

  /** A fresh one-time enrolment token for `deviceId` (only its hash is kept); replaces an unused one. */
  async issueToken(deviceId: string): Promise<string> {
    const token = randomBytes(24).toString('base64url');
    this.open().prepare('INSERT OR REPLACE INTO tokens (device, hash, used) VALUES (?, ?, 0)').run(deviceId, sha256(token));
    return token;
  }

  /**
   * Decides an enrolment of `deviceId` with key `spki` and records the key when allowed. A device
   * already enrolled with the same key may ask again (its reply was lost); with another key it is
   * refused. A device with a token must present it (once); otherwise it must be on the allow-list.
   */
  async claim(deviceId: string, spki: Uint8Array, token?: string): Promise<EnrolCheck> {
    const db = this.open();
    const keySha = sha256(spki).toString('hex');
    return db
      .transaction((): EnrolCheck => {
        const dev = db.prepare('SELECT key_sha256, revoked FROM devices WHERE device = ?').get(deviceId) as { key_sha256: string; revoked: number } | undefined;
        if (dev?.revoked) return 'revoked';
        if (dev) return dev.key_sha256 === keySha ? 'ok' : 'already_enrolled';
        const tok = db.prepare('SELECT hash, used FROM tokens WHERE device = ?').get(deviceId) as { hash: Buffer; used: number } | undefined;
        if (tok) {
          if (token === undefined || tok.used || !timingSafeEqual(tok.hash, sha256(token))) return 'bad_token';
          db.prepare('UPDATE tokens SET used = 1 WHERE device = ?').run(deviceId);
        } else if (!db.prepare('SELECT 1 FROM allowed WHERE device = ?').get(deviceId)) {
          return 'not_allowed';
        }
        db.prepare('INSERT INTO devices (device, key_sha256) VALUES (?, ?)').run(deviceId, keySha);
        return 'ok';
      })
      .immediate();
  }

  /**
   * Decides a renewal by an authenticated device and records its (possibly new) key and the time:
   * refused when the device is revoked, when the key that proved possession is not the one recorded
   * for it, or when it renewed less than `minIntervalMs` ago.
   */
  async renew(deviceId: string, spki: Uint8Array, ctx: RenewContext = {}): Promise<RenewCheck> {
    const db = this.open();
    const keySha = sha256(spki).toString('hex');
    const now = (ctx.now ?? new Date()).getTime();
    return db
      .transaction((): RenewCheck => {
        const dev = db.prepare('SELECT key_sha256, revoked FROM devices WHERE device = ?').get(deviceId) as { key_sha256: string; revoked: number } | undefined;
        if (dev?.revoked) return 'revoked';
        if (dev && ctx.currentSpki && dev.key_sha256 !== sha256(ctx.currentSpki).toString('hex')) return 'not_current_key';
        const last = db.prepare('SELECT at FROM renewals WHERE device = ?').get(deviceId) as { at: number } | undefined;
        if (last && ctx.minIntervalMs && now - last.at < ctx.minIntervalMs) return 'rate_limited';
        // Devices enrolled offline (carrier sign-csr) are not in the registry yet: the broker authenticated them.
        db.prepare('INSERT INTO devices (device, key_sha256) VALUES (?, ?) ON CONFLICT(device) DO UPDATE SET key_sha256 = excluded.key_sha256').run(
          deviceId,
          keySha,
        );
        db.prepare('INSERT INTO renewals (device, at) VALUES (?, ?) ON CONFLICT(device) DO UPDATE SET at = excluded.at').run(deviceId, now);
        return 'ok';
      })
      .immediate();
  }

  /** Records the certificate issued to `deviceId` (its latest, and in its history). */
  async issued(deviceId: string, serial: string, notAfter: Date): Promise<void> {
    const db = this.open();
    db.transaction(() => {
      db.prepare('UPDATE devices SET serial = ?, not_after = ? WHERE device = ?').run(serial, notAfter.getTime(), deviceId);
      db.prepare('INSERT OR IGNORE INTO certificates (serial, device, not_after) VALUES (?, ?, ?)').run(serial, deviceId, notAfter.getTime());
    })();
  }

  /** Serials of every certificate issued to `deviceId` through the registry, oldest first. */
  async serials(deviceId: string): Promise<string[]> {
    const rows = this.open().prepare('SELECT serial FROM certificates WHERE device = ? ORDER BY rowid').all(deviceId) as { serial: string }[];
    return rows.map((r) => r.serial);
  }

  /** Refuses every later enrolment or renewal of `deviceId` (the broker policy must drop it too). */
  async revoke(deviceId: string): Promise<void> {
    this.open().prepare("INSERT INTO devices (device, key_sha256, revoked) VALUES (?, '', 1) ON CONFLICT(device) DO UPDATE SET revoked = 1").run(deviceId);
  }

  /** The record of `deviceId`, if any. */
  async device(deviceId: string): Promise<DeviceRecord | undefined> {
    const r = this.open().prepare('SELECT device, key_sha256, serial, not_after, revoked FROM devices WHERE device = ?').get(deviceId) as
      | { device: string; key_sha256: string; serial: string | null; not_after: number | null; revoked: number }
      | undefined;
    return r && { deviceId: r.device, keySha256: r.key_sha256, serial: r.serial ?? undefined, notAfter: r.not_after ?? undefined, revoked: r.revoked === 1 };
  }

  async stop(): Promise<void> {
    this.db?.close();
    this.db = undefined;
  }
}
