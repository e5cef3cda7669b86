import type Database from 'better-sqlite3';
import { EventEmitter } from 'node:events';
import { KioskError } from '../../base/errors.js';
import { openSqlite } from '../../base/sqlite.js';
import { checkRoom, resolveLimits, type Outbox, type OutboxEvents, type OutboxLimits, type OutboxMessage, type OutboxStats } from './outbox.js';

interface Row {
  id: number;
  jti: string;
  topic: string;
  payload: Buffer;
  created_at: number;
  attempts: number;
  state: OutboxMessage['state'];
  reason: string | null;
}

const toMessage = (r: Row): OutboxMessage => ({
  id: r.id,
  jti: r.jti,
  topic: r.topic,
  payload: r.payload,
  createdAt: r.created_at,
  attempts: r.attempts,
  state: r.state,
  ...(r.reason ? { reason: r.reason } : {}),
});

/**
 * The outbox in SQLite (better-sqlite3 12) in WAL mode with synchronous=FULL: a committed put
 * survives SIGKILL and power loss. Every statement is synchronous, so a put that returned is on disk.
 */
export class SqliteOutbox implements Outbox {
  readonly events = new EventEmitter<OutboxEvents>();
  private db?: Database.Database;
  private readonly limits: Required<OutboxLimits>;

  constructor(private readonly options: { path: string; limits?: OutboxLimits; clock?: () => number }) {
    this.limits = resolveLimits(options.limits);
  }

  async start(): Promise<void> {
    try {
      const db = openSqlite(this.options.path, {
        createDir: true,
        durable: true,
        schema: `CREATE TABLE IF NOT EXISTS outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT, jti TEXT NOT NULL UNIQUE, topic TEXT NOT NULL, payload BLOB NOT NULL,
        created_at INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, state TEXT NOT NULL DEFAULT 'pending', reason TEXT)`,
      });
      this.db = db;
    } catch (err) {
      throw this.storageError('cannot open the outbox', err);
    }
  }

  async stop(): Promise<void> {
    this.db?.close();
    this.db = undefined;
  }

  async put(m: { jti: string; topic: string; payload: Buffer }): Promise<{ id: number; inserted: boolean }> {
    const db = this.open();
    return this.run(
      'cannot store the message',
      () =>
        db
          .transaction(() => {
            const existing = db.prepare('SELECT id FROM outbox WHERE jti = ?').get(m.jti) as { id: number } | undefined;
            if (existing) return { id: existing.id, inserted: false };
            checkRoom(this.statsSync(), m.payload.length, this.limits, this.events);
            const now = this.options.clock?.() ?? Date.now();
            const id = Number(
              db.prepare('INSERT INTO outbox (jti, topic, payload, created_at) VALUES (?, ?, ?, ?)').run(m.jti, m.topic, m.payload, now).lastInsertRowid,
            );
            return { id, inserted: true };
          })
          .immediate(),
      (r) => r.inserted && this.events.emit('stored', { id: r.id, jti: m.jti }),
    );
  }

  async pending(limit: number): Promise<OutboxMessage[]> {
    return (this.open().prepare("SELECT * FROM outbox WHERE state = 'pending' ORDER BY id LIMIT ?").all(limit) as Row[]).map(toMessage);
  }

  async attempted(id: number): Promise<void> {
    this.run('cannot update the message', () => this.open().prepare('UPDATE outbox SET attempts = attempts + 1 WHERE id = ?').run(id));
  }

  async ack(id: number): Promise<void> {
    this.run('cannot delete the message', () => this.open().prepare('DELETE FROM outbox WHERE id = ?').run(id));
  }

  async park(id: number, reason: string): Promise<void> {
    const row = this.open().prepare('SELECT jti FROM outbox WHERE id = ?').get(id) as { jti: string } | undefined;
    this.run('cannot park the message', () => this.open().prepare("UPDATE outbox SET state = 'parked', reason = ? WHERE id = ?").run(reason, id));
    if (row) this.events.emit('parked', { id, jti: row.jti, reason });
  }

  async expireOld(now: number): Promise<OutboxMessage[]> {
    const db = this.open();
    const cutoff = now - this.limits.maxAgeMs;
    const rows = this.run('cannot expire messages', () =>
      db
        .transaction(() => {
          const old = db.prepare("SELECT * FROM outbox WHERE state = 'pending' AND created_at < ?").all(cutoff) as Row[];
          db.prepare("UPDATE outbox SET state = 'expired', reason = 'age limit' WHERE state = 'pending' AND created_at < ?").run(cutoff);
          return old;
        })
        .immediate(),
    );
    if (rows.length > 0) this.events.emit('expired', { ids: rows.map((r) => r.id), jtis: rows.map((r) => r.jti) });
    return rows.map((r) => toMessage({ ...r, state: 'expired', reason: 'age limit' }));
  }

  async list(state: OutboxMessage['state']): Promise<OutboxMessage[]> {
    return (this.open().prepare('SELECT * FROM outbox WHERE state = ? ORDER BY id').all(state) as Row[]).map(toMessage);
  }

  async stats(): Promise<OutboxStats> {
    return this.statsSync();
  }

  private statsSync(): OutboxStats {
    const rows = this.open().prepare('SELECT state, COUNT(*) AS n, COALESCE(SUM(LENGTH(payload)), 0) AS bytes FROM outbox GROUP BY state').all() as {
      state: string;
      n: number;
      bytes: number;
    }[];
    const get = (s: string) => rows.find((r) => r.state === s);
    return { pending: get('pending')?.n ?? 0, parked: get('parked')?.n ?? 0, expired: get('expired')?.n ?? 0, pendingBytes: get('pending')?.bytes ?? 0 };
  }

  private open(): Database.Database {
    if (!this.db) throw new KioskError('E_STORAGE', 'outbox not started', { subject: this.options.path });
    return this.db;
  }

  private run<T>(what: string, fn: () => T, after?: (r: T) => unknown): T {
    let r: T;
    try {
      r = fn();
    } catch (err) {
      throw this.storageError(what, err);
    }
    after?.(r);
    return r;
  }

  private storageError(what: string, err: unknown): KioskError {
    if (err instanceof KioskError) return err;
    const code = (err as { code?: string }).code;
    return new KioskError('E_STORAGE', `${what}: ${(err as Error).message}`, { subject: this.options.path, cause: err, details: { sqlite: code } });
  }
}
