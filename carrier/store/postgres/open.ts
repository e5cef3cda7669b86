/** The carrier's stores in one PostgreSQL database (many hosts): one pool, migrations first. */
import { POSTGRES_MIGRATIONS } from '../migrations/postgres.js';
import type { CarrierStores } from '../types.js';
import { migratePostgres } from './migrate.js';
import { PgNonceStore } from './nonces.js';
import { PgContext, type PoolOptions, createPool } from './pool.js';
import { PgRegistryStore } from './registry.js';
import { PgRevocationStore } from './revocations.js';
import { PgRolloutStore } from './rollouts.js';

/**
 * Connects to `url` (postgres://user:password@host:port/db?sslmode=verify-full ...), migrates the schema
 * under the migration lock, and returns the four stores over one pool. Fails with E_STORAGE (details.reason
 * auth_failed, unavailable, schema_too_new ...) and closes the pool when the database cannot be used.
 */
export async function openPostgresStores(url: string, options: PoolOptions = {}): Promise<CarrierStores> {
  const sql = createPool(url, options);
  try {
    await migratePostgres(new PgContext(sql, 'carrier schema', url), POSTGRES_MIGRATIONS);
  } catch (err) {
    await sql.end({ timeout: 1 }).catch(() => undefined);
    throw err;
  }
  const nonces = new PgNonceStore(new PgContext(sql, 'nonce store', url));
  const ctx = new PgContext(sql, 'carrier schema', url);
  return {
    nonces,
    registry: new PgRegistryStore(new PgContext(sql, 'enrolment registry', url)),
    revocations: new PgRevocationStore(new PgContext(sql, 'CA record', url)),
    rollouts: new PgRolloutStore(new PgContext(sql, 'rollout state', url)),
    describe: ctx.subject,
    async close() {
      await sql.end({ timeout: 5 });
    },
  };
}
