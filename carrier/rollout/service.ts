/**
 * The staged rollout's runner: connects as a dispatcher (mutual TLS, a carrier service certificate),
 * follows the kiosks' retained `status` (who is online) and their `update` events, keeps each job's
 * state in the {@link RolloutStore}, asks the plan (plan.ts) what next and does it: publishes signed
 * `cmd/update` commands ({job_id, release}) to a wave, waits, records an abort. Events whose job is
 * not one of this rollout's, or that come from another kiosk's topic than the job's, move nothing.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import mqtt, { type MqttClient } from 'mqtt';
import { KioskError } from '../../base/errors.js';
import type { Logger } from '../../base/log.js';
import { tlsIdentity, type MqttTlsEndpoint } from '../../protocol/endpoint.js';
import { parseCompact } from '../../protocol/jws.js';
import { DEFAULT_PREFIX } from '../../protocol/names.js';
import { RELEASE_TYP, releaseManifestProblem, type ReleaseManifest } from '../../protocol/release.js';
import { FINAL_UPDATE_STATES, UPDATE_STATES, type UpdateJobArgs, type UpdateState } from '../../protocol/update.js';
import { countRollout, nextStep, timedOut, type RolloutCounts } from './plan.js';
import type { RolloutStoreApi } from '../store/types.js';
import { jobIdFor, type RolloutRelease } from './store.js';

/** Where and as whom the runner connects (a certificate whose CN has the dispatcher role). */
export interface RolloutServiceOptions extends MqttTlsEndpoint {
  clientId: string;
  /** Wait after subscribing for the retained statuses before the first decision, ms (default 1000). */
  settleMs?: number;
  /**
   * The broker keeps this runner's subscriptions and queues the kiosks' reports for this long after a
   * disconnect, seconds (default 86400): a restarted `carrier rollout` with the same client id gets
   * what was reported while it was away. Dropped at once by {@link RolloutService.stop} after a finished run.
   */
  sessionExpirySec?: number;
  /** Ask the plan again at least this often without news, ms (default 500). */
  tickMs?: number;
  /** Lifetime of each command token, seconds (default: the signer's, 120). */
  commandLifetimeSec?: number;
}

/** What the runner needs. */
export interface RolloutServiceDeps {
  options: RolloutServiceOptions;
  store: RolloutStoreApi;
  signer: { sign(deviceId: string, name: string, args: Record<string, unknown>, o?: { lifetimeSec?: number }): Promise<string> };
  logger: Logger;
  /** Wall clock, ms (default Date.now). */
  now?: () => number;
}

/** The end of a rollout. */
export interface RolloutSummary {
  counts: RolloutCounts;
  /** Targets never sent a job (offline, or after an abort). */
  stayedPut: number;
  aborted?: { reason: string; wave: number };
  /** Waves sent, the canary included. */
  waves: number;
  /** From the start of this run to the end, ms. */
  elapsedMs: number;
  /** Median time from a job's send to its final report, ms (over kiosks that reported one). */
  medianJobMs?: number;
}

/** What the runner tells as it goes. */
export interface RolloutServiceEvents {
  wave: [{ wave: number; kiosks: number; counts: RolloutCounts }];
  progress: [{ wave: number; counts: RolloutCounts }];
  abort: [{ wave: number; reason: string; counts: RolloutCounts }];
}

/** The release a token describes (not verified here: the carrier signed it; kiosks verify it). E_UPDATE_MANIFEST when it is not one. */
export function releaseOf(token: string): RolloutRelease {
  token = token.trim();
  let parsed: ReturnType<typeof parseCompact>;
  try {
    parsed = parseCompact(token);
  } catch (err) {
    throw new KioskError('E_UPDATE_MANIFEST', `the release file is not a release token: ${(err as Error).message}`, { subject: 'release' });
  }
  if (parsed.header.typ !== RELEASE_TYP) throw new KioskError('E_UPDATE_MANIFEST', `the release token is not a ${RELEASE_TYP}`, { subject: 'release' });
  const problem = releaseManifestProblem(parsed.payload);
  if (problem) throw new KioskError('E_UPDATE_MANIFEST', `the release manifest is malformed: ${problem}`, { subject: 'release' });
  const m = parsed.payload as unknown as ReleaseManifest;
  return { token, sha256: createHash('sha256').update(token).digest('hex'), kind: m.kind, version: m.version };
}

/** Runs one stored rollout to its end. */
export class RolloutService {
  readonly events = new EventEmitter<RolloutServiceEvents>();
  private client?: MqttClient;
  private readonly online = new Set<string>();
  private rolloutId?: string;
  private wake?: () => void;
  private finished = false;
  private readonly unsendable = new Set<string>();
  /** Messages that arrived before {@link run} named the rollout (a resumed session's queue comes at connect). */
  private early: [string, Buffer][] = [];

