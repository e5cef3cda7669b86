/**
 * The carrier's record of session nonces: issued for one device at a recorded time, valid for a
 * while from then, consumed by exactly one result (`jti`). A second token with the same nonce and
 * the same jti is a redelivery (duplicate); with another jti it is a replay. A nonce's age is
 * measured from its issue time to the result's arrival on the verifier's clock, never from the
 * token's own `iat` (which the device chooses).
 */
import type Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { KioskError } from '../base/errors.js';
import { openSqlite } from '../base/sqlite.js';
import { NONCE_MIGRATIONS } from './store/migrations/sqlite.js';
import { migrateSqlite } from './store/sqlite/migrate.js';

/** What consuming a nonce found; `iat_before_issue`: the token claims to be older than its nonce. */
export type NonceCheck = 'ok' | 'duplicate' | 'unknown' | 'expired' | 'replay' | 'wrong_device' | 'iat_before_issue';

/** When a result is consumed: the verifier's clock at its arrival, the token's `iat`, the allowed clock skew. */
export interface ConsumeAt {
  now: Date;
  iat: Date;
  /** How far `iat` may lie before the issue time (the device's clock may be behind), in ms. */
  skewMs: number;
}

/** Issues and consumes nonces (carrier/store/ has the PostgreSQL one for many hosts). */
export interface NonceStore {
  /** A fresh nonce (32 random bytes, hex) for `deviceId`, issued at `now` and valid for `ttlMs` from then. */
  issue(deviceId: string, now: Date, ttlMs?: number): Promise<string>;
  /**
   * Marks `nonce` used by result `jti` of `deviceId`; idempotent for the same jti. `expired` when
   * `at.now` is past the issue time plus the ttl; `iat_before_issue` when `at.iat` is more than
   * `at.skewMs` before the issue time.
   */
  consume(nonce: string, deviceId: string, jti: string, at: ConsumeAt): Promise<NonceCheck>;
  stop(): Promise<void>;
}

/** Default nonce lifetime: a session plus a generous outbox delay. */
export const DEFAULT_NONCE_TTL_MS = 24 * 3600_000;

/** A nonce as stored (both backends map their rows to it). */
export interface NonceRow {
  device: string;
  /** Issue time (ms); null for a row written before issue times were recorded. */
  issued: number | null;
  /** Issue time plus ttl (ms). */
  expires: number;
  jti: string | null;
}

/** The decision on consuming a nonce stored as `row` (undefined: never issued); every store applies the same. */
export function decide(row: NonceRow | undefined, deviceId: string, jti: string, at: ConsumeAt): NonceCheck {
  if (!row) return 'unknown';
  if (row.device !== deviceId) return 'wrong_device';
  if (row.jti !== null) return row.jti === jti ? 'duplicate' : 'replay';
  if (at.now.getTime() > row.expires) return 'expired';
  if (row.issued !== null && at.iat.getTime() < row.issued - at.skewMs) return 'iat_before_issue';
  return 'ok';
}

/** In memory: for tests and for verifier instances that share nothing. */
export class MemoryNonceStore implements NonceStore {
  private readonly rows = new Map<string, NonceRow>();

  async issue(deviceId: string, now: Date, ttlMs = DEFAULT_NONCE_TTL_MS): Promise<string> {
    const nonce = randomBytes(32).toString('hex');
    this.rows.set(nonce, { device: deviceId, issued: now.getTime(), expires: now.getTime() + ttlMs, jti: null });
    return nonce;
  }

  async consume(nonce: string, deviceId: string, jti: string, at: ConsumeAt): Promise<NonceCheck> {
    const row = this.rows.get(nonce);
    const check = decide(row, deviceId, jti, at);
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
      const db = openSqlite(this.path, { schema: '' });
      migrateSqlite(db, 'nonce store', this.path, NONCE_MIGRATIONS);
      // A file from before issue times were recorded: its rows keep issued NULL (no lower bound on iat).
      const columns = db.prepare('PRAGMA table_info(nonces)').all() as { name: string }[];
      if (!columns.some((c) => c.name === 'issued')) {
        try {
          db.exec('ALTER TABLE nonces ADD COLUMN issued INTEGER');
        } catch (err) {
          // Another verifier process on the same file added it first.
          if (!/duplicate column/i.test((err as Error).message)) throw err;
        }
      }
      this.db = db;
      return db;
    } catch (err) {
      if (err instanceof KioskError) throw err;
      throw new KioskError('E_STORAGE', `cannot open nonce database: ${(err as Error).message}`, { subject: this.path, cause: err });
    }
  }

  async issue(deviceId: string, now: Date, ttlMs = DEFAULT_NONCE_TTL_MS): Promise<string> {
    const nonce = randomBytes(32).toString('hex');
    this.open()
      .prepare('INSERT INTO nonces (nonce, device, issued, expires) VALUES (?, ?, ?, ?)')
      .run(nonce, deviceId, now.getTime(), now.getTime() + ttlMs);
    return nonce;
  }

  /** Issues one nonce per entry of `deviceIds` in a single transaction (fleet simulations issue thousands). */
  async issueMany(deviceIds: string[], now: Date, ttlMs = DEFAULT_NONCE_TTL_MS): Promise<string[]> {
    const db = this.open();
    const ins = db.prepare('INSERT INTO nonces (nonce, device, issued, expires) VALUES (?, ?, ?, ?)');
    return db.transaction(() =>
      deviceIds.map((d) => {
        const nonce = randomBytes(32).toString('hex');
        ins.run(nonce, d, now.getTime(), now.getTime() + ttlMs);
        return nonce;
      }),
    )();
  }

  async consume(nonce: string, deviceId: string, jti: string, at: ConsumeAt): Promise<NonceCheck> {
    const db = this.open();
    // One transaction: two verifier processes cannot both see the nonce unused.
    return db
      .transaction(() => {
        const row = db.prepare('SELECT device, issued, expires, jti FROM nonces WHERE nonce = ?').get(nonce) as NonceRow | undefined;
        const check = decide(row, deviceId, jti, at);
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
