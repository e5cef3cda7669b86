/**
 * `carrier rollout`'s runner against a real mosquitto (mutual TLS, dynamic security) and 20 simulated
 * kiosks whose updaters check commands and releases with the kiosk's real verifiers (installation is
 * simulated, sim/update-kiosk.ts).
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { CommandSigner } from '../../carrier/commands/signer.js';
import { orderTargets, type RolloutRules } from '../../carrier/rollout/plan.js';
import { RolloutService, releaseOf } from '../../carrier/rollout/service.js';
import { RolloutStore, jobIdFor } from '../../carrier/rollout/store.js';
import { simRelease, simReleaseKey, startSimUpdateKiosk } from '../../sim/update-kiosk.js';
import { TestBroker, tlsOf } from '../helpers/mosquitto.js';
import { TestPki } from '../helpers/pki.js';
import { ownTempDir } from '../helpers/tempdir.js';
import { waitFor } from '../helpers/wait.js';

const logger = pino({ level: process.env.TEST_LOG ?? 'silent' });
const dir = ownTempDir(t, 'rollout-mqtt-');
const pki = await TestPki.create(join(dir, 'pki'));
const ids = Array.from({ length: 20 }, (_, i) => `kiosk-${String(i + 1).padStart(3, '0')}`);
const intruderId = 'kiosk-099';
const identities = await Promise.all(ids.map((id) => pki.issue(id)));
const intruder = await pki.issue(intruderId);
const dispatcher = await pki.issue('carrier-rollout', 'service');
const cliDispatcher = await pki.issue('carrier-rollout-cli', 'service');
const dispatcher2 = await pki.issue('carrier-rollout-2', 'service');
const broker = await TestBroker.start(pki, join(dir, 'broker'), {
  devices: [...ids, intruderId],
  dispatchers: ['carrier-rollout', 'carrier-rollout-cli', 'carrier-rollout-2'],
});
t.teardown(() => broker.stop());

// The command key, also as the CLI reads it: <dir>/command.key next to <dir>/ca.crt.
const carrierDir = join(dir, 'carrier');
mkdirSync(carrierDir);
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
writeFileSync(join(carrierDir, 'command.key'), privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
copyFileSync(pki.caPath, join(carrierDir, 'ca.crt'));
const commandKey = await CommandSigner.fromKey(privateKey);
const releaseKey = await simReleaseKey();
const sims = await Promise.all(
  identities.map((idn) =>
    startSimUpdateKiosk({
      url: broker.url,
      deviceId: idn.cn,
      ...tlsOf(pki, idn),
      commandKeys: [commandKey.entry],
      releaseKeys: [{ kid: releaseKey.kid, publicKey: releaseKey.publicKey }],
      stepMs: { min: 5, max: 20 },
      logger,
    }),
  ),
);
t.teardown(() => Promise.all(sims.map((s) => s.stop())));
await waitFor('every simulated kiosk online', () => sims.every((s) => s.transport.online), 30_000);

const store = new RolloutStore(join(dir, 'rollout.db'));
t.teardown(() => store.stop());
const service = new RolloutService({
  options: { url: broker.url, ...tlsOf(pki, dispatcher), clientId: 'carrier-rollout', settleMs: 500, tickMs: 100 },
  store,
  signer: commandKey,
  logger,
});
await service.start();
t.teardown(() => service.stop());

const rules: RolloutRules = { canary: { percent: 5 }, wave: { percent: 50 }, abortFailureRate: 0.2, minFinished: 1, kioskTimeoutMs: 30_000 };

t.test('a good release reaches every kiosk: canary, then waves', async (t) => {
  const release = releaseOf(await simRelease(releaseKey, 2));
  const targets = orderTargets(ids, 'good');
  await store.begin('good', release, targets, rules, Date.now());
  const waves: number[] = [];
  service.events.on('wave', (w) => waves.push(w.kiosks));
  const summary = await service.run('good');
  service.events.removeAllListeners('wave');
  t.same(waves, [1, 10, 9], 'canary of 1 (5% of 20), then 50% waves');
  t.equal(summary.counts.committed, 20);
  t.equal(summary.counts.rolledBack + summary.counts.failed, 0);
  t.equal(summary.stayedPut, 0);
  t.notOk(summary.aborted);
  // A kiosk marks its job finished at the PUBACK of its report, which may come after the carrier read it.
  t.ok(await waitFor('every kiosk committed', () => sims.every((s, i) => s.kiosk.finished.get(jobIdFor('good', ids[i])) === 'committed'), 5000));
});

t.test('a failing canary aborts the rollout and no kiosk outside the canary gets a job', async (t) => {
  for (const s of sims) s.kiosk.fails = 'self_test';
  t.teardown(() => {
    for (const s of sims) s.kiosk.fails = undefined;
  });
  const release = releaseOf(await simRelease(releaseKey, 3));
  const targets = orderTargets(ids, 'bad');
  await store.begin('bad', release, targets, { ...rules, canary: { count: 3 }, minFinished: 2, abortFailureRate: 0.5 }, Date.now());
  const summary = await service.run('bad');
  t.equal(summary.aborted?.wave, 0, 'aborted in the canary');
  t.match(summary.aborted?.reason ?? '', /failure rate 1\.000/);
  t.equal(summary.counts.rolledBack, 3, 'the three canary kiosks rolled back');
  t.equal(summary.stayedPut, 17);
  const canary = new Set(targets.slice(0, 3));
  const withJob = ids.filter((id, i) => sims[i].kiosk.jobs.has(jobIdFor('bad', id)));
  t.same(withJob.sort(), [...canary].sort(), 'only the canary kiosks received the job');
});

t.test('a forged update event is refused by the broker or ignored by the rollout, and moves nothing', async (t) => {
  const victim = sims[1];
  const victimId = ids[1];
  victim.kiosk.stepMs = { min: 300, max: 300 };
  t.teardown(() => {
    victim.kiosk.stepMs = { min: 5, max: 20 };
  });
  const release = releaseOf(await simRelease(releaseKey, 4));
  await store.begin('forged', release, [victimId], rules, Date.now());
  const run = service.run('forged');
  const jobId = jobIdFor('forged', victimId);
  await waitFor('the victim in the middle of its job', async () => (await store.kiosks('forged')).get(victimId)?.state === 'downloading', 10_000);
  const c = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: intruderId, reconnectPeriod: 0, ...tlsOf(pki, intruder) });
  t.teardown(() => c.endAsync());
  const forged = JSON.stringify({
    type: 'update',
    eventId: 'x',
    at: new Date().toISOString(),
    jobId,
    kind: 'agent',
    version: 4,
    state: 'failed',
    reason: 'internal',
  });
  const onVictimTopic = await c.publishAsync(`kiosk/v1/${victimId}/events`, forged, { qos: 1 }).then(
    () => 'allowed',
    (e: { code?: number }) => e.code,
  );
  t.equal(onVictimTopic, 0x87, "the broker refuses an event on another kiosk's topic (PUBACK 0x87)");
  await c.publishAsync(`kiosk/v1/${intruderId}/events`, forged, { qos: 1 });
  await new Promise((r) => setTimeout(r, 200));
  t.not((await store.kiosks('forged')).get(victimId)?.state, 'failed', "the same event on the intruder's own topic is ignored (not its job)");
  const summary = await run;
  t.equal(summary.counts.committed, 1, 'the victim committed: the forged failure moved nothing');
  t.equal(summary.counts.failed, 0);
  t.notOk(summary.aborted);
});

t.test('a target with no online status (never connected) is not sent a job and stays put', async (t) => {
  await store.begin('offline', releaseOf(await simRelease(releaseKey, 8)), [ids[5], 'kiosk-777'], { ...rules, canary: { count: 2 } }, Date.now());
  const summary = await service.run('offline');
  t.equal(summary.counts.committed, 1);
  t.equal(summary.stayedPut, 1);
  t.same((await store.kiosks('offline')).get('kiosk-777'), { state: 'pending' });
  t.notOk(summary.aborted);
});

t.test('a runner stopped mid-rollout and started again gets the reports sent while it was away, and sends nothing twice', async (t) => {
  const targets = ids.slice(10, 15);
  await store.begin('resume', releaseOf(await simRelease(releaseKey, 7)), targets, { ...rules, canary: { count: 5 } }, Date.now());
  const options = { url: broker.url, ...tlsOf(pki, dispatcher2), clientId: 'carrier-rollout-2', settleMs: 300, tickMs: 100 };
  for (const i of [10, 11, 12, 13, 14]) sims[i].kiosk.stepMs = { min: 100, max: 150 };
  t.teardown(() => {
    for (const s of sims) s.kiosk.stepMs = { min: 5, max: 20 };
  });
  const first = new RolloutService({ options, store, signer: commandKey, logger });
  await first.start();
  const stop = new AbortController();
  const run = first.run('resume', stop.signal);
  await waitFor(
    'the jobs sent',
    async () => {
      const k = await store.kiosks('resume');
      return targets.every((id) => k.get(id)?.state !== 'pending');
    },
    10_000,
  );
  stop.abort();
  await t.rejects(run, { code: 'E_ABORTED' });
  await first.stop();
  const before = await store.kiosks('resume');
  await waitFor('the kiosks finished while the runner was away', () => targets.every((k, i) => sims[10 + i].kiosk.finished.get(jobIdFor('resume', k))), 10_000);
  t.ok(
    targets.some((k) => before.get(k)?.state !== 'committed'),
    'the runner stopped before every kiosk had committed',
  );
  const second = new RolloutService({ options, store, signer: commandKey, logger });
  await second.start();
  t.teardown(() => second.stop());
  const summary = await second.run('resume');
  t.equal(summary.counts.committed, 5, 'the reports queued by the broker for the runner arrived');
  t.equal(summary.counts.failed, 0);
  t.same(
    targets.map((k, i) => sims[10 + i].kiosk.received.filter((j) => j === jobIdFor('resume', k)).length),
    [1, 1, 1, 1, 1],
    'each kiosk received its job once',
  );
});

/** Runs `carrier rollout` with `args`; its exit code and output. */
async function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'carrier/cli/main.ts', 'rollout', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b));
  child.stderr.on('data', (b: Buffer) => (stderr += b));
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  return { code, stdout, stderr };
}

