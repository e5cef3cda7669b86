/**
 * The daemon: the one composition root that wires camera, face engine, session runner, signer,
 * outbox, transport, command router and kiosk hardware. Everything is passed in (`DaemonDeps`,
 * built from config by `build.ts`); `start()` does the I/O in dependency order, `stop()` undoes it
 * in reverse and releases every listener, timer and child process.
 *
 * The parts live beside it: health figures, STATUS/WATCHDOG and telemetry (health-snapshot.ts);
 * presence, tamper and camera inputs (kiosk-wiring.ts); out of service after tamper (tamper.ts); the
 * customer screen (screen-wiring.ts, `screen.enabled`); remote assistance (assist-wiring.ts,
 * `assist.enabled`: `deps.assist` builds the AssistService, which alone loads `@roamhq/wrtc`, so a
 * daemon without it never loads the module); certificate renewal (renewal-wiring.ts,
 * `renewal.enabled` with a broker).
 */
import { EventEmitter } from 'node:events';
import type { FrameSource } from '../../device/camera/frame-source.js';
import type { GpioPort } from '../../device/gpio/gpio-port.js';
import { FakeGpioPort } from '../../device/gpio/fake-gpio.js';
import { KioskHardware } from '../../device/kiosk/kiosk.js';
import type { SystemdNotifier } from '../../device/systemd/notify.js';
import type { FaceEngine, EngineInfo } from '../../models/engine.js';
import type { Measurement } from '../../protocol/eat.js';
import type { KeyStore } from '../../base/keys/key-store.js';
import type { x509 } from '../../base/keys/x509.js';
import { commonName } from '../../base/keys/x509.js';
import type { AssistRequest } from '../assist/service.js';
import type { KioskConfig } from '../config/types.js';
import { toKioskError } from '../../base/errors.js';
import type { Logger } from '../../base/log.js';
import type { Outbox } from '../outbox/outbox.js';
import { OutboxRelay } from '../outbox/relay.js';
import { agentVersion } from '../../base/paths.js';
import type { NextStep, PageMessage } from '../screen/protocol.js';
import type { CustomerScreen } from '../screen/server.js';
import { AbuseLimiter } from '../session/abuse-limiter.js';
import type { SessionResult } from '../session/types.js';
import { CommandRouter, type AssistStart, type CommandHandlers, type CommandOutcome } from '../transport/commands.js';
import type { MqttTransport } from '../transport/mqtt-transport.js';
import { ResultSigner } from '../../provisioning/result-signer.js';
import { AssistWiring, type AssistLike } from './assist-wiring.js';
import { DispenseController } from './dispense.js';
import { MemoryEventQueue, type EventQueue } from './event-queue.js';
import { EventPublisher, type DaemonEvents } from './events.js';
import { HealthServer, type HealthSnapshot } from './health.js';
import { DaemonHealth } from './health-snapshot.js';
import { KioskWiring } from './kiosk-wiring.js';
import type { Ledger } from './ledger.js';
import { RenewalWiring, type CertificateRenewal } from './renewal-wiring.js';
import { createCustomerScreen, screenActions } from './screen-wiring.js';
import { SessionController } from './session-controller.js';
import { autoConfirm, simRoutes } from './sim.js';
import { TamperAlarm } from './tamper.js';

export type { AssistLike } from './assist-wiring.js';

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
  /** Where events wait for the broker (`<stateDir>/events.db` from build.ts); default in memory. */
  eventQueue?: EventQueue;
  ledger: Ledger;
  notifier: SystemdNotifier;
  /**
   * Remote assistance (`assist.enabled`): builds the service once the device's result signer
   * exists. build.ts imports agent/assist only inside this factory.
   */
  assist?: AssistFactory;
  /** Certificate renewal (`renewal.enabled` with a broker): started after the transport, stopped before it. */
  renewal?: CertificateRenewal;
}

/** `signer` signs with the daemon's current certificate (the renewed one after a renewal). */
export type AssistFactory = (ctx: { signer: Pick<ResultSigner, 'sign'> }) => Promise<AssistLike>;

