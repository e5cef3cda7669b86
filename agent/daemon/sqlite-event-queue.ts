import type Database from 'better-sqlite3';
import { KioskError } from '../../base/errors.js';
import { openSqlite } from '../../base/sqlite.js';
import { resolveMaxEvents, rowsToDrop, type EventQueue, type QueuedEvent } from './event-queue.js';

const SCHEMA = `CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY AUTOINCREMENT, payload TEXT NOT NULL, keep INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)`;

/**
 * The event queue in SQLite (`<stateDir>/events.db`), WAL with synchronous=FULL like the outbox: an
 * append that returned survives SIGKILL and power loss. AUTOINCREMENT keeps ids rising after the
 * queue has emptied, so the order holds across restarts. The drop count lives in the same file and
 * is updated in the append's transaction.
 */
export class SqliteEventQueue implements EventQueue {
  private db?: Database.Database;
  private readonly max: number;

  constructor(private readonly options: { path: string; maxEvents?: number }) {
    this.max = resolveMaxEvents(options.maxEvents);
  }

  async start(): Promise<void> {
    try {
      this.db = openSqlite(this.options.path, { createDir: true, durable: true, schema: SCHEMA });
    } catch (err) {
      throw this.storageError('cannot open the event queue', err);
    }
  }

  async stop(): Promise<void> {
    this.db?.close();
    this.db = undefined;
  }

  append(payload: string, options: { keep?: boolean } = {}): { id: number; dropped: number } {
    const db = this.open();
    return this.run('cannot store the event', () =>
      db
        .transaction(() => {
          const id = Number(db.prepare('INSERT INTO events (payload, keep) VALUES (?, ?)').run(payload, options.keep ? 1 : 0).lastInsertRowid);
          if (this.count(db) <= this.max) return { id, dropped: 0 };
          const rows = (db.prepare('SELECT id, keep FROM events').all() as Array<{ id: number; keep: number }>).map((r) => ({ id: r.id, keep: r.keep === 1 }));
          const drop = rowsToDrop(rows, this.max);
          const del = db.prepare('DELETE FROM events WHERE id = ?');
          for (const d of drop) del.run(d);
          this.addDropped(db, drop.length);
          return { id, dropped: drop.length };
        })
        .immediate(),
    );
  }

  peek(limit: number): QueuedEvent[] {
    const db = this.open();
    return this.run('cannot read the events', () => db.prepare('SELECT id, payload FROM events ORDER BY id LIMIT ?').all(limit) as QueuedEvent[]);
  }

  remove(id: number): void {
    const db = this.open();
    this.run('cannot delete the event', () => db.prepare('DELETE FROM events WHERE id = ?').run(id));
  }

  discard(id: number): void {
    const db = this.open();
    this.run('cannot discard the event', () =>
      db
        .transaction(() => {
          if (db.prepare('DELETE FROM events WHERE id = ?').run(id).changes > 0) this.addDropped(db, 1);
        })
        .immediate(),
    );
  }

  get size(): number {
    const db = this.open();
    return this.run('cannot count the events', () => this.count(db));
  }

  get dropped(): number {
    const db = this.open();
    return this.run(
      'cannot read the drop count',
      () => (db.prepare("SELECT value FROM counters WHERE name = 'dropped'").get() as { value: number } | undefined)?.value ?? 0,
    );
  }

  private count(db: Database.Database): number {
    return (db.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n;
  }

  private addDropped(db: Database.Database, n: number): void {
    db.prepare("INSERT INTO counters (name, value) VALUES ('dropped', ?) ON CONFLICT(name) DO UPDATE SET value = value + excluded.value").run(n);
  }

  private open(): Database.Database {
    if (!this.db) throw new KioskError('E_STORAGE', 'event queue not started', { subject: this.options.path });
    return this.db;
  }

  private run<T>(what: string, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw this.storageError(what, err);
    }
  }

  private storageError(what: string, err: unknown): KioskError {
    if (err instanceof KioskError) return err;
    return new KioskError('E_STORAGE', `${what}: ${(err as Error).message}`, {
      subject: this.options.path,
      cause: err,
      details: { sqlite: (err as { code?: string }).code },
    });
  }
}
