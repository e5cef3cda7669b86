/**
 * The daemon: the one composition root that wires camera, face engine, session runner, signer,
 * outbox, transport, command router and kiosk hardware. Everything is passed in (`DaemonDeps`,
 * built from config by `build.ts`); `start()` does the I/O in dependency order, `stop()` undoes it
 * in reverse and releases every listener, timer and child process.
 *
 * Optional parts: the customer screen (`screen.enabled`: a loopback page fed with each session's
 * prompts, progress, a reduced preview and the verdict; its Cancel aborts the session, its Help asks
 * for an operator) and remote assistance (`assist.enabled`: `deps.assist` builds the AssistService,
 * which alone loads `@roamhq/wrtc`; a daemon without it never loads the module).
 */
import { EventEmitter } from 'node:events';
import { open, unlink } from 'node:fs/promises';
import type { FrameSource } from '../../device/camera/frame-source.js';
import type { GpioPort } from '../../device/gpio/gpio-port.js';
import { FakeGpioPort } from '../../device/gpio/fake-gpio.js';
import { KioskHardware, type KioskEvents } from '../../device/kiosk/kiosk.js';
import type { SystemdNotifier } from '../../device/systemd/notify.js';
import type { FaceEngine, EngineInfo } from '../../models/engine.js';
import type { KeyStore } from '../../provisioning/key-store.js';
import type { x509 } from '../../provisioning/x509.js';
import { commonName } from '../../provisioning/x509.js';
import type { KioskConfig } from '../config/types.js';
import { toKioskError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Outbox } from '../outbox/outbox.js';
import { OutboxRelay } from '../outbox/relay.js';
import { agentVersion } from '../paths.js';
import { AbuseLimiter } from '../session/abuse-limiter.js';
import type { SessionResult } from '../session/types.js';
import { CommandRouter, type AssistStart, type CommandHandlers, type CommandOutcome } from '../transport/commands.js';
import type { AssistService, AssistRequest } from '../assist/service.js';
import type { PageMessage, NextStep } from '../screen/protocol.js';
import { CustomerScreen } from '../screen/server.js';
import { drawNonce } from '../session/plan.js';
import type { MqttTransport } from '../transport/mqtt-transport.js';
import { ResultSigner } from '../transport/result-signer.js';
import { DispenseController } from './dispense.js';
import { EventPublisher, type DaemonEvents } from './events.js';
import { cpuTemperature, diskFree, HealthServer, type HealthSnapshot } from './health.js';
import type { Ledger } from './ledger.js';
import { SessionController } from './session-controller.js';
import { autoConfirm, simRoutes } from './sim.js';

export interface DaemonDeps {
  config: KioskConfig;
  logger: Logger;
  engine: Pick<FaceEngine, 'analyze' | 'decide' | 'info'> & { start(): Promise<EngineInfo>; stop(): Promise<void> };
  camera: FrameSource;
  gpio: GpioPort;
  keyStore: KeyStore;
  /** The file behind a file key store (destroyed on tamper when `tamper.destroyFileKey`). */
  keyFile?: string;
  certificate: x509.X509Certificate;
  /** Absent: no broker configured, results stay in the outbox. */
  transport?: MqttTransport;
  outbox: Outbox;
  ledger: Ledger;
  notifier: SystemdNotifier;
  /**
   * Remote assistance (`assist.enabled`): builds the service once the device's result signer
   * exists. build.ts imports agent/assist only inside this factory.
   */
  assist?: AssistFactory;
}

/** What the daemon uses of the AssistService (a fake in tests). */
export type AssistLike = Pick<AssistService, 'events' | 'busy' | 'start' | 'stop' | 'request' | 'assistStart'>;
export type AssistFactory = (ctx: { signer: ResultSigner }) => Promise<AssistLike>;

const OUT_OF_SERVICE = 'out_of_service';

