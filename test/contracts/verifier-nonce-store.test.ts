import t from 'tap';
import { join } from 'node:path';
import { MemoryNonceStore, SqliteNonceStore, type NonceStore } from '../../carrier/nonce-store.js';

function nonceStoreContract(name: string, open: () => NonceStore): void {
  t.test(`${name}: NonceStore contract`, async (t) => {
    const store = open();
    t.teardown(() => store.stop());
    const now = new Date('2025-01-01T00:00:00Z');
    const n = await store.issue('kiosk-001', now, 60_000);
    t.match(n, /^[0-9a-f]{64}$/);
    t.not(await store.issue('kiosk-001', now), n, 'nonces differ');
    t.equal(await store.consume('00'.repeat(32), 'kiosk-001', 'j1', now), 'unknown');
    t.equal(await store.consume(n, 'kiosk-002', 'j1', now), 'wrong_device');
    t.equal(await store.consume(n, 'kiosk-001', 'j1', new Date(now.getTime() + 61_000)), 'expired');
    t.equal(await store.consume(n, 'kiosk-001', 'j1', now), 'ok');
    t.equal(await store.consume(n, 'kiosk-001', 'j1', now), 'duplicate', 'same jti again');
    t.equal(await store.consume(n, 'kiosk-001', 'j2', now), 'replay', 'another jti');
  });
}

nonceStoreContract('memory', () => new MemoryNonceStore());
const dir = t.testdir({});
nonceStoreContract('sqlite', () => new SqliteNonceStore(join(dir, 'nonces.db')));

t.test('sqlite: consumed state survives reopening', async (t) => {
  const path = join(t.testdir({}), 'n.db');
  const a = new SqliteNonceStore(path);
  const n = await a.issue('kiosk-001', new Date());
  t.equal(await a.consume(n, 'kiosk-001', 'j', new Date()), 'ok');
  await a.stop();
  const b = new SqliteNonceStore(path);
  t.teardown(() => b.stop());
  t.equal(await b.consume(n, 'kiosk-001', 'k', new Date()), 'replay');
});
