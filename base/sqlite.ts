import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export interface OpenSqliteOptions {
  /** Statements run at every open (CREATE TABLE IF NOT EXISTS …). */
  schema: string;
  /** synchronous=FULL: a committed transaction survives power loss, at one fsync per commit. */
  durable?: boolean;
  /** How long a writer waits for another process's lock before failing. */
  busyTimeoutMs?: number;
  /** Create the parent folder (mode 0700) first. */
  createDir?: boolean;
}

/**
 * Opens one of the agent's SQLite files (outbox, results ledger, nonce store, enrolment registry) the
 * same way: WAL journal, a busy timeout so that several processes can share it, the schema applied.
 * Throws what SQLite throws; callers wrap it in their own E_STORAGE error naming the file.
 */
export function openSqlite(path: string, options: OpenSqliteOptions): Database.Database {
  if (options.createDir && path !== ':memory:') mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    if (options.durable) db.pragma('synchronous = FULL');
    db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 5000}`);
    db.exec(options.schema);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}