export class KioskDaemon {
  readonly events = new EventEmitter<DaemonEvents>();
  readonly kiosk: KioskHardware;
  readonly sessions: SessionController;
  readonly dispenser: DispenseController;
  private signer?: ResultSigner;
  private router?: CommandRouter;
  private relay?: OutboxRelay;
  private publisher: EventPublisher;
  private http?: HealthServer;
  private timers: NodeJS.Timeout[] = [];
  private undo: Array<() => void> = [];
  private presenceTimer?: NodeJS.Timeout;
  private outOfService: string | null = null;
  private keyDestroyed = false;
  private startedAt = Date.now();
  private offlineSince: number | null = null;
  private online = false;
  private lastFrameAt = Date.now();
  private lastCaptured = 0;
  private lastStatus = '';
  private lastResult?: SessionResult;
  private verdicts = { accept: 0, reject: 0, retry: 0 };
  private readonly log: Logger;
  /** The customer screen (`screen.enabled`). */
  readonly screen?: CustomerScreen;
  private assist?: AssistLike;
  private assistStarted?: Promise<void>;
  /** A call is being opened (camera starting); no session may start meanwhile. */
  private callOpening = false;
  /** The camera was started for a call (capture: session) and is stopped when it ends. */
  private cameraForCall = false;
  /** The customer pressed Help during a session: call an operator once it has ended. */
  private helpAfterSession = false;

  constructor(private readonly deps: DaemonDeps) {
    const { config } = deps;
    this.log = deps.logger.child({ component: 'daemon' });
    this.kiosk = new KioskHardware({ gpio: deps.gpio, pins: config.gpio.pins, timings: { ...config.kiosk, pulseMs: config.dispenser.pulseMs, confirmTimeoutMs: config.dispenser.confirmTimeoutMs } });
    const inService = () => this.outOfService === null;
    if (config.screen.enabled) {
      this.screen = new CustomerScreen({
        logger: deps.logger, port: config.screen.port,
        preview: { fps: config.screen.previewFps, maxWidth: config.screen.previewWidth },
        onAction: (m) => this.onScreenAction(m),
      });
    }
    this.sessions = new SessionController({
      config, engine: deps.engine, camera: deps.camera, kiosk: this.kiosk, outbox: deps.outbox, ledger: deps.ledger,
      signer: () => this.signer!, resultTopic: this.resultTopic(), abuse: new AbuseLimiter(config.abuse), bus: this.events,
      logger: deps.logger.child({ component: 'session' }), inService,
      onFinished: (r, _jti, s) => this.onSessionFinished(r, s),
      screen: this.screen,
      blocked: () => (this.assist?.busy || this.callOpening ? 'a remote-assistance call is using the camera' : undefined),
    });
    this.dispenser = new DispenseController({ kiosk: this.kiosk, ledger: deps.ledger, authorizeWithinMs: config.dispenser.authorizeWithinMs, bus: this.events, logger: deps.logger.child({ component: 'dispense' }), inService });
    this.publisher = new EventPublisher({ bus: this.events, transport: deps.transport, logger: deps.logger.child({ component: 'events' }) });
  }

  /** Port of the local HTTP server (health, metrics, simulator). */
  get httpPort(): number | undefined {
    return this.http?.port;
  }

  get inService(): boolean {
    return this.outOfService === null;
  }

  private resultTopic(): string {
    return `${this.deps.config.transport.topicPrefix}${this.deps.config.deviceId}/result`;
  }

