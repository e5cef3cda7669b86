import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { MemoryNonceStore } from '../../carrier/nonce-store.js';
import { ResultVerifier, type VerifyOutcome } from '../../carrier/verifier.js';
import { VerifierService } from '../../carrier/verifier-service.js';
import { TestBroker, tlsOf } from '../helpers/mosquitto.js';
import { TestPki } from '../helpers/pki.js';
import { ownTempDir } from '../helpers/tempdir.js';
import { waitFor } from '../helpers/wait.js';

const N = 150; // results
const K = 4; // SIGKILLs of the publisher

t.test(`chaos: ${N} results, publisher SIGKILLed ${K} times, broker restarted: every result exactly once after dedupe`, async (t) => {
  // First, before the broker and the publishers: removed by the last teardown (see helpers/tempdir.ts).
  const dir = ownTempDir(t, 'chaos-delivery-');
  const pki = await TestPki.create(join(dir, 'pki'));
  const dev = await pki.issue('kiosk-001');
  const v = [await pki.issue('carrier-verifier-1', 'service'), await pki.issue('carrier-verifier-2', 'service')];
  const broker = await TestBroker.start(pki, join(dir, 'broker'), { devices: ['kiosk-001'], verifiers: ['carrier-verifier-1', 'carrier-verifier-2'] });
  t.teardown(() => broker.stop());
  const nonces = new MemoryNonceStore();
  const verifier = new ResultVerifier({ ca: pki.ca.certificate, nonces, checkPlan: 'skip', policy: 'skip' });
  const outcomes: VerifyOutcome[] = [];
  for (const [i, id] of v.entries()) {
    const s = new VerifierService({
      options: { url: broker.url, clientId: `verifier-${i + 1}`, ...tlsOf(pki, id) },
      verifier,
      logger: pino({ level: 'silent' }),
    });
    await s.start();
    s.events.on('outcome', (o) => outcomes.push(o));
    t.teardown(() => s.stop());
  }
  const list: string[] = [];
  for (let i = 0; i < N; i++) list.push(await nonces.issue('kiosk-001', new Date()));
  const cfgPath = join(dir, 'device.json');
  writeFileSync(
    cfgPath,
    JSON.stringify({
      url: broker.url,
      deviceId: 'kiosk-001',
      caPath: pki.caPath,
      certPath: dev.certPath,
      keyPath: dev.keyPath,
      stateDir: join(dir, 'state'),
      nonces: list,
      intervalMs: 40,
    }),
  );

  const children = new Set<ChildProcess>();
  // Killed and waited for: a publisher still running would write its outbox into `dir` during its removal.
  t.teardown(() =>
    Promise.all(
      [...children].map(
        (c) =>
          new Promise((resolve) => {
            c.once('exit', resolve);
            c.kill('SIGKILL');
          }),
      ),
    ),
  );
  const run = () => {
    const c = spawn(process.execPath, ['--import', 'tsx', 'sim/device-main.ts', cfgPath], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.add(c);
    let out = '';
    c.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }>((resolve) =>
      c.once('exit', (code, signal) => {
        children.delete(c);
        resolve({ code, signal, out });
      }),
    );
    return { child: c, exited };
  };

  let kills = 0;
  for (let k = 0; k < K; k++) {
    const { child, exited } = run();
    // Kill at a random moment once the device has had time to start producing.
    const timer = setTimeout(() => child.kill('SIGKILL'), 900 + randomInt(1000));
    if (k === Math.floor(K / 2)) setTimeout(() => void broker.restart(), 1500);
    const r = await exited;
    clearTimeout(timer);
    if (r.signal === 'SIGKILL') kills++;
    else t.comment(`run ${k} finished before its kill (${r.out.trim()})`);
  }
  const last = run();
  const final = await last.exited;
  t.equal(final.code, 0, 'the last run finishes and drains the outbox');

  const accepted = () => new Set(outcomes.filter((o) => o.status === 'accepted').map((o) => o.jti));
  // A timeout is not thrown: the counts below name what is missing.
  await waitFor('every result accepted', () => accepted().size >= N, { timeoutMs: 20_000, intervalMs: 100 }).catch(() => undefined);
  const unique = accepted();
  const acceptedCount = outcomes.filter((o) => o.status === 'accepted').length;
  const duplicates = outcomes.filter((o) => o.status === 'duplicate').length;
  const rejected = outcomes.filter((o) => o.status === 'rejected');
  const lost = N - unique.size;
  t.comment(
    `chaos: results=${N} kills=${kills} brokerRestarts=1 delivered=${outcomes.length} lost=${lost} duplicates=${duplicates} rejected=${rejected.length}`,
  );
  t.ok(kills >= 1, `the publisher was SIGKILLed ${kills} times`);
  t.equal(lost, 0, 'no result lost');
  t.equal(acceptedCount, unique.size, 'each result accepted once; redeliveries are reported as duplicates');
  t.same(rejected, [], 'nothing rejected');
  for (let i = 0; i < N; i++) if (!unique.has(`kiosk-001-${i}`)) t.fail(`missing kiosk-001-${i}`);
});