export class KioskDaemon {
  readonly events = new EventEmitter<DaemonEvents>();
  readonly kiosk: KioskHardware;
  readonly sessions: SessionController;
  readonly dispenser: DispenseController;
  /** The customer screen (`screen.enabled`). */
  readonly screen?: CustomerScreen;
  private signer?: ResultSigner;
  private router?: CommandRouter;
  private relay?: OutboxRelay;
  private publisher: EventPublisher;
  private readonly eventQueue: EventQueue;
  private http?: HealthServer;
  private undo: Array<() => void> = [];
  private readonly log: Logger;
  private readonly health: DaemonHealth;
  private readonly tamper: TamperAlarm;
  private readonly inputs: KioskWiring;
  private readonly assist: AssistWiring;
  private readonly onScreenAction: (m: PageMessage) => void;
  private readonly renewal?: RenewalWiring;
  /** The device certificate in use (replaced when renewed). */
  private certificate: x509.X509Certificate;
  private measurements: Measurement[] = [];

  constructor(private readonly deps: DaemonDeps) {
    const { config } = deps;
    this.log = deps.logger.child({ component: 'daemon' });
    this.certificate = deps.certificate;
    this.kiosk = new KioskHardware({
      gpio: deps.gpio,
      pins: config.gpio.pins,
      timings: { ...config.kiosk, pulseMs: config.dispenser.pulseMs, confirmTimeoutMs: config.dispenser.confirmTimeoutMs },
    });
    const inService = () => this.tamper.inService;
    this.assist = new AssistWiring({
      config,
      camera: deps.camera,
      sessions: () => this.sessions,
      ledger: deps.ledger,
      bus: this.events,
      inService,
      logger: this.log,
      screen: () => this.screen,
    });
    this.onScreenAction = screenActions({ sessions: () => this.sessions, help: () => this.assist.customerHelp(), logger: this.log });
    this.screen = createCustomerScreen(config, deps.logger, (m) => this.onScreenAction(m));
    this.sessions = new SessionController({
      config,
      engine: deps.engine,
      camera: deps.camera,
      kiosk: this.kiosk,
      outbox: deps.outbox,
      ledger: deps.ledger,
      signer: () => this.signer!,
      resultTopic: this.resultTopic(),
      abuse: new AbuseLimiter(config.abuse),
      bus: this.events,
      logger: deps.logger.child({ component: 'session' }),
      inService,
      onFinished: (r, _jti, s) => this.onSessionFinished(r, s),
      screen: this.screen,
      blocked: () => this.assist.blocksSession(),
    });
    this.dispenser = new DispenseController({
      kiosk: this.kiosk,
      ledger: deps.ledger,
      authorizeWithinMs: config.dispenser.authorizeWithinMs,
      bus: this.events,
      logger: deps.logger.child({ component: 'dispense' }),
      inService,
    });
    this.eventQueue = deps.eventQueue ?? new MemoryEventQueue();
    this.publisher = new EventPublisher({
      bus: this.events,
      transport: deps.transport,
      queue: this.eventQueue,
      logger: deps.logger.child({ component: 'events' }),
      backoff: { baseMs: 500, capMs: 10_000 },
    });
    this.tamper = new TamperAlarm({
      ledger: deps.ledger,
      kiosk: this.kiosk,
      sessions: this.sessions,
      keyStore: deps.keyStore,
      keyFile: deps.keyFile,
      destroyFileKey: config.tamper.destroyFileKey,
      bus: this.events,
      cancelPresence: () => this.inputs.cancelPresence(),
      logger: this.log,
    });
    this.inputs = new KioskWiring({
      config,
      kiosk: this.kiosk,
      camera: deps.camera,
      sessions: this.sessions,
      screen: this.screen,
      bus: this.events,
      inService,
      onTamper: (open) => this.tamper.onTamper(open),
      logger: this.log,
    });
    this.health = new DaemonHealth({
      config,
      camera: deps.camera,
      transport: deps.transport,
      notifier: deps.notifier,
      outbox: deps.outbox,
      sessions: this.sessions,
      dispenser: this.dispenser,
      eventsQueued: () => this.publisher.queued,
      eventsDropped: () => this.publisher.dropped,
      outOfService: () => this.tamper.reason,
      certificate: () => this.certificate,
      logger: this.log,
    });
    if (deps.renewal) {
      this.renewal = new RenewalWiring({
        renewal: deps.renewal,
        transport: deps.transport,
        bus: this.events,
        onRenewed: (c) => this.renewed(c),
        logger: deps.logger.child({ component: 'renewal' }),
      });
    }
  }