  constructor(private readonly deps: RolloutServiceDeps) {}

  private get prefix(): string {
    return this.deps.options.prefix ?? DEFAULT_PREFIX;
  }

  /** Connects and subscribes to the kiosks' status and events. */
  async start(): Promise<void> {
    const o = this.deps.options;
    const client = await mqtt.connectAsync(o.url, {
      protocolVersion: 5,
      clientId: o.clientId,
      clean: false,
      properties: { sessionExpiryInterval: o.sessionExpirySec ?? 86_400 },
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
      ...tlsIdentity(o),
      rejectUnauthorized: true,
    });
    this.client = client;
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
    client.on('error', (err) => this.deps.logger.warn({ err: { message: err.message } }, 'rollout mqtt error'));
    const filters = [`${this.prefix}+/status`, `${this.prefix}+/events`];
    const subscribe = async () => {
      const granted = await client.subscribeAsync(filters, { qos: 1 });
      const refused = granted.filter((g) => g.qos > 2);
      if (refused.length) throw new KioskError('E_NOT_AUTHORIZED', `the broker refused the subscription ${refused[0].topic}`, { subject: o.clientId });
    };
    client.on('connect', (ack) => {
      if (!ack.sessionPresent) subscribe().catch((err: Error) => this.deps.logger.error({ err: { message: err.message } }, 'rollout could not subscribe'));
    });
    await subscribe();
  }

  /** Disconnects; after a finished run the broker drops this runner's session (nothing is left to resume). */
  async stop(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    this.wake?.();
    if (c) await c.endAsync(false, this.finished ? { properties: { sessionExpiryInterval: 0 } } : {}).catch(() => undefined);
  }

  /** Runs rollout `id` (created with {@link RolloutStore.begin}) until done or aborted; `signal` stops waiting (the state stays stored). */
  async run(id: string, signal?: AbortSignal): Promise<RolloutSummary> {
    const { store } = this.deps;
    const now = this.deps.now ?? Date.now;
    const record = await store.get(id);
    if (!record) throw new KioskError('E_USAGE', 'no such rollout in the state file', { subject: id });
    this.rolloutId = id;
    for (const [topic, payload] of this.early.splice(0)) this.onMessage(topic, payload);
    const started = now();
    const o = this.deps.options;
    // The retained statuses arrive just after the subscription: a first decision before them would see every kiosk offline.
    await new Promise((r) => setTimeout(r, o.settleMs ?? 1000));
    let lastProgress = '';
    for (;;) {
      if (signal?.aborted) throw new KioskError('E_ABORTED', 'the rollout was interrupted (its state is kept)', { subject: id });
      const rules = record.rules;
      const t = now();
      const late = timedOut(await store.kiosks(id), t, rules.kioskTimeoutMs);
      if (late.length) await store.markTimedOut(id, late, t);
      const kiosks = await store.kiosks(id);
      const aborted = (await store.get(id))?.aborted;
      // A kiosk whose job could not be published in this run is not tried again (it stays put): no busy loop on a refused publish.
      const online = new Set([...this.online].filter((k) => !this.unsendable.has(k)));
      const input = { targets: record.targets, rules, kiosks, online, now: t, aborted };
      const step = nextStep(input);
      if (step.kind === 'done') {
        this.finished = true;
        return await this.summary(id, started, now());
      }
      if (step.kind === 'abort') {
        await store.abort(id, step.reason, step.wave);
        this.deps.logger.warn({ rollout: id, wave: step.wave, reason: step.reason }, 'rollout aborted');
        this.events.emit('abort', { wave: step.wave, reason: step.reason, counts: step.counts });
        continue;
      }
      if (step.kind === 'send') {
        const results = await Promise.all(step.kiosks.map((k) => this.send(record.release, id, k, step.wave)));
        const sent = results.filter(Boolean).length;
        this.events.emit('wave', { wave: step.wave, kiosks: sent, counts: countRollout({ ...input, kiosks: await store.kiosks(id) }) });
        if (sent === 0) await this.sleep(o.tickMs ?? 500, signal);
        continue;
      }
      const counts = countRollout(input);
      const key = JSON.stringify(counts);
      if (key !== lastProgress) {
        lastProgress = key;
        this.events.emit('progress', { wave: step.wave, counts });
      }
      await this.sleep(o.tickMs ?? 500, signal);
    }
  }

