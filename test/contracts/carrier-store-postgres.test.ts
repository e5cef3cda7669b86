/**
 * The carrier store contract on a real PostgreSQL (Debian's postgresql, a throwaway cluster started
 * here), plus what only a shared server has: two pools racing on the same replayed nonces, hosts
 * migrating at once, a wrong password, a database newer than the code, the server vanishing mid-run.
 */
import t, { type Test } from 'tap';
import postgres from 'postgres';
import { openCarrierStores } from '../../carrier/store/open.js';
import type { CarrierStores } from '../../carrier/store/types.js';
import { hasPostgres, noPostgresReason, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { ownTempDir } from '../helpers/tempdir.js';
import { waitFor } from '../helpers/wait.js';
import { at, carrierStoreContract } from './carrier-store.contract.js';

if (!hasPostgres) {
  t.comment(`skipped: ${noPostgresReason}`);
  t.pass('skipped');
} else {
  let pg: TestPostgres;
  t.before(async () => {
    pg = await startPostgres(ownTempDir(t, 'carrier-pg-'));
  });
  t.teardown(() => pg?.stop());
  /**
   * An empty database for the next case: the schema dropped and made again (cases run one at a time).
   * Cheaper than a database per case: each CREATE DATABASE copies the template through the WAL, and
   * with fsync on (the point of these tests) the shutdown checkpoint then took seconds per database.
   */
  const freshUrl = async () => {
    const sql = postgres(pg.url, { max: 1, onnotice: false });
    await sql`DROP SCHEMA public CASCADE`;
    await sql`CREATE SCHEMA public`;
    await sql.end();
    return pg.url;
  };
  const openOn = async (t: Test, url: string): Promise<CarrierStores> => {
    const stores = await openCarrierStores({ kind: 'postgres', url });
    t.teardown(() => stores.close());
    return stores;
  };

  carrierStoreContract('postgres', async (t) => openOn(t, await freshUrl()));

  t.test('postgres: two pools (two hosts) racing on the same 1000 replayed nonces accept each exactly once', async (t) => {
    const url = await freshUrl();
    const [a, b] = [await openOn(t, url), await openOn(t, url)];
    const now = new Date();
    const list = await a.nonces.issueMany(Array(1000).fill('kiosk-001'), now);
    const started = Date.now();
    const [ra, rb] = await Promise.all([
      Promise.all(list.map((n) => a.nonces.consume(n, 'kiosk-001', 'jti-host-a', at(now, 1)))),
      Promise.all(list.map((n) => b.nonces.consume(n, 'kiosk-001', 'jti-host-b', at(now, 1)))),
    ]);
    const accepted = list.map((_, i) => Number(ra[i] === 'ok') + Number(rb[i] === 'ok'));
    t.equal(accepted.filter((c) => c === 1).length, 1000, 'every nonce accepted exactly once');
    t.equal(accepted.filter((c) => c > 1).length, 0, 'duplicates accepted: 0');
    t.equal([...ra, ...rb].filter((c) => c === 'replay').length, 1000, 'the other host saw a replay');
    t.ok(ra.includes('ok') && rb.includes('ok'), 'both hosts won some races (they did race)');
    t.comment(`2000 consumes over two pools in ${Date.now() - started} ms`);
  });

  t.test('postgres: hosts starting at once migrate once; opening again is idempotent', async (t) => {
    const url = await freshUrl();
    const all = await Promise.all(Array.from({ length: 6 }, () => openCarrierStores({ kind: 'postgres', url })));
    t.teardown(() => Promise.all(all.map((s) => s.close())));
    const again = await openOn(t, url);
    await again.nonces.issue('kiosk-001', new Date());
    const sql = postgres(url, { max: 1, onnotice: false });
    t.teardown(() => sql.end());
    const rows = await sql`SELECT version, name FROM schema_migrations ORDER BY version`;
    t.same(
      rows.map((r) => [r.version, r.name]),
      [[1, 'carrier stores']],
      'one row per version',
    );
  });

  t.test('postgres: a database newer than the code is refused with a coded error', async (t) => {
    const url = await freshUrl();
    await (await openCarrierStores({ kind: 'postgres', url })).close();
    const sql = postgres(url, { max: 1, onnotice: false });
    t.teardown(() => sql.end());
    await sql`INSERT INTO schema_migrations (version, name) VALUES (99, 'from the future')`;
    await t.rejects(openCarrierStores({ kind: 'postgres', url }), {
      code: 'E_STORAGE',
      details: { store: 'carrier schema', reason: 'schema_too_new', found: 99, supported: 1 },
    });
  });

  t.test('postgres: a wrong password is refused (E_STORAGE auth_failed), and the error does not carry a password', async (t) => {
    const err = await openCarrierStores({ kind: 'postgres', url: pg.urlWithPassword('not-the-password') }).then(
      () => undefined,
      (e: unknown) => e as { code?: string; message: string; subject?: string; details?: Record<string, unknown> },
    );
    t.match(err, { code: 'E_STORAGE', details: { reason: 'auth_failed' } });
    t.notMatch(JSON.stringify({ m: err?.message, s: err?.subject, d: err?.details }), /not-the-password/, 'no password in the error');
    t.notMatch(err?.subject ?? '', new URL(pg.url).password, 'no real password in the subject');
  });

  // Last: it stops the shared server (the cases above run before it, one at a time).
  t.test(
    'postgres: the server vanishing mid-run gives E_STORAGE naming the store, leaves nothing half-written, and the pool works after a restart',
    async (t) => {
      const url = await freshUrl();
      const s = await openOn(t, url);
      const kiosks = Array.from({ length: 1000 }, (_, i) => `kiosk-${String(i).padStart(4, '0')}`);
      const rules = { canary: { count: 1 }, wave: { count: 10 }, abortFailureRate: 0.5, minFinished: 1, kioskTimeoutMs: 1000 };
      const release = { token: 'a.b.c', sha256: 'e'.repeat(64), kind: 'agent' as const, version: 2 };
      const begun: string[] = [];
      const failures: unknown[] = [];
      // Three writers, each a loop of one-transaction writes of 1001 rows, until the server goes away under them.
      const writer = async (w: number) => {
        for (let i = 0; ; i++) {
          try {
            await s.rollouts.begin(`r-${w}-${i}`, release, kiosks, rules, i);
            begun.push(`r-${w}-${i}`);
          } catch (err) {
            failures.push(err);
            return;
          }
        }
      };
      const writers = [0, 1, 2].map(writer);
      await waitFor('some rollouts written', () => begun.length >= 6, 30_000);
      await pg.halt();
      await Promise.all(writers);
      t.equal(failures.length, 3, 'every writer got an error');
      for (const err of failures)
        t.match(err, { code: 'E_STORAGE', message: /^rollout state: begin failed/, details: { store: 'rollout state', op: 'begin' } });
      await t.rejects(s.nonces.issue('kiosk-001', new Date()), { code: 'E_STORAGE', details: { store: 'nonce store', reason: 'unavailable' } });
      await t.rejects(s.registry.claim('kiosk-001', new Uint8Array(65)), {
        code: 'E_STORAGE',
        details: { store: 'enrolment registry', reason: 'unavailable' },
      });
      await t.rejects(s.revocations.isRevoked('ab'), { code: 'E_STORAGE', details: { store: 'CA record' } });
      await pg.start();
      const now = new Date();
      const n = await s.nonces.issue('kiosk-001', now);
      t.equal(await s.nonces.consume(n, 'kiosk-001', 'j', at(now, 1)), 'ok', 'the same pool works again after the restart');
      const sql = postgres(url, { max: 1, onnotice: false });
      t.teardown(() => sql.end());
      const counts = await sql`SELECT r.id, COUNT(k.kiosk)::int AS n FROM rollouts r LEFT JOIN rollout_kiosks k ON k.rollout = r.id GROUP BY r.id`;
      t.ok(counts.length >= begun.length, `${counts.length} rollouts stored (${begun.length} confirmed before the stop)`);
      t.same(
        counts.filter((r) => r.n !== kiosks.length),
        [],
        'every stored rollout has all its kiosks: an interrupted transaction left nothing',
      );
      const stored = new Set(counts.map((r) => r.id as string));
      t.ok(
        begun.every((id) => stored.has(id)),
        'every confirmed write survived (fsync on)',
      );
    },
  );
}
