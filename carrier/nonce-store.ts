/**
 * The carrier's record of session nonces: issued for one device, valid for a while, consumed by
 * exactly one result (`jti`). A second token with the same nonce and the same jti is a redelivery
 * (duplicate); with another jti it is a replay.
 */
import type Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { KioskError } from '../base/errors.js';
import { openSqlite } from '../base/sqlite.js';

/** What consuming a nonce found. */
export type NonceCheck = 'ok' | 'duplicate' | 'unknown' | 'expired' | 'replay' | 'wrong_device';

/** Issues and consumes nonces. */
export interface NonceStore {
  /** A fresh nonce (32 random bytes, hex) for `deviceId`, valid for `ttlMs` from `now`. */
  issue(deviceId: string, now: Date, ttlMs?: number): Promise<string>;
  /** Marks `nonce` used by result `jti` of `deviceId` (at time `iat`); idempotent for the same jti. */
  consume(nonce: string, deviceId: string, jti: string, iat: Date): Promise<NonceCheck>;
  stop(): Promise<void>;
}

/** Default nonce lifetime: a session plus a generous outbox delay. */
export const DEFAULT_NONCE_TTL_MS = 24 * 3600_000;

interface NonceRow {
  device: string;
  expires: number;
  jti: string | null;
}

function decide(row: NonceRow | undefined, deviceId: string, jti: string, iat: Date): NonceCheck {
  if (!row) return 'unknown';
  if (row.device !== deviceId) return 'wrong_device';
  if (row.jti !== null) return row.jti === jti ? 'duplicate' : 'replay';
  if (iat.getTime() > row.expires) return 'expired';
  return 'ok';
}

/** In memory: for tests and for verifier instances that share nothing. */
export class MemoryNonceStore implements NonceStore {
  private readonly rows = new Map<string, NonceRow>();

  async issue(deviceId: string, now: Date, ttlMs = DEFAULT_NONCE_TTL_MS): Promise<string> {
    const nonce = randomBytes(32).toString('hex');
    this.rows.set(nonce, { device: deviceId, expires: now.getTime() + ttlMs, jti: null });
    return nonce;
  }

  async consume(nonce: string, deviceId: string, jti: string, iat: Date): Promise<NonceCheck> {
    const row = this.rows.get(nonce);
    const check = decide(row, deviceId, jti, iat);
    if (check === 'ok') row!.jti = jti;
    return check;
  }

  async stop(): Promise<void> {}
}

/** In SQLite (WAL): survives restarts and is shared by verifier processes on one host. */
export class SqliteNonceStore implements NonceStore {
  private db?: Database.Database;

  constructor(private readonly path: string) {}

  private open(): Database.Database {
    if (this.db) return this.db;
    try {
      const db = openSqlite(this.path, {
        schema: 'CREATE TABLE IF NOT EXISTS nonces (nonce TEXT PRIMARY KEY, device TEXT NOT NULL, expires INTEGER NOT NULL, jti TEXT)',
      });
      this.db = db;
      return db;
    } catch (err) {
      throw new KioskError('E_STORAGE', `cannot open nonce database: ${(err as Error).message}`, { subject: this.path, cause: err });
    }
  }

  async issue(deviceId: string, now: Date, ttlMs = DEFAULT_NONCE_TTL_MS): Promise<string> {
    const nonce = randomBytes(32).toString('hex');
    this.open()
      .prepare('INSERT INTO nonces (nonce, device, expires) VALUES (?, ?, ?)')
      .run(nonce, deviceId, now.getTime() + ttlMs);
    return nonce;
  }

  /** Issues one nonce per entry of `deviceIds` in a single transaction (fleet simulations issue thousands). */
  async issueMany(deviceIds: string[], now: Date, ttlMs = DEFAULT_NONCE_TTL_MS): Promise<string[]> {
    const db = this.open();
    const ins = db.prepare('INSERT INTO nonces (nonce, device, expires) VALUES (?, ?, ?)');
    return db.transaction(() =>
      deviceIds.map((d) => {
        const nonce = randomBytes(32).toString('hex');
        ins.run(nonce, d, now.getTime() + ttlMs);
        return nonce;
      }),
    )();
  }

  async consume(nonce: string, deviceId: string, jti: string, iat: Date): Promise<NonceCheck> {
    const db = this.open();
    // One transaction: two verifier processes cannot both see the nonce unused.
    return db
      .transaction(() => {
        const row = db.prepare('SELECT device, expires, jti FROM nonces WHERE nonce = ?').get(nonce) as NonceRow | undefined;
        const check = decide(row, deviceId, jti, iat);
        if (check === 'ok') db.prepare('UPDATE nonces SET jti = ? WHERE nonce = ?').run(jti, nonce);
        return check;
      })
      .immediate();
  }

  async stop(): Promise<void> {
    this.db?.close();
    this.db = undefined;
  }
}