  /** Records, signs and publishes one kiosk's job; false (and pending again) when the publish failed. */
  private async send(release: RolloutRelease, id: string, kiosk: string, wave: number): Promise<boolean> {
    const { store } = this.deps;
    if (!(await store.markSent(id, kiosk, wave, (this.deps.now ?? Date.now)()))) return false;
    const args: UpdateJobArgs = { job_id: jobIdFor(id, kiosk), release: release.token };
    try {
      const client = this.client;
      if (!client) throw new KioskError('E_TRANSPORT', 'not connected', { subject: kiosk });
      const token = await this.deps.signer.sign(kiosk, 'update', { ...args }, { lifetimeSec: this.deps.options.commandLifetimeSec });
      await client.publishAsync(`${this.prefix}${kiosk}/cmd/update`, token, { qos: 1 });
      return true;
    } catch (err) {
      await store
        .unmarkSent(id, kiosk)
        .catch((e: unknown) => this.deps.logger.error({ kiosk, err: { message: (e as Error).message } }, 'could not take back the sent mark'));
      this.unsendable.add(kiosk);
      this.deps.logger.warn({ kiosk, err: { message: (err as Error).message } }, 'could not send the update job; the kiosk stays pending');
      return false;
    }
  }

  private onMessage(topic: string, payload: Buffer): void {
    if (!topic.startsWith(this.prefix)) return;
    const [kiosk, leaf, ...rest] = topic.slice(this.prefix.length).split('/');
    if (rest.length) return;
    let body: Record<string, unknown>;
    try {
      const v: unknown = JSON.parse(payload.toString('utf8'));
      if (typeof v !== 'object' || v === null || Array.isArray(v)) return;
      body = v as Record<string, unknown>;
    } catch {
      return;
    }
    if (leaf === 'status') {
      if (body.state === 'online') this.online.add(kiosk);
      else this.online.delete(kiosk);
      this.wake?.();
      return;
    }
    if (leaf !== 'events' || body.type !== 'update') return;
    if (this.rolloutId === undefined) {
      if (this.early.length < 100_000) this.early.push([topic, payload]);
      return;
    }
    const { jobId, state } = body;
    if (typeof jobId !== 'string' || typeof state !== 'string' || !(UPDATE_STATES as readonly string[]).includes(state)) return;
    const reason = typeof body.reason === 'string' ? body.reason.slice(0, 32) : undefined;
    // The store is async (PostgreSQL on many hosts); a failed write is logged, the kiosk's next report or its timeout decides.
    this.onReport(this.rolloutId, kiosk, jobId, state as UpdateState, reason, topic).catch((err: unknown) =>
      this.deps.logger.error({ topic, jobId, err: { message: (err as Error).message } }, 'could not record an update report'),
    );
  }

  private async onReport(id: string, kiosk: string, jobId: string, state: UpdateState, reason: string | undefined, topic: string): Promise<void> {
    const owner = await this.deps.store.jobKiosk(id, jobId);
    if (owner === undefined) return;
    if (owner !== kiosk) {
      this.deps.logger.warn({ topic, jobId }, "an update event for another kiosk's job: ignored");
      return;
    }
    const applied = await this.deps.store.report(id, jobId, state, reason, (this.deps.now ?? Date.now)());
    // Only a final state can change the decision; progress waits for the next tick (the plan reads every kiosk).
    if (applied === 'applied' && FINAL_UPDATE_STATES.has(state)) this.wake?.();
  }

  private async summary(id: string, started: number, end: number): Promise<RolloutSummary> {
    const { store } = this.deps;
    const record = (await store.get(id))!;
    const kiosks = await store.kiosks(id);
    const counts = countRollout({ targets: record.targets, kiosks, now: end, rules: record.rules });
    const durations = [...kiosks.values()]
      .filter((s) => s.sentAt !== undefined && s.updatedAt !== undefined && ['committed', 'rolled_back', 'failed'].includes(s.state) && s.reason !== 'timeout')
      .map((s) => s.updatedAt! - s.sentAt!)
      .sort((a, b) => a - b);
    const mid = durations.length >> 1;
    const waves = new Set([...kiosks.values()].map((s) => s.wave).filter((w) => w !== undefined)).size;
    return {
      counts,
      stayedPut: counts.pending,
      ...(record.aborted ? { aborted: record.aborted } : {}),
      waves,
      elapsedMs: end - started,
      ...(durations.length ? { medianJobMs: durations.length % 2 ? durations[mid] : (durations[mid - 1] + durations[mid]) / 2 } : {}),
    };
  }

  /** Waits `ms`, or less when news arrives or `signal` fires. */
  private async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
      this.wake = done;
    });
  }
}