  async start(): Promise<void> {
    const { config } = this.deps;
    const deps = this.deps;
    this.startedAt = Date.now();
    await deps.ledger.start();
    await deps.outbox.start();
    await deps.keyStore.start();
    const info = await deps.engine.start();
    const cn = commonName(deps.certificate);
    if (cn !== config.deviceId) {
      if (deps.transport) throw toKioskError(new Error(`the device certificate names ${cn}, the config deviceId is ${config.deviceId}`), 'E_CONFIG_INVALID', 'deviceId');
      this.log.warn({ cn, deviceId: config.deviceId }, 'the certificate CN differs from deviceId');
    }
    this.signer = new ResultSigner({
      keyStore: deps.keyStore, certificate: deps.certificate,
      measurements: [{ id: 'kiosk-agent', version: agentVersion() }, ...info.models.map((m) => ({ id: m.id, sha256: m.sha256 }))],
    });
    this.outOfService = deps.ledger.getState(OUT_OF_SERVICE) ?? null;
    this.wireKiosk();
    await this.kiosk.start();
    if (this.outOfService) this.kiosk.setStatus('out_of_service');
    this.wireCamera();
    if (config.camera.capture === 'always') await deps.camera.start();
    this.publisher.start();
    if (this.screen) await this.screen.start();
    if (deps.assist) this.useAssist(await deps.assist({ signer: this.signer }));
    if (deps.transport) {
      const transport = deps.transport;
      this.router = new CommandRouter({
        transport, logger: deps.logger.child({ component: 'commands' }),
        resultVerdict: async (jti) => deps.ledger.verdict(jti),
        handlers: this.commandHandlers(),
      });
      await this.router.start();
      this.relay = new OutboxRelay({ outbox: deps.outbox, transport, logger: deps.logger.child({ component: 'relay' }), backoff: { baseMs: 500, capMs: 10_000 } });
      await this.relay.start();
      // Online once the transport says so with its event: that comes after the command subscription.
      const offline = () => { this.offlineSince ??= Date.now(); this.online = false; };
      const online = () => { this.offlineSince = null; this.online = true; };
      transport.events.on('offline', offline);
      transport.events.on('online', online);
      this.undo.push(() => { transport.events.off('offline', offline); transport.events.off('online', online); });
      this.offlineSince = Date.now();
      await transport.start();
      // Its own MQTT connection: not awaited, so that an unreachable broker does not hold up the start.
      const assist = this.assist;
      if (assist) {
        this.assistStarted = assist.start().catch((err) => {
          this.log.error({ err: toKioskError(err).toJSON() }, 'remote assistance could not start; calls are refused');
          if (this.assist === assist) this.assist = undefined;
        });
      }
    } else {
      this.log.warn('no broker configured (transport.url empty): signed results are kept in the outbox');
    }
    if (config.simulate && deps.gpio instanceof FakeGpioPort) this.undo.push(autoConfirm(deps.gpio, config.sim.autoConfirmMs, this.log));
    if (config.health.httpPort !== 0 || config.simulate) {
      const inputs = Object.entries(config.gpio.pins).filter(([, p]) => p.direction === 'in').map(([n]) => n);
      this.http = new HealthServer({
        port: config.health.httpPort, logger: this.log, snapshot: () => this.snapshot(),
        routes: config.simulate && deps.gpio instanceof FakeGpioPort ? simRoutes(deps.gpio, inputs) : {},
      });
      await this.http.start();
      this.log.info({ url: `http://127.0.0.1:${this.http.port}`, routes: config.simulate ? ['/metrics', '/health', '/sim/*'] : ['/metrics', '/health'] }, 'local HTTP server (loopback only)');
    }
    this.startTimers();
    await this.deps.notifier.ready(this.statusLine()).catch((err) => this.log.warn({ err: toKioskError(err).toJSON() }, 'sd_notify READY failed'));
    this.log.info({ deviceId: config.deviceId, simulate: config.simulate, inService: this.inService }, 'kiosk agent running');
  }

  async stop(): Promise<void> {
    const d = this.deps;
    await d.notifier.stopping('stopping').catch(() => undefined);
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    clearTimeout(this.presenceTimer);
    this.sessions.abort('shutdown');
    await this.sessions.idle();
    for (const u of this.undo.splice(0).reverse()) u();
    await this.assistStarted;
    await this.assist?.stop().catch((err) => this.log.warn({ err: toKioskError(err).toJSON() }, 'remote assistance stop failed'));
    await this.screen?.stop();
    await this.http?.stop();
    await this.router?.stop();
    await this.relay?.stop();
    this.publisher.stop();
    await d.transport?.stop();
    await d.camera.stop().catch(() => undefined);
    await this.kiosk.stop().catch((err) => this.log.warn({ err: toKioskError(err).toJSON() }, 'kiosk hardware stop failed'));
    await d.engine.stop();
    await d.keyStore.stop();
    await d.outbox.stop();
    await d.ledger.stop();
  }

