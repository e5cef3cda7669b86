/**
 * A simulated kiosk's updater, for the rollout benchmark and tests. It takes `cmd/update` from its
 * own MQTT connection and checks it with the kiosk's REAL verifiers: the command token with
 * agent/transport/command-auth.ts (key, audience, lifetime, single use), its args against
 * UPDATE_JOB_SCHEMA, and the release manifest with provisioning/update/manifest.ts's ReleaseVerifier.
 * Installation itself is SIMULATED: nothing is downloaded, unpacked or switched; the job only walks
 * queued -> downloading (progress) -> verifying -> installing -> trial -> committed, or, for a kiosk
 * configured to get a failing release, -> trial -> rolled_back (reason `start` or `self_test`), with
 * small random delays, reporting each state as the daemon event `update` (QoS 1) on its events topic.
 * A job id seen before is not run again (the carrier may resend it).
 */
import { randomUUID } from 'node:crypto';
import { Ajv } from 'ajv';
import type { JWK } from 'jose';
import type { Logger } from '../base/log.js';
import { publicKeyObject } from '../base/keys/key-store.js';
import { MemoryKeyStore } from '../base/keys/memory-key-store.js';
import { CommandAuthenticator, type CommandKeyConfig } from '../agent/transport/command-auth.js';
import { type IncomingCommand, MqttTransport } from '../agent/transport/mqtt-transport.js';
import { isKioskError } from '../base/errors.js';
import { signCompact } from '../protocol/jws.js';
import { RELEASE_TYP, type ReleaseManifest } from '../protocol/release.js';
import { UPDATE_JOB_SCHEMA, type UpdateFailure, type UpdateJobArgs, type UpdateReport, type UpdateState } from '../protocol/update.js';
import { type ReleaseKeyConfig, ReleaseVerifier } from '../provisioning/update/manifest.js';

/** What the simulated updater needs. */
export interface SimUpdateKioskDeps {
  transport: Pick<MqttTransport, 'events' | 'topics' | 'publish'>;
  /** The kiosk's command check (trusting the carrier's command key). */
  auth: Pick<CommandAuthenticator, 'verify'>;
  /** The kiosk's release check (trusting the carrier's release key). */
  releases: Pick<ReleaseVerifier, 'verify'>;
  logger: Logger;
  /** The version running before the job (default 1). */
  running?: number;
  /** This kiosk's trial fails: it rolls back with this reason. */
  fails?: 'start' | 'self_test';
  /** Delay between two states, ms: uniform in [min, max] (default 20..80). */
  stepMs?: { min: number; max: number };
  random?: () => number;
}

const validateArgs = new Ajv({ strict: true }).compile(UPDATE_JOB_SCHEMA);

/** One simulated kiosk's updater. */
export class SimUpdateKiosk {
  /** Job ids received (verified commands). */
  readonly jobs = new Set<string>();
  /** Every verified update command's job id, repeats included. */
  readonly received: string[] = [];
  /** The trial of the next job fails with this reason (changeable between jobs). */
  fails?: 'start' | 'self_test';
  /** Delay between two states, ms (changeable between jobs). */
  stepMs: { min: number; max: number };
  private running: number;
  private stopped = false;
  private readonly onCommand = (c: IncomingCommand): void => {
    if (c.name === 'update') void this.handle(c.payload);
  };
  /** Final states reached, by job id (tests read it). */
  readonly finished = new Map<string, UpdateState>();

  constructor(private readonly deps: SimUpdateKioskDeps) {
    this.running = deps.running ?? 1;
    this.fails = deps.fails;
    this.stepMs = deps.stepMs ?? { min: 20, max: 80 };
  }

  start(): void {
    this.stopped = false;
    this.deps.transport.events.on('command', this.onCommand);
  }

  stop(): void {
    this.stopped = true;
    this.deps.transport.events.off('command', this.onCommand);
  }

  private async handle(payload: Buffer): Promise<void> {
    const signed = await this.deps.auth.verify('update', payload);
    if (!signed.ok) {
      this.deps.logger.warn({ reason: signed.reason }, 'update command refused');
      return;
    }
    const args = signed.claims.args;
    if (!validateArgs(args)) {
      this.deps.logger.warn({ errors: validateArgs.errors?.[0]?.message }, 'update command args refused');
      return;
    }
    const { job_id: jobId, release } = args as unknown as UpdateJobArgs;
    this.received.push(jobId);
    if (this.jobs.has(jobId)) return;
    this.jobs.add(jobId);
    let manifest: ReleaseManifest;
    try {
      manifest = (await this.deps.releases.verify(release)).manifest;
    } catch (err) {
      const code = isKioskError(err) ? err.code : 'E_UPDATE_MANIFEST';
      await this.report({
        jobId,
        kind: 'agent',
        version: 0,
        state: 'failed',
        reason: code === 'E_UPDATE_SIGNATURE' ? 'signature' : 'manifest',
        running: this.running,
      });
      return;
    }
    await this.walk(jobId, manifest);
  }

