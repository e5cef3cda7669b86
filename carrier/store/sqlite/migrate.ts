/** Versioned schema migrations of one SQLite file, tracked in its `user_version`. */
import type Database from 'better-sqlite3';
import { type StoreName, schemaTooNew, storageError } from '../errors.js';

/** One schema version: applied once, in order, in the same transaction as the version bump. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/**
 * Brings `db` to the last version of `migrations`. BEGIN IMMEDIATE takes the write lock first, so that
 * two processes opening the same file at once apply each version once (the second waits on the busy
 * timeout, then finds nothing to do). A file newer than the code is refused (E_STORAGE schema_too_new).
 */
export function migrateSqlite(db: Database.Database, store: StoreName, subject: string, migrations: readonly Migration[]): void {
  const latest = migrations.at(-1)?.version ?? 0;
  const current = () => db.pragma('user_version', { simple: true }) as number;
  // Fast path without the write lock: most opens find the file current.
  if (current() === latest) return;
  try {
    db.transaction(() => {
      const found = current();
      if (found > latest) throw schemaTooNew(store, subject, found, latest);
      for (const m of migrations) {
        if (m.version <= found) continue;
        db.exec(m.sql);
        db.pragma(`user_version = ${Math.trunc(m.version)}`);
      }
    }).immediate();
  } catch (err) {
    throw storageError(store, 'migrate', subject, err);
  }
}
