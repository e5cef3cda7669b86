/**
 * The carrier's stores as SQLite files in one directory (one host, the embedded default): the same
 * files and classes as before the store interfaces (nonces.db, enrolment.db, ca.db, rollouts.db), so an
 * existing carrier directory opens unchanged. Each file migrates itself (user_version) on first use.
 */
import { join } from 'node:path';
import { EnrolmentRegistry } from '../../enrol/registry.js';
import { SqliteNonceStore } from '../../nonce-store.js';
import { CA_RECORDS_FILE, CaRecords } from '../../revocation.js';
import { RolloutStore } from '../../rollout/store.js';
import type { CarrierStores } from '../types.js';

/** File names of the stores in the carrier directory. */
export const SQLITE_FILES = { nonces: 'nonces.db', registry: 'enrolment.db', revocations: CA_RECORDS_FILE, rollouts: 'rollouts.db' } as const;

/** Opens the carrier's SQLite stores in `dir` (created on first write, mode 0700 for the folder). */
export async function openSqliteStores(dir: string): Promise<CarrierStores> {
  const nonces = new SqliteNonceStore(join(dir, SQLITE_FILES.nonces));
  const registry = new EnrolmentRegistry(join(dir, SQLITE_FILES.registry));
  const revocations = new CaRecords(join(dir, SQLITE_FILES.revocations));
  const rollouts = new RolloutStore(join(dir, SQLITE_FILES.rollouts));
  return {
    nonces,
    registry,
    revocations,
    rollouts,
    describe: `sqlite:${dir}`,
    async close() {
      await Promise.all([nonces.stop(), registry.stop(), revocations.stop(), rollouts.stop()]);
    },
  };
}
