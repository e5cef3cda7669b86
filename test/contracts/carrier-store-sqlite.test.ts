/** The carrier store contract on SQLite (one host), plus what is particular to its files: versions and reopening. */
import t from 'tap';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { openCarrierStores } from '../../carrier/store/open.js';
import { SQLITE_FILES } from '../../carrier/store/sqlite/open.js';
import { ownTempDir } from '../helpers/tempdir.js';
import { at, carrierStoreContract } from './carrier-store.contract.js';

carrierStoreContract('sqlite', async (t) => {
  const stores = await openCarrierStores({ kind: 'sqlite', dir: ownTempDir(t, 'carrier-store-') });
  t.teardown(() => stores.close());
  return stores;
});

t.test('sqlite: state survives closing and reopening; each file carries its schema version', async (t) => {
  const dir = ownTempDir(t, 'carrier-store-');
  const a = await openCarrierStores({ kind: 'sqlite', dir });
  const now = new Date();
  const n = await a.nonces.issue('kiosk-001', now);
  t.equal(await a.nonces.consume(n, 'kiosk-001', 'j', at(now, 0)), 'ok');
  await a.registry.allow(['kiosk-001']);
  await a.revocations.revoke('ab', 'superseded', now);
  await a.rollouts.begin(
    'r',
    { token: 't', sha256: 's', kind: 'agent', version: 1 },
    ['kiosk-001'],
    { canary: { count: 1 }, wave: { count: 1 }, abortFailureRate: 1, minFinished: 1, kioskTimeoutMs: 1 },
    0,
  );
  await a.close();
  for (const file of Object.values(SQLITE_FILES)) {
    const db = new Database(join(dir, file), { readonly: true });
    t.equal(db.pragma('user_version', { simple: true }), 1, `${file} is at version 1`);
    db.close();
  }
  const b = await openCarrierStores({ kind: 'sqlite', dir });
  t.teardown(() => b.close());
  t.equal(await b.nonces.consume(n, 'kiosk-001', 'k', at(now, 0)), 'replay');
  t.equal(await b.revocations.isRevoked('ab'), true);
  t.equal((await b.rollouts.get('r'))?.targets.length, 1);
});

t.test('sqlite: a file from before versioning is adopted; a file newer than the code is refused', async (t) => {
  const dir = ownTempDir(t, 'carrier-store-');
  const old = new Database(join(dir, SQLITE_FILES.revocations));
  old.exec('CREATE TABLE revoked (serial TEXT PRIMARY KEY, revoked_at INTEGER NOT NULL, reason TEXT NOT NULL)');
  old.prepare('INSERT INTO revoked VALUES (?, ?, ?)').run('ab', 1, 'superseded');
  old.close();
  const newer = new Database(join(dir, SQLITE_FILES.nonces));
  newer.pragma('user_version = 7');
  newer.close();
  const stores = await openCarrierStores({ kind: 'sqlite', dir });
  t.teardown(() => stores.close());
  t.equal(await stores.revocations.reasonOf('ab'), 'superseded', 'the old rows are kept');
  t.equal(await stores.revocations.nextCrlNumber(), 1, 'the tables it lacked are created');
  await t.rejects(stores.nonces.issue('kiosk-001', new Date()), {
    code: 'E_STORAGE',
    details: { store: 'nonce store', reason: 'schema_too_new', found: 7, supported: 1 },
  });
});

t.test('sqlite: two processes opening one new file at once migrate it once', async (t) => {
  const dir = ownTempDir(t, 'carrier-store-');
  const { spawn } = await import('node:child_process');
  const code = `import { openCarrierStores } from ${JSON.stringify(join(process.cwd(), 'carrier/store/open.ts'))};
const s = await openCarrierStores({ kind: 'sqlite', dir: process.argv[1] });
await s.nonces.issue('kiosk-001', new Date()); await s.close();`;
  const run = () =>
    new Promise<number | null>((done) => {
      const c = spawn(process.execPath, ['--import=tsx', '--input-type=module', '-e', code, dir], { stdio: 'inherit' });
      c.on('close', done);
    });
  t.same(await Promise.all([run(), run(), run()]), [0, 0, 0]);
  const db = new Database(join(dir, SQLITE_FILES.nonces), { readonly: true });
  t.equal((db.prepare('SELECT COUNT(*) AS n FROM nonces').get() as { n: number }).n, 3, 'each process wrote');
  t.equal(db.pragma('user_version', { simple: true }), 1);
  db.close();
});
