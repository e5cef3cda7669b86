/**
 * A fleet simulation on one machine: a test carrier CA issues N device certificates (keys in
 * memory), a local mosquitto is started with a policy for all of them, V verifier processes join the
 * shared subscription, and N simulated kiosks (the real transport, outbox relay and signer) each
 * publish M signed results over mutual TLS. The report says how many connected, how many results
 * were verified (per second, median over the run), what was lost or duplicated, and CPU time of the
 * simulator, the verifiers and mosquitto. Used by `npm run simulate -- fleet` and bench/fleet.ts.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../base/log.js';
import { MemoryOutbox } from '../agent/outbox/memory-outbox.js';
import { OutboxRelay } from '../agent/outbox/relay.js';
import { MqttTransport } from '../agent/transport/mqtt-transport.js';
import { ResultSigner } from '../provisioning/result-signer.js';
import { agentVersion } from '../base/paths.js';
import { findModel, modelDigest, readManifest } from '../models/manifest.js';
import { variantId } from '../models/variants.js';
import { DEFAULT_ENGINE_OPTIONS } from '../models/face-engine.js';
import type { Measurement } from '../protocol/eat.js';
import { buildPolicy, modelMeasurements } from '../carrier/verifier-policy.js';
import { LocalBroker, processCpuSeconds } from '../carrier/broker/local-broker.js';
import { CarrierCa } from '../carrier/ca.js';
import { FileKeyStore } from '../base/keys/file-key-store.js';
import { MemoryKeyStore } from '../base/keys/memory-key-store.js';
import { SqliteNonceStore } from '../carrier/nonce-store.js';
import { createCsr } from '../base/keys/x509.js';
import type { SimVerifierConfig, SimVerifierMessage } from './verifier-main.js';
import { FleetAttacker, type AttackReport } from './attacker.js';

export interface FleetOptions {
  /** Number of simulated kiosks. */
  devices: number;
  /** Signed results each kiosk publishes. */
  results: number;
  /** Verifier processes on the shared subscription (default 2). */
  verifiers?: number;
  /** Working directory (CA, broker, nonces); its parents must be traversable by the mosquitto user. */
  dir: string;
  /** TLS connections opened at once (default 50). */
  connectConcurrency?: number;
  /** Give up when no result was verified for this long (default 30000 ms). */
  stallMs?: number;
  logger: Logger;
  /** Told as the work proceeds (e.g. for a progress line): certificates issued, kiosks connected or given up on, results verified. */
  onProgress?: (step: FleetStep, done: number, total: number) => void;
  /** Also run one attacker with a stolen kiosk certificate during the run (sim/attacker.ts). */
  attacker?: boolean;
}

export type FleetStep = 'certificates' | 'connect' | 'verify';

export interface FleetReport {
  devices: number;
  connected: number;
  results: number;
  verified: number;
  lost: number;
  duplicates: number;
  rejected: number;
  rejectReasons: string[];
  verifiers: number;
  /** Accepted per verifier instance (the shared subscription's spread). */
  perVerifier: number[];
  setupMs: { pki: number; broker: number; connect: number };
  runMs: number;
  verifiedPerSecond: { median: number; mean: number; samples: number[] };
  cpuSeconds: { simulator: number; verifiers: number[]; mosquitto?: number };
  /** Times a fleet kiosk lost its broker connection during the run (should be 0). */
  kioskDrops: number;
  /** The attacker's attempts and how many the broker let through (with `attacker`). */
  attacks?: AttackReport;
}

const here = dirname(fileURLToPath(import.meta.url));
/** The attacker's stolen kiosk certificate names this kiosk (a real one of the fleet's policy). */
const ATTACKER = 'kiosk-stolen';

/** What a kiosk with the default engine reports in `measurements` (agent/daemon/current-signer.ts): the agent, then its models. */
async function kioskMeasurements(): Promise<Measurement[]> {
  const manifest = await readManifest();
  const { models, variant } = DEFAULT_ENGINE_OPTIONS;
  const ids = [models.detect, models.landmarks, ...(models.eyeState ? [models.eyeState] : []), ...models.pad, models.embed];
  return [{ id: 'kiosk-agent', version: agentVersion() }, ...ids.map((id) => modelDigest(findModel(manifest, variantId(manifest, id, variant))))];
}