  /** The carrier commands this daemon handles (`assist_start` only with remote assistance). */
  commandHandlers(): CommandHandlers {
    const handlers: CommandHandlers = {
      start_session: async (c) => this.startSession(c),
      authorize_dispense: async (c) => this.dispenser.authorize(c),
      config: async () => ({ ok: false, reason: 'handler_error', detail: 'settings are changed in the config file (restart needed); not over MQTT' }),
      clear_alarm: async () => this.clearAlarm(),
    };
    if (this.assist) handlers.assist_start = async (c) => this.assistStart(c);
    return handlers;
  }

  /**
   * Wires remote assistance: its events become daemon events, and an operator's decision is
   * recorded in the ledger (so `authorize_dispense` accepts an operator-approved result).
   * `start()` calls it with the factory's service; tests with a fake.
   */
  useAssist(assist: AssistLike): void {
    this.assist = assist;
    const decided = (e: { assistId: string; jti: string; decision: 'approve' | 'reject'; operatorId: string }) => {
      this.deps.ledger.record(e.jti, e.decision === 'approve' ? 'accept' : 'reject');
      this.events.emit('assist_decided', e);
    };
    const ended = (e: { assistId: string; outcome: string; reason?: string; framesSent: number }) => {
      this.events.emit('assist_ended', e);
      if (this.cameraForCall && !this.sessions.busy) {
        this.cameraForCall = false;
        void this.deps.camera.stop().catch(() => undefined);
      }
    };
    assist.events.on('decided', decided);
    assist.events.on('ended', ended);
    this.undo.push(() => { assist.events.off('decided', decided); assist.events.off('ended', ended); });
  }

  /** The carrier's `assist_start`. */
  async assistStart(c: AssistStart): Promise<CommandOutcome> {
    const assist = this.assist;
    if (!assist) return { ok: false, reason: 'handler_error', detail: 'remote assistance is not running' };
    const refused = this.callRefusal();
    if (refused) return refused;
    return this.openCall(async () => {
      const o = await assist.assistStart(c);
      if (o.ok) this.events.emit('assist_started', { assistId: String(o.body?.assist_id ?? ''), reason: c.reason ?? 'command', failedChecks: c.failed_checks ?? [] });
      return o;
    });
  }

  /** Asks for an operator (quality failure, the Help button); false when refused. */
  async requestAssist(req: AssistRequest): Promise<boolean> {
    const assist = this.assist;
    const refused = this.callRefusal();
    if (!assist || refused) {
      this.log.warn({ reason: req.reason, refused: refused?.detail ?? 'remote assistance is not running' }, 'remote assistance not requested');
      return false;
    }
    try {
      await this.openCall(async () => {
        const { assistId } = await assist.request(req);
        this.events.emit('assist_started', { assistId, reason: req.reason ?? 'request', failedChecks: req.failedChecks ?? [] });
      });
      return true;
    } catch (err) {
      this.log.warn({ err: toKioskError(err).toJSON(), reason: req.reason }, 'remote assistance request failed');
      return false;
    }
  }

  private callRefusal(): CommandOutcome & { ok: false } | undefined {
    if (!this.inService) return { ok: false, reason: 'out_of_service', detail: 'the kiosk is out of service' };
    if (this.assist?.busy || this.callOpening) return { ok: false, reason: 'busy', detail: 'a remote-assistance call is already open' };
    if (this.sessions.busy) return { ok: false, reason: 'busy', detail: 'a session is using the camera' };
    return undefined;
  }