  /** Port of the local HTTP server (health, metrics, simulator). */
  get httpPort(): number | undefined {
    return this.http?.port;
  }

  get inService(): boolean {
    return this.tamper.inService;
  }

  private resultTopic(): string {
    return `${this.deps.config.transport.topicPrefix}${this.deps.config.deviceId}/result`;
  }

  async start(): Promise<void> {
    const { config } = this.deps;
    const deps = this.deps;
    this.health.markStarted();
    await deps.ledger.start();
    await deps.outbox.start();
    await this.eventQueue.start();
    await deps.keyStore.start();
    const info = await deps.engine.start();
    const cn = commonName(deps.certificate);
    if (cn !== config.deviceId) {
      if (deps.transport)
        throw toKioskError(new Error(`the device certificate names ${cn}, the config deviceId is ${config.deviceId}`), 'E_CONFIG_INVALID', 'deviceId');
      this.log.warn({ cn, deviceId: config.deviceId }, 'the certificate CN differs from deviceId');
    }
    this.measurements = [{ id: 'kiosk-agent', version: agentVersion() }, ...info.models.map((m) => ({ id: m.id, sha256: m.sha256 }))];
    this.useCertificate(deps.certificate);
    this.tamper.load();
    // Before the inputs: kiosk.start() reports an enclosure already open, and that alarm must be stored.
    this.publisher.start();
    this.inputs.start();
    this.undo.push(() => this.inputs.stop());
    await this.kiosk.start();
    if (!this.tamper.inService) this.kiosk.setStatus('out_of_service');
    if (config.camera.capture === 'always') await deps.camera.start();
    if (this.screen) await this.screen.start();
    if (deps.assist) this.useAssist(await deps.assist({ signer: { sign: (nonce, result) => this.signer!.sign(nonce, result) } }));
    if (deps.transport) {
      const transport = deps.transport;
      this.router = new CommandRouter({
        transport,
        logger: deps.logger.child({ component: 'commands' }),
        resultVerdict: async (jti) => deps.ledger.verdict(jti),
        handlers: this.commandHandlers(),
      });
      await this.router.start();
      this.relay = new OutboxRelay({
        outbox: deps.outbox,
        transport,
        logger: deps.logger.child({ component: 'relay' }),
        backoff: { baseMs: 500, capMs: 10_000 },
      });
      await this.relay.start();
      // Online once the transport says so with its event: that comes after the command subscription.
      this.undo.push(this.health.watchTransport());
      await transport.start();
      // Its own MQTT connection: not awaited, so that an unreachable broker does not hold up the start.
      this.assist.startInBackground();
    } else {
      this.log.warn('no broker configured (transport.url empty): signed results are kept in the outbox');
    }
    await this.renewal?.start();
    if (config.simulate && deps.gpio instanceof FakeGpioPort) this.undo.push(autoConfirm(deps.gpio, config.sim.autoConfirmMs, this.log));
    if (config.health.httpPort !== 0 || config.simulate) {
      const inputs = Object.entries(config.gpio.pins)
        .filter(([, p]) => p.direction === 'in')
        .map(([n]) => n);
      this.http = new HealthServer({
        port: config.health.httpPort,
        logger: this.log,
        snapshot: () => this.snapshot(),
        routes: config.simulate && deps.gpio instanceof FakeGpioPort ? simRoutes(deps.gpio, inputs) : {},
      });
      await this.http.start();
      this.log.info(
        { url: `http://127.0.0.1:${this.http.port}`, routes: config.simulate ? ['/metrics', '/health', '/sim/*'] : ['/metrics', '/health'] },
        'local HTTP server (loopback only)',
      );
    }
    this.health.start();
    await this.deps.notifier.ready(this.health.statusLine()).catch((err) => this.log.warn({ err: toKioskError(err).toJSON() }, 'sd_notify READY failed'));
    this.log.info({ deviceId: config.deviceId, simulate: config.simulate, inService: this.inService }, 'kiosk agent running');
  }

