/**
 * The one place that opens the carrier's stores: SQLite files in a directory (one host, the embedded
 * default) or one PostgreSQL database (many hosts). Pending schema migrations run first, under a lock,
 * so that several processes or hosts starting at once do not race.
 */
import { KioskError } from '../../base/errors.js';
import type { CarrierStores, StoreSpec } from './types.js';

export type { CarrierStores, StoreSpec } from './types.js';

/** The environment variable the carrier commands read when `--store` is not given. */
export const STORE_ENV = 'KIOSK_CARRIER_STORE';

/**
 * The store spec from a `--store` value (or $KIOSK_CARRIER_STORE): `postgres://` or `postgresql://` URL
 * for PostgreSQL, anything else is refused; neither given means SQLite files in `dir`.
 */
export function storeSpecOf(store: string | undefined, dir: string, env: NodeJS.ProcessEnv = process.env): StoreSpec {
  const value = store ?? env[STORE_ENV];
  if (value === undefined || value === '' || value === 'sqlite') return { kind: 'sqlite', dir };
  if (/^postgres(ql)?:\/\//.test(value)) return { kind: 'postgres', url: value };
  throw new KioskError('E_USAGE', 'a carrier store is `sqlite` or a postgres:// URL', { subject: store !== undefined ? '--store' : STORE_ENV });
}

/** The stores a carrier command uses: `--store` (or $KIOSK_CARRIER_STORE), else SQLite files in `dir`. */
export function openStoresOption(dir: string, store?: string): Promise<CarrierStores> {
  return openCarrierStores(storeSpecOf(store, dir));
}

/** Opens the carrier's stores on one backend, running pending migrations first (under a lock). */
export async function openCarrierStores(spec: StoreSpec): Promise<CarrierStores> {
  if (spec.kind === 'sqlite') {
    const { openSqliteStores } = await import('./sqlite/open.js');
    return openSqliteStores(spec.dir);
  }
  const { openPostgresStores } = await import('./postgres/open.js');
  return openPostgresStores(spec.url);
}