t.test('carrier rollout: progress lines, the summary, exit 0 when done, 1 when aborted; a re-run resumes and sends nothing again', async (t) => {
  const common = [
    '--dir',
    carrierDir,
    '--broker',
    broker.url,
    '--cert',
    cliDispatcher.certPath,
    '--key',
    cliDispatcher.keyPath,
    '--client-id',
    'carrier-rollout-cli',
  ];
  const targets = join(dir, 'targets.txt');
  writeFileSync(targets, `# five of them\n${ids.slice(0, 5).join('\n')}\n`);
  const good = join(dir, 'release-5.jws');
  writeFileSync(good, await simRelease(releaseKey, 5));
  const args = [...common, '--release', good, '--targets', targets, '--canary', '1', '--wave', '50%', '--min-finished', '1'];
  const run1 = await cli(args);
  t.equal(run1.code, 0, run1.stderr);
  t.match(run1.stdout, /wave 0 \(canary\): sent 1 jobs/);
  t.match(run1.stdout, /wave 1: sent 3 jobs/);
  t.match(run1.stdout, /updated 5, rolled back 0, failed 0, stayed put 0, aborted no\n$/);
  const jobsBefore = sims.map((s) => s.kiosk.received.length);
  const run2 = await cli(args);
  t.equal(run2.code, 0, run2.stderr);
  t.notMatch(run2.stdout, /sent \d+ jobs/, 'the resumed rollout sends no job');
  t.match(run2.stdout, /updated 5, rolled back 0, failed 0, stayed put 0, aborted no/);
  t.same(
    sims.map((s) => s.kiosk.received.length),
    jobsBefore,
    'no kiosk received anything again',
  );

  for (const s of sims) s.kiosk.fails = 'start';
  t.teardown(() => {
    for (const s of sims) s.kiosk.fails = undefined;
  });
  const bad = join(dir, 'release-6.jws');
  writeFileSync(bad, await simRelease(releaseKey, 6));
  const run3 = await cli([...common, '--release', bad, '--targets', targets, '--canary', '1', '--min-finished', '1', '--abort-failure-rate', '0.5']);
  t.equal(run3.code, 1, 'aborted: exit 1');
  t.match(run3.stdout, /abort in wave 0: failure rate 1\.000/);
  t.match(run3.stdout, /updated 0, rolled back 1, failed 0, stayed put 4, aborted yes \(wave 0: /);
  const none = await cli([...common, '--release', bad]);
  t.equal(none.code, 2, 'neither --targets nor --group: a usage error');
  t.match(none.stderr, /E_USAGE/);
});
