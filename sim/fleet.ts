/**
 * A fleet simulation on one machine: a test carrier CA issues N device certificates (keys in
 * memory), a local mosquitto is started with a policy for all of them, V verifier processes (each
 * standing for a host, with its own certificate) join the shared subscription and share one carrier
 * store (SQLite files, or one PostgreSQL database), and N simulated kiosks (the real transport, outbox
 * relay and signer) each publish M signed results over mutual TLS. Optionally, during the run: one
 * host is SIGKILLed and started again, an attacker replays captured results to several hosts at once
 * (sim/replayer.ts), another attacker tries the broker-level attacks (sim/attacker.ts). The report
 * says how many connected, how many results were verified (per second, median over the run), what
 * was lost or accepted twice, what came of the replays, what the store says, and CPU time. Used by
 * `npm run simulate -- fleet` and bench/fleet.ts.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../base/log.js';
import { agentVersion } from '../base/paths.js';
import { buildPolicy, modelMeasurements } from '../carrier/verifier-policy.js';
import { LocalBroker, processCpuSeconds } from '../carrier/broker/local-broker.js';
import { CarrierCa } from '../carrier/ca.js';
import { FileKeyStore } from '../base/keys/file-key-store.js';
import { MemoryKeyStore } from '../base/keys/memory-key-store.js';
import { createCsr } from '../base/keys/x509.js';
import type { StoreSpec } from '../carrier/store/types.js';
import { FleetAttacker, type AttackReport } from './attacker.js';
import { connectKiosks, issueKioskIdentities, kioskMeasurements, makeKiosk, stopKiosks } from './fleet-kiosks.js';
import { auditFleetNonces, copySqliteStore, issueFleetNonces, type SentResult, type StoreAudit } from './fleet-store.js';
import { FleetTally } from './fleet-tally.js';
import { runFleetLoad, type KillReport } from './fleet-load.js';
import type { ReplayReport } from './replayer.js';
import { VerifierPool } from './verifier-pool.js';

export interface FleetOptions {
  /** Number of simulated kiosks. */
  devices: number;
  /** Signed results each kiosk publishes. */
  results: number;
  /** Verifier processes (hosts) on the shared subscription (default 2). */
  verifiers?: number;
  /** Working directory (CA, broker, SQLite store); its parents must be traversable by the mosquitto user. */
  dir: string;
  /** The carrier store every host shares (default: SQLite files in `<dir>/store`, today's one-host setup). */
  store?: StoreSpec;
  /** TLS connections opened at once (default 50). */
  connectConcurrency?: number;
  /** Give up when no result was verified for this long (default 30000 ms). */
  stallMs?: number;
  logger: Logger;
  /** Told as the work proceeds (e.g. for a progress line): certificates issued, kiosks connected or given up on, results verified. */
  onProgress?: (step: FleetStep, done: number, total: number) => void;
  /** Also run one attacker with a stolen kiosk certificate during the run (sim/attacker.ts). */
  attacker?: boolean;
  /** SIGKILL the first host once this share of the results was verified (e.g. 0.3), start it again after `restartAfterMs` (default 2000). */
  killAt?: number;
  restartAfterMs?: number;
  /** Captured results the replayer hands to several hosts at once during the run (default 0: none). */
  replays?: number;
  /** Fail-before demonstration: host `separateStoreFor` (0-based) gets its own copy of the SQLite store instead of the shared one. */
  separateStoreFor?: number;
}

export type FleetStep = 'certificates' | 'connect' | 'verify';

export interface FleetReport {
  devices: number;
  connected: number;
  results: number;
  /** Results a verifier handled (accepted, or recognised as its own redelivery). */
  verified: number;
  lost: number;
  /** Results accepted more than once, over every host and path. */
  duplicates: number;
  /** Deliveries the store recognised as already consumed by the same result (redeliveries after the SIGKILL), acknowledged and not accepted again. */
  redelivered: number;
  rejected: number;
  rejectReasons: string[];
  verifiers: number;
  store: StoreSpec['kind'];
  /** Results accepted per verifier host over MQTT (the shared subscription's spread). */
  perVerifier: number[];
  setupMs: { pki: number; broker: number; connect: number };
  runMs: number;
  verifiedPerSecond: { median: number; mean: number; samples: number[] };
  cpuSeconds: { simulator: number; verifiers: number[]; mosquitto?: number };
  /** Times a fleet kiosk lost its broker connection during the run (should be 0). */
  kioskDrops: number;
  /** The attacker's attempts and how many the broker let through (with `attacker`). */
  attacks?: AttackReport;
  /** The SIGKILL and restart of a host (with `killAt`). */
  kill?: KillReport;
  /** The replays (with `replays`): `accepted` is acceptances beyond each result's one (must be 0). */
  replays?: ReplayReport & { accepted: number; preempted: number; firstAcceptedByCopy: number };
  /** The shared store's own answer for every sent result. */
  audit: StoreAudit;
}