  /** Starts the camera for a call when it only runs during sessions; no session starts meanwhile. */
  private async openCall<T>(open: () => Promise<T>): Promise<T> {
    this.callOpening = true;
    let started = false;
    try {
      if (this.deps.config.camera.capture === 'session' && !this.deps.camera.stats().running) {
        await this.deps.camera.start();
        started = true;
      }
      const out = await open();
      if (started) {
        if (this.assist?.busy) this.cameraForCall = true;
        else await this.deps.camera.stop().catch(() => undefined);
      }
      return out;
    } catch (err) {
      if (started) await this.deps.camera.stop().catch(() => undefined);
      throw err;
    } finally {
      this.callOpening = false;
    }
  }

  private onSessionFinished(r: SessionResult, s: { sessionId: string; nonce: string }): NextStep | void {
    this.lastResult = r;
    this.verdicts[r.verdict]++;
    const help = this.helpAfterSession;
    this.helpAfterSession = false;
    const quality = r.verdict === 'retry' && r.reasons.includes('quality');
    if (!this.assist || !(help || quality)) return undefined;
    const req: AssistRequest = { nonce: s.nonce, sessionId: s.sessionId, failedChecks: [...r.reasons], reason: help ? 'customer_button' : 'quality' };
    // The call opens once the session has let go of the camera.
    void this.sessions.idle().then(() => this.requestAssist(req));
    return 'see_staff';
  }

  private onScreenAction(m: PageMessage): void {
    if (m.type === 'cancel') {
      this.log.info('the customer cancelled on the screen');
      this.sessions.abort('customer_left');
    } else if (m.type === 'help') {
      if (!this.assist) {
        this.log.info('the customer asked for help (remote assistance is not enabled)');
      } else if (this.sessions.busy) {
        this.log.info('the customer asked for help: the session ends and an operator is called');
        this.helpAfterSession = true;
        this.sessions.abort('operator');
      } else {
        this.log.info('the customer asked for help: calling an operator');
        void this.requestAssist({ nonce: drawNonce(), failedChecks: [], reason: 'customer_button' });
      }
    }
  }

  /** A carrier `start_session`: the command's nonce and reference. */
  async startSession(c: { nonce: string; session_id?: string; expires_at?: number; reference?: string }): Promise<CommandOutcome> {
    if (c.expires_at !== undefined && c.expires_at * 1000 < Date.now()) return { ok: false, reason: 'expired', detail: 'the start_session command has expired' };
    clearTimeout(this.presenceTimer);
    return this.sessions.request({ trigger: 'command', nonce: c.nonce, reference: c.reference, sessionId: c.session_id });
  }

  /** The carrier's `clear_alarm`: back in service once the enclosure is closed. */
  async clearAlarm(): Promise<CommandOutcome> {
    if (this.outOfService === null) return { ok: true, body: { state: 'in_service' } };
    if (this.kiosk.tampered) return { ok: false, reason: 'still_open', detail: 'the enclosure is still open' };
    if (this.keyDestroyed) return { ok: false, reason: 'out_of_service', detail: 'the device key was destroyed: provision the kiosk again' };
    this.outOfService = null;
    this.deps.ledger.setState(OUT_OF_SERVICE, undefined);
    this.kiosk.setStatus('idle');
    this.events.emit('in_service', {});
    return { ok: true, body: { state: 'in_service' } };
  }

