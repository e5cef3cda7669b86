/**
 * Rollout benchmark (not a test): N simulated kiosks (default 500, each its own certificate, mutual
 * TLS to a local mosquitto, the kiosk's real command and release verifiers; installation simulated,
 * sim/update-kiosk.ts) and the carrier's rollout runner (carrier/rollout/) shipping one release with
 * a 5% canary, then waves. A group of kiosks chosen by seed (`--fail-group`, percent, default 10)
 * rolls the release back, which should make the rollout abort; `--fail-group 0` shows the time to
 * reach the whole fleet. Prints the counts, the abort (reason, wave), the time to reach the fleet or
 * to abort, and the median time per kiosk from job sent to final state.
 *
 *   npm run bench:rollout -- [--devices 500] [--fail-group 10] [--canary 5%] [--wave 20%]
 *     [--abort-failure-rate 0.05] [--min-finished 10] [--step-ms 20-80]
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { FileKeyStore } from '../base/keys/file-key-store.js';
import { MemoryKeyStore } from '../base/keys/memory-key-store.js';
import { createCsr } from '../base/keys/x509.js';
import { LocalBroker } from '../carrier/broker/local-broker.js';
import { CarrierCa } from '../carrier/ca.js';
import { CommandSigner } from '../carrier/commands/signer.js';
import { checkRules, orderTargets, parseSize } from '../carrier/rollout/plan.js';
import { RolloutService, releaseOf } from '../carrier/rollout/service.js';
import { RolloutStore } from '../carrier/rollout/store.js';
import { summaryLine } from '../carrier/cli/rollout.js';
import { simRelease, simReleaseKey, startSimUpdateKiosk } from '../sim/update-kiosk.js';

const { values } = parseArgs({
  options: {
    devices: { type: 'string', default: '500' },
    'fail-group': { type: 'string', default: '10' },
    canary: { type: 'string', default: '5%' },
    wave: { type: 'string', default: '20%' },
    'abort-failure-rate': { type: 'string', default: '0.05' },
    'min-finished': { type: 'string', default: '10' },
    'step-ms': { type: 'string', default: '20-80' },
  },
});
const devices = Number(values.devices);
const failPercent = Number(values['fail-group']);
const [stepMin, stepMax] = values['step-ms'].split('-').map(Number);

// Each kiosk is one TLS socket in this process and one in mosquitto (which inherits this limit).
const limits = readFileSync('/proc/self/limits', 'utf8').match(/Max open files\s+(\d+)/);
const nofile = limits ? Number(limits[1]) : undefined;
if (nofile !== undefined && nofile < devices + 256) {
  process.stderr.write(`open-file limit ${nofile} is too low for ${devices} devices: raise it (ulimit -n ${devices + 1024})\n`);
  process.exit(2);
}

const logger = pino({ level: 'warn' });
const dir = mkdtempSync(join(tmpdir(), 'kiosk-bench-rollout-'));
chmodSync(dir, 0o755);
const cleanup: (() => Promise<unknown>)[] = [];
try {
  const ids = Array.from({ length: devices }, (_, i) => `kiosk-${String(i + 1).padStart(5, '0')}`);
  const ca = await CarrierCa.init(join(dir, 'ca'), 'Rollout Bench Carrier CA');
  cleanup.push(() => ca.stop());
  const fileIdentity = async (cn: string, profile: 'server' | 'service') => {
    const ks = new FileKeyStore({ path: join(dir, `${cn}.key`) });
    await ks.start();
    const cert = (await ca.signCsr(await createCsr(ks, cn), { profile })).toString('pem');
    await ks.stop();
    return { cert, key: readFileSync(join(dir, `${cn}.key`)) };
  };
  const server = await fileIdentity('localhost', 'server');
  const dispatcher = await fileIdentity('carrier-rollout', 'service');
  const broker = await LocalBroker.start({
    dir: join(dir, 'broker'),
    tls: { ca: ca.pem, cert: server.cert, key: server.key },
    policy: { devices: ids, dispatchers: ['carrier-rollout'] },
  });
  cleanup.push(() => broker.stop());

  const commandKey = await CommandSigner.generate();
  const releaseKey = await simReleaseKey();
  const failing = new Set(failPercent > 0 ? orderTargets(ids, 'bench-fail-group', failPercent) : []);
  let t = Date.now();
  const sims: Awaited<ReturnType<typeof startSimUpdateKiosk>>[] = [];
  cleanup.push(() => Promise.all(sims.map((s) => s.stop())));
  for (let i = 0; i < ids.length; i += 50) {
    const batch = await Promise.all(
      ids.slice(i, i + 50).map(async (id, j) => {
        const ks = new MemoryKeyStore();
        await ks.start();
        const cert = (await ca.issue(ks.publicKeySpki(), id, { profile: 'device', validityDays: 1 })).toString('pem');
        const fails = failing.has(id) ? ((i + j) % 2 ? 'start' : 'self_test') : undefined;
        const sim = await startSimUpdateKiosk({
          url: broker.url,
          deviceId: id,
          ca: ca.pem,
          cert,
          key: ks.privateKeyPem(),
          commandKeys: [commandKey.entry],
          releaseKeys: [{ kid: releaseKey.kid, publicKey: releaseKey.publicKey }],
          fails,
          stepMs: { min: stepMin, max: stepMax },
          logger,
        });
        const deadline = Date.now() + 30_000;
        while (!sim.transport.online && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        return sim;
      }),
    );
    sims.push(...batch);
  }
  const connectMs = Date.now() - t;
  const online = sims.filter((s) => s.transport.online).length;

  const store = new RolloutStore(join(dir, 'rollouts.db'));
  cleanup.push(() => store.stop());
  const service = new RolloutService({
    options: { url: broker.url, ca: ca.pem, cert: dispatcher.cert, key: dispatcher.key, clientId: 'carrier-rollout', settleMs: 2000, tickMs: 100 },
    store,
    signer: commandKey,
    logger,
  });
  await service.start();
  cleanup.push(() => service.stop());
  const tokenPath = join(dir, 'release.jws');
  writeFileSync(tokenPath, await simRelease(releaseKey, 2));
  const rules = checkRules({
    canary: parseSize(values.canary, '--canary'),
    wave: parseSize(values.wave, '--wave'),
    abortFailureRate: Number(values['abort-failure-rate']),
    minFinished: Number(values['min-finished']),
    kioskTimeoutMs: 60_000,
  });
  const targets = orderTargets(ids, 'bench-rollout');
  await store.begin('bench', releaseOf(readFileSync(tokenPath, 'utf8')), targets, rules, Date.now());
  const waves: string[] = [];
  let firstSend: number | undefined;
  let abortAt: number | undefined;
  service.events.on('wave', (w) => {
    firstSend ??= Date.now();
    waves.push(`${w.wave}:${w.kiosks}`);
  });
  service.events.on('abort', () => {
    abortAt = Date.now();
  });
  const summary = await service.run('bench');
  const end = Date.now();
  t = firstSend ?? end;
  const c = summary.counts;
  const lines = [
    `rollout benchmark: ${devices} kiosks (${online} online after ${connectMs} ms), failing group ${failing.size} (${failPercent}%), ${cpus().length} cores, open-file limit ${nofile ?? '?'}`,
    `  rules           canary ${values.canary}, wave ${values.wave}, abort above ${rules.abortFailureRate} after ${rules.minFinished} finished, step ${stepMin}-${stepMax} ms`,
    `  canary size     ${waves[0]?.split(':')[1] ?? 0}`,
    `  waves sent      ${waves.map((w) => w.split(':')[1]).join(' + ')} (wave:jobs ${waves.join(', ')})`,
    `  updated         ${c.committed}`,
    `  rolled back     ${c.rolledBack}`,
    `  failed          ${c.failed}`,
    `  stayed put      ${summary.stayedPut}`,
    `  aborted         ${summary.aborted ? `yes, in wave ${summary.aborted.wave}: ${summary.aborted.reason}` : 'no'}`,
    abortAt !== undefined
      ? `  time to abort   ${((abortAt - t) / 1000).toFixed(2)} s from the first job (end, jobs in flight done: ${((end - t) / 1000).toFixed(2)} s)`
      : `  time to fleet   ${((end - t) / 1000).toFixed(2)} s from the first job to the last final report`,
    `  median per job  ${summary.medianJobMs ?? '?'} ms from job sent to final state`,
    `  summary         ${summaryLine(summary)}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  if (online < devices) process.exitCode = 1;
} finally {
  for (const fn of cleanup.reverse()) await fn().catch((err: Error) => logger.warn({ err: { message: err.message } }, 'cleanup step failed'));
  rmSync(dir, { recursive: true, force: true });
}