/** The attacker's stolen kiosk certificate names this kiosk (a real one of the fleet's policy). */
const ATTACKER = 'kiosk-stolen';

/** Runs the whole simulation and tears everything down (broker, verifier processes, connections). */
export async function runFleet(o: FleetOptions): Promise<FleetReport> {
  const nVerifiers = o.verifiers ?? 2;
  const store: StoreSpec = o.store ?? { kind: 'sqlite', dir: join(o.dir, 'store') };
  const ids = Array.from({ length: o.devices }, (_, i) => `kiosk-${String(i + 1).padStart(5, '0')}`);
  const verifierIds = Array.from({ length: nVerifiers }, (_, i) => `carrier-verifier-${i + 1}`);
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
    const services = await Promise.all(verifierIds.map((cn) => fileIdentity(cn, 'service')));
    const identities = await issueKioskIdentities(ca, ids, (n) => o.onProgress?.('certificates', n, o.devices));
    const pkiMs = Date.now() - t;

    t = Date.now();
    const expected = o.devices * o.results;
    const broker = await LocalBroker.start({
      dir: join(o.dir, 'broker'),
      tls: { ca: ca.pem, cert: server.cert.toString('pem'), key: readFileSync(server.keyPath) },
      // The CA's CRL (empty unless something was revoked): the broker refuses the certificates it lists.
      crl: await ca.crl(),
      policy: { devices: o.attacker ? [...ids, ATTACKER] : ids, verifiers: verifierIds },
      // Every result may sit in one verifier's queue during a burst (or while it is down); mosquitto drops silently past this.
      maxQueuedMessages: Math.max(100_000, expected * 2),
    });
    cleanup.push(() => broker.stop());
    const brokerMs = Date.now() - t;

    // Nonces: issued up front into the store the hosts share (migrations run on first open).
    const nonces = await issueFleetNonces(store, ids, o.results);
    const separate = o.separateStoreFor !== undefined ? copySqliteStore(store, join(o.dir, 'separate-store')) : undefined;

    // The verifiers' policy: exactly the model set and agent version the simulated kiosks report.
    const measurements = await kioskMeasurements();
    const policyPath = join(o.dir, 'verifier-policy.json');
    writeFileSync(policyPath, JSON.stringify(buildPolicy({ name: 'fleet', models: modelMeasurements(measurements), swversion: agentVersion() })));

    // The kiosks (no I/O yet) sign their results now: the replayer may capture any of them.
    const sims = identities.map((d) => makeKiosk(d, { url: broker.url, caPem: ca.pem, results: o.results, measurements, logger: o.logger }));
    const sent: (SentResult & { token: string; topic: string; kiosk: number })[] = [];
    for (const [d, s] of sims.entries()) {
      for (let r = 0; r < o.results; r++) {
        const nonce = nonces[d * o.results + r];
        const signed = await s.signer.sign(nonce, { verdict: 'accept', reasons: [], scores: { liveness: 0.9 } });
        sent.push({ nonce, deviceId: s.id, jti: signed.jti, token: signed.token, topic: s.transport.topics.result, kiosk: d });
      }
    }
    const tally = new FleetTally(new Set(sent.map((r) => r.jti)));

    // Verifier hosts: one process each, every outcome back over IPC.
    const rejectReasons: string[] = [];
    const pool = new VerifierPool({
      dir: o.dir,
      configs: services.map((s, i) => ({
        url: broker.url,
        clientId: `verifier-${i + 1}`,
        caPath: join(o.dir, 'ca', 'ca.crt'),
        caDir: join(o.dir, 'ca'),
        certPath: s.certPath,
        keyPath: s.keyPath,
        store: i === o.separateStoreFor && separate ? separate : store,
        policyPath,
      })),
      onOutcome: (slot, out) => {
        if (out.status === 'accepted' && out.jti) {
          tally.accept(out.jti, 'mqtt', slot);
          o.onProgress?.('verify', Math.min(tally.handledCount, expected), expected);
        } else if (out.status === 'duplicate' && out.jti) tally.duplicate(out.jti, 'mqtt');
        else rejectReasons.push(`${out.reason}: ${out.detail}`);
      },
    });
    // On an error path: kill the verifiers and wait for them to exit (they hold the store open in o.dir).
    cleanup.push(() => pool.killAll());
    await pool.start();

    t = Date.now();
    cleanup.push(() => stopKiosks(sims));
    const drops = new Map<string, number>();
    for (const s of sims) s.transport.events.on('offline', () => drops.set(s.id, (drops.get(s.id) ?? 0) + 1));
    const connected = await connectKiosks(sims, o.connectConcurrency ?? 50, (n) => o.onProgress?.('connect', n, sims.length));
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
        verifiers: verifierIds,
        prefix: 'kiosk/v1/',
        dropsOf: (id) => drops.get(id) ?? 0,
      });
      cleanup.push(async () => void (await attacker?.stop()));
    }
    const dropsBefore = [...drops.values()].reduce((a, b) => a + b, 0);

    attacker?.start();
    const cpu0 = process.cpuUsage();
    const mosq0 = broker.pid ? processCpuSeconds(broker.pid) : undefined;
    pool.mark();
    const load = await runFleetLoad({
      sims,
      sent,
      tally,
      pool,
      expected,
      stallMs: o.stallMs ?? 30_000,
      killAt: o.killAt,
      restartAfterMs: o.restartAfterMs ?? 2000,
      replays: o.replays ?? 0,
    });
    const attacks = await attacker?.stop();
    const kioskDrops = [...drops.values()].reduce((a, b) => a + b, 0) - dropsBefore;
    const cpu = process.cpuUsage(cpu0);
    const mosq1 = broker.pid ? processCpuSeconds(broker.pid) : undefined;
    const verifierCpu = await pool.cpu();
    // A short grace period shows late duplicates, then the verifiers drain and stop.
    await new Promise((r) => setTimeout(r, 300));
    await pool.stop();
    const audit = await auditFleetNonces(store, sent);

    // The last partial second would drag the median down; rates are over whole seconds of work.
    const busy = load.samples.filter((n) => n > 0);
    const sorted = [...busy].sort((a, b) => a - b);
    const median = sorted.length ? (sorted.length % 2 ? sorted[(sorted.length - 1) / 2] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2) : 0;
    const c = tally.counts();
    return {
      devices: o.devices,
      connected,
      results: expected,
      verified: c.verified,
      lost: expected - c.verified,
      duplicates: c.acceptedTwice,
      redelivered: c.redelivered,
      rejected: rejectReasons.length,
      rejectReasons: [...new Set(rejectReasons)].slice(0, 5),
      verifiers: nVerifiers,
      store: store.kind,
      perVerifier: Array.from({ length: nVerifiers }, (_, i) => tally.acceptedBy(i)),
      setupMs: { pki: pkiMs, broker: brokerMs, connect: connectMs },
      runMs: load.runMs,
      verifiedPerSecond: { median, mean: load.runMs > 0 ? Math.round(c.verified / (load.runMs / 1000)) : 0, samples: load.samples },
      cpuSeconds: {
        simulator: (cpu.user + cpu.system) / 1e6,
        verifiers: verifierCpu,
        mosquitto: mosq0 !== undefined && mosq1 !== undefined ? mosq1 - mosq0 : undefined,
      },
      kioskDrops,
      ...(attacks ? { attacks } : {}),
      ...(load.kill ? { kill: load.kill } : {}),
      ...(load.replays
        ? { replays: { ...load.replays, accepted: c.replaysAccepted, preempted: c.preempted, firstAcceptedByCopy: c.firstAcceptedByReplay } }
        : {}),
      audit,
    };
  } finally {
    for (const fn of cleanup.reverse()) await fn().catch((err: Error) => o.logger.warn({ err: { message: err.message } }, 'fleet cleanup step failed'));
  }
}