  private wireKiosk(): void {
    const k = this.kiosk.events;
    const { config } = this.deps;
    const on = (e: keyof KioskEvents, fn: (...a: never[]) => void) => {
      const listener = fn as (...a: unknown[]) => void;
      (k as EventEmitter).on(e, listener);
      this.undo.push(() => (k as EventEmitter).off(e, listener));
    };
    on('arrived', () => {
      this.events.emit('arrived', {});
      if (!config.flow.presenceStartsSession || this.sessions.busy || !this.inService) return;
      clearTimeout(this.presenceTimer);
      this.presenceTimer = setTimeout(() => {
        if (!this.kiosk.present || this.sessions.busy) return;
        void this.sessions.request({ trigger: 'presence' }).then((o) => {
          if (!o.ok) this.log.warn({ reason: o.reason, detail: o.detail }, 'customer arrived but no session could start');
        });
      }, config.flow.carrierNonceWaitMs);
    });
    on('left', () => {
      clearTimeout(this.presenceTimer);
      this.events.emit('left', {});
      if (!this.sessions.busy) this.screen?.show({ type: 'reset' });
      if (config.flow.cancelOnLeave) this.sessions.abort('customer_left');
    });
    on('tamper', (e: { open: boolean }) => void this.onTamper(e.open));
    on('cassette', (e: { empty: boolean }) => this.events.emit('cassette', { empty: e.empty }));
    on('jam', (e: { active: boolean }) => this.events.emit('jam', { active: e.active }));
    on('fault', (e: { error: Error }) => this.log.warn({ err: toKioskError(e.error).toJSON() }, 'kiosk output fault'));
  }

  private async onTamper(open: boolean): Promise<void> {
    this.events.emit('tamper', { open });
    if (!open) return;
    this.sessions.abort('tamper');
    clearTimeout(this.presenceTimer);
    if (this.outOfService === null) {
      this.outOfService = 'tamper';
      this.deps.ledger.setState(OUT_OF_SERVICE, 'tamper');
      this.events.emit('out_of_service', { reason: 'tamper' });
    }
    this.kiosk.setStatus('out_of_service');
    if (this.deps.config.tamper.destroyFileKey && this.deps.keyFile && !this.keyDestroyed) await this.destroyKey(this.deps.keyFile);
  }

