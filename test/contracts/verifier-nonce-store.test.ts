import t from 'tap';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { MemoryNonceStore, SqliteNonceStore, type NonceStore } from '../../carrier/nonce-store.js';

/** A result arriving at `now` (ms offset from `base`) with `iat` (ms offset), skew 5 s. */
const at = (base: Date, now: number, iat = now) => ({ now: new Date(base.getTime() + now), iat: new Date(base.getTime() + iat), skewMs: 5000 });

function nonceStoreContract(name: string, open: () => NonceStore): void {
  t.test(`${name}: NonceStore contract`, async (t) => {
    const store = open();
    t.teardown(() => store.stop());
    const now = new Date('2025-01-01T00:00:00Z');
    const n = await store.issue('kiosk-001', now, 60_000);
    t.match(n, /^[0-9a-f]{64}$/);
    t.not(await store.issue('kiosk-001', now), n, 'nonces differ');
    t.equal(await store.consume('00'.repeat(32), 'kiosk-001', 'j1', at(now, 0)), 'unknown');
    t.equal(await store.consume(n, 'kiosk-002', 'j1', at(now, 0)), 'wrong_device');
    t.equal(await store.consume(n, 'kiosk-001', 'j1', at(now, 61_000)), 'expired');
    t.equal(await store.consume(n, 'kiosk-001', 'j1', at(now, 61_000, 1000)), 'expired', 'arrival decides, not an iat inside the ttl');
    t.equal(await store.consume(n, 'kiosk-001', 'j1', at(now, 1000, -6000)), 'iat_before_issue', 'iat before the issue time minus the skew');
    t.equal(await store.consume(n, 'kiosk-001', 'j1', at(now, 1000, -4000)), 'ok', 'iat within the skew before the issue time');
    t.equal(await store.consume(n, 'kiosk-001', 'j1', at(now, 0)), 'duplicate', 'same jti again');
    t.equal(await store.consume(n, 'kiosk-001', 'j2', at(now, 0)), 'replay', 'another jti');
  });
}

nonceStoreContract('memory', () => new MemoryNonceStore());
const dir = t.testdir({});
nonceStoreContract('sqlite', () => new SqliteNonceStore(join(dir, 'nonces.db')));

t.test('sqlite: consumed state survives reopening', async (t) => {
  const path = join(t.testdir({}), 'n.db');
  const a = new SqliteNonceStore(path);
  const n = await a.issue('kiosk-001', new Date());
  t.equal(await a.consume(n, 'kiosk-001', 'j', at(new Date(), 0)), 'ok');
  await a.stop();
  const b = new SqliteNonceStore(path);
  t.teardown(() => b.stop());
  t.equal(await b.consume(n, 'kiosk-001', 'k', at(new Date(), 0)), 'replay');
});

t.test('sqlite: a file without issue times gets the column; its old nonces still expire by arrival', async (t) => {
  const path = join(t.testdir({}), 'old.db');
  const old = new Database(path);
  old.exec('CREATE TABLE nonces (nonce TEXT PRIMARY KEY, device TEXT NOT NULL, expires INTEGER NOT NULL, jti TEXT)');
  const base = new Date('2025-01-01T00:00:00Z');
  old.prepare('INSERT INTO nonces (nonce, device, expires) VALUES (?, ?, ?)').run('ab'.repeat(32), 'kiosk-001', base.getTime() + 60_000);
  old.prepare('INSERT INTO nonces (nonce, device, expires) VALUES (?, ?, ?)').run('cd'.repeat(32), 'kiosk-001', base.getTime() + 60_000);
  old.close();
  const store = new SqliteNonceStore(path);
  t.teardown(() => store.stop());
  t.equal(await store.consume('ab'.repeat(32), 'kiosk-001', 'j', at(base, 61_000, 0)), 'expired');
  t.equal(await store.consume('cd'.repeat(32), 'kiosk-001', 'j', at(base, 1000, -3600_000)), 'ok', 'no issue time: no lower bound on iat');
  const n = await store.issue('kiosk-001', base, 60_000);
  t.equal(await store.consume(n, 'kiosk-001', 'k', at(base, 1000, -3600_000)), 'iat_before_issue', 'new nonces record their issue time');
});