/** Runs the whole simulation and tears everything down (broker, verifier processes, connections). */
export async function runFleet(o: FleetOptions): Promise<FleetReport> {
  const nVerifiers = o.verifiers ?? 2;
  const ids = Array.from({ length: o.devices }, (_, i) => `kiosk-${String(i + 1).padStart(5, '0')}`);
  const cleanup: (() => Promise<void>)[] = [];
  try {
    // PKI: carrier CA on disk (mode 0600 key), service and broker identities as files, device keys in memory.
    let t = Date.now();
    const ca = await CarrierCa.init(join(o.dir, 'ca'), 'Fleet Test Carrier CA');
    cleanup.push(() => ca.stop());
    const fileIdentity = async (cn: string, profile: 'server' | 'service') => {
      const keyPath = join(o.dir, 'ids', `${cn}.key`);
      const ks = new FileKeyStore({ path: keyPath });
      await ks.start();
      const cert = await ca.signCsr(await createCsr(ks, cn), { profile });
      const certPath = join(o.dir, 'ids', `${cn}.crt`);
      writeFileSync(certPath, cert.toString('pem'));
      await ks.stop();
      return { keyPath, certPath, cert };
    };
    const server = await fileIdentity('localhost', 'server');
    const services = await Promise.all(Array.from({ length: nVerifiers }, (_, i) => fileIdentity(`carrier-verifier-${i + 1}`, 'service')));
    const devices = [];
    for (const id of ids) {
      const keyStore = new MemoryKeyStore();
      await keyStore.start();
      devices.push({ id, keyStore, cert: await ca.issue(keyStore.publicKeySpki(), id, { profile: 'device', validityDays: 1 }) });
      o.onProgress?.('certificates', devices.length, o.devices);
    }
    const pkiMs = Date.now() - t;

    t = Date.now();
    const expected = o.devices * o.results;
    const broker = await LocalBroker.start({
      dir: join(o.dir, 'broker'),
      tls: { ca: ca.pem, cert: server.cert.toString('pem'), key: readFileSync(server.keyPath) },
      // The CA's CRL (empty unless something was revoked): the broker refuses the certificates it lists.
      crl: await ca.crl(),
      policy: { devices: o.attacker ? [...ids, ATTACKER] : ids, verifiers: services.map((_, i) => `carrier-verifier-${i + 1}`) },
      // Every result may sit in one verifier's queue during a burst; mosquitto drops silently past this.
      maxQueuedMessages: Math.max(100_000, expected * 2),
    });
    cleanup.push(() => broker.stop());
    const brokerMs = Date.now() - t;

    // Nonces: issued up front into the SQLite file the verifier processes share.
    const noncesPath = join(o.dir, 'nonces.db');
    const nonceStore = new SqliteNonceStore(noncesPath);
    const nonces = await nonceStore.issueMany(
      ids.flatMap((id) => Array<string>(o.results).fill(id)),
      new Date(),
    );
    await nonceStore.stop();

    // The verifiers' policy: exactly the model set and agent version the simulated kiosks report.
    const measurements = await kioskMeasurements();
    const policyPath = join(o.dir, 'verifier-policy.json');
    writeFileSync(policyPath, JSON.stringify(buildPolicy({ name: 'fleet', models: modelMeasurements(measurements), swversion: agentVersion() })));

    // Verifiers: one process each, outcomes back over IPC.
    const accepted = new Map<string, number>();
    const perVerifier = Array<number>(nVerifiers).fill(0);
    let duplicates = 0;
    const rejectReasons: string[] = [];
    const children: ChildProcess[] = [];
    // On an error path: kill the verifiers and wait for them to exit (they hold nonces.db open in o.dir).
    cleanup.push(async () => {
      await Promise.all(
        children
          .filter((c) => c.exitCode === null && c.signalCode === null)
          .map(async (c) => {
            const exited = once(c, 'exit');
            c.kill('SIGKILL');
            await exited;
          }),
      );
    });
    await Promise.all(
      services.map(async (s, i) => {
        const cfgPath = join(o.dir, `verifier-${i + 1}.json`);
        const cfg: SimVerifierConfig = {
          url: broker.url,
          clientId: `verifier-${i + 1}`,
          caPath: join(o.dir, 'ca', 'ca.crt'),
          caDir: join(o.dir, 'ca'),
          certPath: s.certPath,
          keyPath: s.keyPath,
          noncesPath,
          policyPath,
        };
        writeFileSync(cfgPath, JSON.stringify(cfg));
        const child = forkEntry('verifier-main', [cfgPath]);
        children.push(child);
        child.on('message', (m: SimVerifierMessage) => {
          if (m.type !== 'outcomes') return;
          for (const jti of m.accepted) accepted.set(jti, (accepted.get(jti) ?? 0) + 1);
          if (m.accepted.length > 0) o.onProgress?.('verify', Math.min(accepted.size, expected), expected);
          perVerifier[i] += m.accepted.length;
          duplicates += m.duplicates;
          rejectReasons.push(...m.rejected);
        });
        await waitMessage(child, 'ready', 30_000);
      }),
    );

    // Devices: connect in waves so the TLS handshakes do not all time out together.
    t = Date.now();
    const sims = devices.map((d) => {
      const transport = new MqttTransport({
        options: {
          url: broker.url,
          deviceId: d.id,
          ca: ca.pem,
          cert: d.cert.toString('pem'),
          key: d.keyStore.privateKeyPem(),
          keepaliveSec: 60,
          backoff: { baseMs: 500, capMs: 5000 },
        },
        logger: o.logger,
      });
      const outbox = new MemoryOutbox({ limits: { maxMessages: o.results + 10 } });
      const relay = new OutboxRelay({ outbox, transport, logger: o.logger, backoff: { baseMs: 200, capMs: 2000 } });
      const signer = new ResultSigner({ keyStore: d.keyStore, certificate: d.cert, measurements, dbgstat: 'disabled' });
      return { ...d, transport, outbox, relay, signer };
    });
    cleanup.push(async () => {
      await Promise.all(
        sims.map(async (s) => {
          await s.relay.stop();
          await s.transport.stop();
        }),
      );
    });
    const drops = new Map<string, number>();
    for (const s of sims) s.transport.events.on('offline', () => drops.set(s.id, (drops.get(s.id) ?? 0) + 1));
    const concurrency = o.connectConcurrency ?? 50;
    let connected = 0;
    let attempted = 0;
    for (let i = 0; i < sims.length; i += concurrency) {
      await Promise.all(
        sims.slice(i, i + concurrency).map(async (s) => {
          const online = once(s.transport.events, 'online');
          await s.outbox.start();
          await s.relay.start();
          await s.transport.start();
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([
            online.then(() => {
              connected++;
            }),
            new Promise((r) => {
              timer = setTimeout(r, 30_000);
            }),
          ]);
          clearTimeout(timer);
          o.onProgress?.('connect', ++attempted, sims.length);
        }),
      );
    }
    const connectMs = Date.now() - t;

    // The attacker: a stolen kiosk certificate of its own, trying every attack while the fleet runs.
    let attacker: FleetAttacker | undefined;
    if (o.attacker) {
      const stolen = new MemoryKeyStore();
      await stolen.start();
      const cert = await ca.issue(stolen.publicKeySpki(), ATTACKER, { profile: 'device', validityDays: 1 });
      attacker = new FleetAttacker({
        url: broker.url,
        tls: { ca: ca.pem, cert: cert.toString('pem'), key: stolen.privateKeyPem() },
        kiosks: ids,
        verifiers: services.map((_, i) => `carrier-verifier-${i + 1}`),
        prefix: 'kiosk/v1/',
        dropsOf: (id) => drops.get(id) ?? 0,
      });
      cleanup.push(async () => void (await attacker?.stop()));
    }
    const dropsBefore = [...drops.values()].reduce((a, b) => a + b, 0);

    // The run: every kiosk signs its results and hands them to its outbox; relays publish.
    attacker?.start();
    const cpu0 = process.cpuUsage();
    const mosq0 = broker.pid ? processCpuSeconds(broker.pid) : undefined;
    for (const c of children) c.send({ type: 'mark' });
    const start = Date.now();
    const samples: number[] = [];
    let last = 0;
    await Promise.all(
      sims.map(async (s, d) => {
        for (let r = 0; r < o.results; r++) {
          const signed = await s.signer.sign(nonces[d * o.results + r], { verdict: 'accept', reasons: [], scores: { liveness: 0.9 } });
          await s.outbox.put({ jti: signed.jti, topic: s.transport.topics.result, payload: Buffer.from(signed.token) });
        }
      }),
    );
    let lastProgress = Date.now();
    while (accepted.size < expected) {
      await new Promise((r) => setTimeout(r, 1000));
      samples.push(accepted.size - last);
      if (accepted.size > last) lastProgress = Date.now();
      last = accepted.size;
      if (Date.now() - lastProgress > (o.stallMs ?? 30_000)) break;
    }
    const runMs = Date.now() - start;
    const attacks = await attacker?.stop();
    const kioskDrops = [...drops.values()].reduce((a, b) => a + b, 0) - dropsBefore;
    const cpu = process.cpuUsage(cpu0);
    const mosq1 = broker.pid ? processCpuSeconds(broker.pid) : undefined;
    const verifierCpu = await Promise.all(
      children.map(async (c) => {
        c.send({ type: 'cpu' });
        const m = (await waitMessage(c, 'cpu', 5000)) as Extract<SimVerifierMessage, { type: 'cpu' }>;
        return (m.userUs + m.systemUs) / 1e6;
      }),
    );
    // A short grace period shows late duplicates, then the verifiers drain and stop.
    await new Promise((r) => setTimeout(r, 300));
    await Promise.all(
      children.map(async (c) => {
        const exited = once(c, 'exit');
        c.send({ type: 'stop' });
        await exited;
      }),
    );
    // The last partial second would drag the median down; rates are over whole seconds of work.
    const busy = samples.filter((n) => n > 0);
    const sorted = [...busy].sort((a, b) => a - b);
    const median = sorted.length ? (sorted.length % 2 ? sorted[(sorted.length - 1) / 2] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2) : 0;
    const twice = [...accepted.values()].filter((n) => n > 1).length;
    return {
      devices: o.devices,
      connected,
      results: expected,
      verified: accepted.size,
      lost: expected - accepted.size,
      duplicates: duplicates + twice,
      rejected: rejectReasons.length,
      rejectReasons: [...new Set(rejectReasons)].slice(0, 5),
      verifiers: nVerifiers,
      perVerifier,
      setupMs: { pki: pkiMs, broker: brokerMs, connect: connectMs },
      runMs,
      verifiedPerSecond: { median, mean: runMs > 0 ? Math.round(accepted.size / (runMs / 1000)) : 0, samples },
      cpuSeconds: {
        simulator: (cpu.user + cpu.system) / 1e6,
        verifiers: verifierCpu,
        mosquitto: mosq0 !== undefined && mosq1 !== undefined ? mosq1 - mosq0 : undefined,
      },
      kioskDrops,
      ...(attacks ? { attacks } : {}),
    };
  } finally {
    for (const fn of cleanup.reverse()) await fn().catch((err: Error) => o.logger.warn({ err: { message: err.message } }, 'fleet cleanup step failed'));
  }
}

/** Forks a sibling entry module; under tsx (a .ts file) the child gets the same loader. */
function forkEntry(name: string, args: string[]): ChildProcess {
  const ts = fileURLToPath(import.meta.url).endsWith('.ts');
  return fork(join(here, `${name}.${ts ? 'ts' : 'js'}`), args, {
    execArgv: ts ? ['--import', 'tsx'] : [],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

async function waitMessage(child: ChildProcess, type: string, ms: number): Promise<SimVerifierMessage> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`verifier process sent no ${type} within ${ms} ms`));
    }, ms);
    const onMessage = (m: SimVerifierMessage) => {
      if (m.type === type) {
        cleanup();
        resolve(m);
      }
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`verifier process exited (${code}) before ${type}`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}