  /** Overwrites (best effort: flash and journals may keep copies) and deletes the file key. */
  private async destroyKey(path: string): Promise<void> {
    try {
      const fh = await open(path, 'r+');
      try {
        const { size } = await fh.stat();
        await fh.write(Buffer.alloc(size), 0, size, 0);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await unlink(path);
      await this.deps.keyStore.stop();
      this.keyDestroyed = true;
      this.log.error({ path }, 'tamper: the device key file was destroyed; the kiosk must be provisioned again');
      this.events.emit('key_destroyed', { path });
    } catch (err) {
      this.log.error({ err: toKioskError(err, 'E_KEY_STORE', path).toJSON() }, 'tamper: could not destroy the key file');
    }
  }

  private wireCamera(): void {
    const ev = this.deps.camera.events;
    const states = ['started', 'exited', 'restarting', 'stalled', 'unplugged', 'replugged', 'failed', 'ended'] as const;
    for (const state of states) {
      const fn = (p?: { reason?: string; error?: Error }) => {
        const reason = p?.reason ?? p?.error?.message;
        if (state !== 'started') this.log.warn({ state, reason }, `camera ${state}`);
        this.events.emit('camera', { state, ...(reason ? { reason } : {}) });
      };
      (ev as EventEmitter).on(state, fn);
      this.undo.push(() => (ev as EventEmitter).off(state, fn));
    }
  }

  private startTimers(): void {
    const { config, notifier } = this.deps;
    this.timers.push(setInterval(() => this.tick(), 1000));
    const wd = notifier.watchdogIntervalMs();
    if (wd !== undefined && config.health.watchdog) {
      this.timers.push(setInterval(() => {
        const h = this.healthNow();
        if (h.frameLoop.ok && h.transport.ok) void notifier.watchdog().catch(() => undefined);
      }, wd));
    }
    if (this.deps.transport) {
      this.timers.push(setInterval(() => void this.telemetry(), config.health.telemetryIntervalMs));
    }
  }

  private tick(): void {
    const s = this.deps.camera.stats();
    if (s.captured !== this.lastCaptured || s.captured < this.lastCaptured) this.lastFrameAt = Date.now();
    this.lastCaptured = s.captured;
    const line = this.statusLine();
    if (line !== this.lastStatus) {
      this.lastStatus = line;
      void this.deps.notifier.status(line).catch(() => undefined);
    }
  }

  private statusLine(): string {
    const h = this.healthNow();
    if (this.outOfService) return `out of service (${this.outOfService}); waiting for the carrier's clear_alarm`;
    if (!h.frameLoop.ok) return `unhealthy: camera ${h.frameLoop.reason}`;
    if (!h.transport.ok) return `unhealthy: transport ${h.transport.reason}`;
    return this.sessions.busy ? `session running (${this.sessions.sessionId ?? 'starting'})` : `idle; transport ${h.transport.reason}`;
  }

  private healthNow(): Pick<HealthSnapshot, 'frameLoop' | 'transport'> {
    const { config, camera, transport } = this.deps;
    const s = camera.stats();
    let frameLoop: HealthSnapshot['frameLoop'];
    if (config.camera.capture === 'session' && !this.sessions.busy) frameLoop = { ok: true, reason: 'idle (camera runs during sessions)' };
    else if (!s.running) frameLoop = { ok: false, reason: 'not capturing' };
    else if (Date.now() - this.lastFrameAt > config.health.frameStallMs) frameLoop = { ok: false, reason: `no frame for ${Math.round((Date.now() - this.lastFrameAt) / 1000)} s` };
    else frameLoop = { ok: true, reason: 'capturing' };
    const online = transport !== undefined && this.online && transport.online;
    const offlineMs = this.offlineSince === null ? 0 : Date.now() - this.offlineSince;
    const t = !transport ? { ok: true, reason: 'no broker configured' }
      : online ? { ok: true, reason: 'online' }
      : offlineMs <= config.health.transportGraceMs ? { ok: true, reason: `offline for ${Math.round(offlineMs / 1000)} s` }
      : { ok: false, reason: `offline for ${Math.round(offlineMs / 1000)} s` };
    return { frameLoop, transport: { ...t, configured: transport !== undefined, online } };
  }

  /** Everything /health, /metrics and telemetry report. */
  async snapshot(): Promise<HealthSnapshot> {
    const { camera, config, outbox } = this.deps;
    const h = this.healthNow();
    const s = camera.stats();
    const id = camera.identity;
    const mem = process.memoryUsage();
    const a = this.lastResult?.timings.analyzeMs;
    return {
      healthy: h.frameLoop.ok && h.transport.ok,
      ...h,
      inService: this.inService,
      outOfServiceReason: this.outOfService,
      session: { running: this.sessions.busy, id: this.sessions.sessionId ?? null },
      camera: { running: s.running, fps: s.fps, captured: s.captured, dropped: s.dropped, restarts: s.restarts, latencyMs: Math.round(s.latencyMs.mean * 10) / 10, identity: id ? `${id.kind}:${id.card ?? id.driver ?? id.device}` : null },
      inference: { analyzeMedianMs: a?.median ?? null, analyzeP95Ms: a?.p95 ?? null },
      sessions: { ...this.verdicts },
      dispenses: { dispensed: this.dispenser.dispensed, failed: this.dispenser.failed },
      outbox: await outbox.stats(),
      eventsQueued: this.publisher.queued,
      cpuTemperatureC: await cpuTemperature(config.health.thermalPath),
      memory: { rssBytes: mem.rss, heapUsedBytes: mem.heapUsed },
      disk: { freeBytes: await diskFree(config.stateDir) },
      uptimeS: Math.round((Date.now() - this.startedAt) / 1000),
    };
  }

  private async telemetry(): Promise<void> {
    try {
      const s = await this.snapshot();
      await this.deps.transport?.telemetry({
        fps: s.camera.fps, framesDropped: s.camera.dropped, cameraRestarts: s.camera.restarts,
        inferenceMs: s.inference.analyzeMedianMs, cpuTemperatureC: s.cpuTemperatureC,
        memoryRssBytes: s.memory.rssBytes, diskFreeBytes: s.disk.freeBytes, outboxDepth: s.outbox.pending,
        inService: s.inService, healthy: s.healthy, uptimeS: s.uptimeS,
      });
    } catch (err) {
      this.log.debug({ err: toKioskError(err).toJSON() }, 'telemetry not sent');
    }
  }
}