  async stop(): Promise<void> {
    const d = this.deps;
    await d.notifier.stopping('stopping').catch(() => undefined);
    this.health.stop();
    this.inputs.cancelPresence();
    this.sessions.abort('shutdown');
    await this.sessions.idle();
    for (const u of this.undo.splice(0).reverse()) u();
    await this.renewal?.stop();
    await this.assist.stop();
    await this.screen?.stop();
    await this.http?.stop();
    await this.router?.stop();
    // Each waits for its publish in flight, bounded: over a connection that died without closing no
    // PUBACK comes, and what is not acknowledged stays stored (outbox.db, events.db) for the next start.
    await Promise.all([this.relay?.stop(), this.publisher.stop()]);
    await d.transport?.stop();
    await d.camera.stop().catch(() => undefined);
    await this.kiosk.stop().catch((err) => this.log.warn({ err: toKioskError(err).toJSON() }, 'kiosk hardware stop failed'));
    await d.engine.stop();
    await d.keyStore.stop();
    await d.outbox.stop();
    await this.eventQueue.stop();
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
    if (this.assist.enabled) handlers.assist_start = async (c) => this.assistStart(c);
    return handlers;
  }

  /**
   * Wires remote assistance (assist-wiring.ts): its events become daemon events, and an operator's
   * decision is recorded in the ledger. `start()` calls it with the factory's service; tests with a fake.
   */
  useAssist(assist: AssistLike): void {
    this.assist.use(assist);
  }

  /** The carrier's `assist_start`. */
  async assistStart(c: AssistStart): Promise<CommandOutcome> {
    return this.assist.assistStart(c);
  }

  /** Asks for an operator (quality failure, the Help button); false when refused. */
  async requestAssist(req: AssistRequest): Promise<boolean> {
    return this.assist.request(req);
  }

  /** A carrier `start_session`: the command's nonce and reference. */
  async startSession(c: { nonce: string; session_id?: string; expires_at?: number; reference?: string }): Promise<CommandOutcome> {
    if (c.expires_at !== undefined && c.expires_at * 1000 < Date.now())
      return { ok: false, reason: 'expired', detail: 'the start_session command has expired' };
    this.inputs.cancelPresence();
    return this.sessions.request({ trigger: 'command', nonce: c.nonce, reference: c.reference, sessionId: c.session_id });
  }

  /** The carrier's `clear_alarm`: back in service once the enclosure is closed. */
  async clearAlarm(): Promise<CommandOutcome> {
    return this.tamper.clearAlarm();
  }

  /** Everything /health, /metrics and telemetry report. */
  async snapshot(): Promise<HealthSnapshot> {
    return this.health.snapshot();
  }

  /** Signs results with `certificate` from now on (at start, and after a renewal). */
  private useCertificate(certificate: x509.X509Certificate): void {
    this.certificate = certificate;
    this.signer = new ResultSigner({ keyStore: this.deps.keyStore, certificate, measurements: this.measurements });
  }

  /** A renewed certificate: results are signed with it, and the assist connection is remade with it. */
  private renewed(certificate: x509.X509Certificate): void {
    this.useCertificate(certificate);
    this.assist.reconnect();
  }

  private onSessionFinished(r: SessionResult, s: { sessionId: string; nonce: string }): NextStep | undefined {
    this.health.recordResult(r);
    return this.assist.afterSession(r, s);
  }
}
