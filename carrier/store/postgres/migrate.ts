/** Versioned schema migrations of the carrier's PostgreSQL database, run at start by every host. */
import { schemaTooNew } from '../errors.js';
import type { Migration } from '../sqlite/migrate.js';
import type { PgContext } from './pool.js';

/** The advisory lock every host takes to migrate ("kiosk" in ASCII): the first applies, the others wait, then find nothing to do. */
const MIGRATION_LOCK = 0x6b696f736b;

/**
 * Brings the database to the last version of `migrations` in one transaction under
 * `pg_advisory_xact_lock`: DDL is transactional in PostgreSQL, so a failure leaves the previous
 * version whole, and two hosts starting at once apply each version once. A database newer than the
 * code is refused (E_STORAGE schema_too_new). Returns the version found before.
 */
export function migratePostgres(ctx: PgContext, migrations: readonly Migration[]): Promise<number> {
  const latest = migrations.at(-1)?.version ?? 0;
  return ctx.run(
    'migrate',
    (sql) =>
      sql.begin(async (tx) => {
        await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK}::bigint)`;
        await tx`CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`;
        const [row] = await tx`SELECT COALESCE(MAX(version), 0)::int AS v FROM schema_migrations`;
        const found = Number(row?.v ?? 0);
        if (found > latest) throw schemaTooNew('carrier schema', ctx.subject, found, latest);
        for (const m of migrations) {
          if (m.version <= found) continue;
          // Constant SQL from this repository (migrations/postgres.ts), never built from input.
          await tx.unsafe(m.sql);
          await tx`INSERT INTO schema_migrations (version, name) VALUES (${m.version}, ${m.name})`;
        }
        return found;
      }) as Promise<number>,
  );
}