  private async walk(jobId: string, m: ReleaseManifest): Promise<void> {
    const base = { jobId, kind: m.kind, version: m.version } as const;
    const fails = this.fails;
    if (m.version <= this.running) {
      await this.report({ ...base, state: 'failed', reason: 'already_current', running: this.running });
      return;
    }
    const total = m.files.reduce((n, f) => n + f.size, 0);
    await this.report({ ...base, state: 'queued' });
    for (const part of [0, 0.5, 1]) {
      await this.pause();
      await this.report({ ...base, state: 'downloading', progress: { bytes: Math.round(total * part), total } });
    }
    for (const state of ['verifying', 'installing', 'trial'] as const) {
      await this.pause();
      await this.report({ ...base, state });
    }
    await this.pause();
    if (fails) {
      const message = fails === 'start' ? 'the new release did not start (simulated)' : 'the model self-test failed (simulated)';
      await this.report({ ...base, state: 'rolled_back', reason: fails, message, running: this.running });
    } else {
      this.running = m.version;
      await this.report({ ...base, state: 'committed', running: m.version });
    }
  }

  private async pause(): Promise<void> {
    const { min, max } = this.stepMs;
    await new Promise((r) => setTimeout(r, min + (this.deps.random ?? Math.random)() * (max - min)));
  }

  /** Publishes one report as the daemon does (`{type:'update', eventId, at, ...}`), retried while offline. */
  private async report(r: UpdateReport & { reason?: UpdateFailure }): Promise<void> {
    const text = JSON.stringify({ type: 'update', eventId: randomUUID(), at: new Date().toISOString(), ...r });
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        await this.deps.transport.publish(this.deps.transport.topics.events, text, { qos: 1 });
        break;
      } catch (err) {
        if (attempt >= 50) throw err;
        await new Promise((res) => setTimeout(res, 200));
      }
    }
    if (r.state === 'committed' || r.state === 'rolled_back' || r.state === 'failed') this.finished.set(r.jobId, r.state);
  }
}

/** A carrier release key for simulations: its store, kid and public JWK (what kiosks are configured with). */
export async function simReleaseKey(kid = 'sim-release-1'): Promise<{ store: MemoryKeyStore; kid: string; publicKey: JWK }> {
  const store = new MemoryKeyStore();
  await store.start();
  return { store, kid, publicKey: publicKeyObject(store).export({ format: 'jwk' }) as JWK };
}

/** A signed agent release manifest of `version` for simulations (one .deb file that is never fetched). */
export async function simRelease(key: { store: MemoryKeyStore; kid: string }, version: number): Promise<string> {
  const manifest: ReleaseManifest = {
    kind: 'agent',
    version,
    name: `simulated release ${version}`,
    createdAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    files: [{ path: `kiosk-agent_${version}_amd64.deb`, sha256: 'a'.repeat(64), size: 40_000_000 }],
  };
  return signCompact(key.store, { alg: 'ES256', typ: RELEASE_TYP, kid: key.kid }, manifest);
}

/** Where a simulated kiosk connects and what it trusts. */
export interface SimUpdateKioskConfig {
  url: string;
  deviceId: string;
  ca: string | Buffer;
  cert: string | Buffer;
  key: string | Buffer;
  commandKeys: CommandKeyConfig[];
  releaseKeys: ReleaseKeyConfig[];
  fails?: 'start' | 'self_test';
  stepMs?: { min: number; max: number };
  logger: Logger;
}

/** A started simulated kiosk: the real transport, command check and release check around a {@link SimUpdateKiosk}. */
export async function startSimUpdateKiosk(c: SimUpdateKioskConfig): Promise<{ transport: MqttTransport; kiosk: SimUpdateKiosk; stop(): Promise<void> }> {
  const used = new Set<string>();
  const auth = new CommandAuthenticator({
    keys: c.commandKeys,
    deviceId: c.deviceId,
    used: { useCommand: (jti) => !used.has(jti) && Boolean(used.add(jti)) },
    maxLifetimeSec: 300,
    clockSkewSec: 30,
  });
  await auth.start();
  const releases = new ReleaseVerifier({ keys: c.releaseKeys });
  await releases.start();
  const transport = new MqttTransport({
    options: { url: c.url, deviceId: c.deviceId, ca: c.ca, cert: c.cert, key: c.key, keepaliveSec: 60, backoff: { baseMs: 500, capMs: 5000 } },
    logger: c.logger,
  });
  const kiosk = new SimUpdateKiosk({ transport, auth, releases, logger: c.logger, fails: c.fails, stepMs: c.stepMs });
  kiosk.start();
  await transport.start();
  return {
    transport,
    kiosk,
    async stop() {
      kiosk.stop();
      await transport.stop();
    },
  };
}
