/**
 * Two verifier hosts (separate processes, each with its own connection or pool) given the same 1000
 * replayed tokens at the same moment accept each exactly once: on SQLite (two processes, one file)
 * and on PostgreSQL (two processes, one server).
 */
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { openCarrierStores } from '../../carrier/store/open.js';
import type { StoreSpec } from '../../carrier/store/types.js';
import { hasPostgres, noPostgresReason, startPostgres } from '../helpers/postgres.js';
import { ownTempDir } from '../helpers/tempdir.js';

const CHILD = join(import.meta.dirname, '..', 'helpers', 'carrier-store-race-child.ts');
const N = 1000;

/** Starts a host; resolves once it is ready, with a function that says go and gives its result. */
async function host(spec: StoreSpec, list: string, jti: string): Promise<() => Promise<{ accepted: number[]; other: number }>> {
  const child = spawn(process.execPath, ['--import=tsx', CHILD, JSON.stringify(spec), list, jti], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const first = await lines.next();
  if (first.value !== 'ready') throw new Error(`host ${jti} did not start: ${String(first.value)}`);
  return async () => {
    child.stdin.end('go\n');
    const result = await lines.next();
    return JSON.parse(String(result.value)) as { accepted: number[]; other: number };
  };
}

async function race(t: Test, spec: StoreSpec): Promise<void> {
  const stores = await openCarrierStores(spec);
  const nonces = await stores.nonces.issueMany(Array(N).fill('kiosk-001'), new Date());
  await stores.close();
  const list = join(ownTempDir(t, 'race-list-'), 'nonces.txt');
  writeFileSync(list, nonces.join('\n'));
  const goes = await Promise.all([host(spec, list, 'jti-a'), host(spec, list, 'jti-b')]);
  const started = Date.now();
  const [a, b] = await Promise.all(goes.map((go) => go()));
  const counts = new Array<number>(N).fill(0);
  for (const i of [...a.accepted, ...b.accepted]) counts[i]++;
  t.equal(counts.filter((c) => c === 1).length, N, `all ${N} nonces accepted exactly once`);
  t.equal(counts.filter((c) => c > 1).length, 0, 'duplicates accepted: 0');
  t.equal(a.other + b.other, 0, 'every other answer is a replay');
  t.comment(`${spec.kind}: host a accepted ${a.accepted.length}, host b ${b.accepted.length}, in ${Date.now() - started} ms`);
}

t.test('sqlite: two processes on one file', async (t) => {
  await race(t, { kind: 'sqlite', dir: ownTempDir(t, 'race-sqlite-') });
});

t.test('postgres: two processes on one server', { skip: hasPostgres ? false : noPostgresReason }, async (t) => {
  const pg = await startPostgres(ownTempDir(t, 'race-pg-'));
  t.teardown(() => pg.stop());
  await race(t, { kind: 'postgres', url: pg.url });
});
