/**
 * The composition root: the one function that builds the daemon's object graph from the validated
 * config and the adapters `build.ts` made (camera, GPIO, key store, transport, outbox, ledger...).
 * Every collaborator is built here, in dependency order, and handed what it uses; where two parts
 * talk both ways the later one registers with the earlier (session hooks, screen actions), so no
 * part holds a getter for something built after it. The daemon (daemon.ts) gets the components in
 * start order and owns only their lifecycle; a simulated kiosk adds its extras (`DaemonExtras`) from
 * the outside (agent/cli/run.ts).
 *
 * Start order (stop is the reverse): stores -> engine -> signer -> service state -> event publisher
 * -> tamper and kiosk inputs -> kiosk hardware -> camera -> screen -> remote assistance -> commands,
 * relay, transport -> certificate renewal -> extras -> sessions -> local HTTP -> health timers ->
 * systemd READY. Sessions open only once everything they use runs, and close first at shutdown.
 */
import { EventEmitter } from 'node:events';
import type { KeyStore } from '../../base/keys/key-store.js';
import type { x509 } from '../../base/keys/x509.js';
import type { Logger } from '../../base/log.js';
import { toKioskError } from '../../base/errors.js';
import type { FrameSource } from '../../device/camera/frame-source.js';
import type { GpioPort } from '../../device/gpio/gpio-port.js';
import { KioskHardware } from '../../device/kiosk/kiosk.js';
import type { SystemdNotifier } from '../../device/systemd/notify.js';
import type { EngineInfo, FaceEngine } from '../../models/engine.js';
import type { KioskConfig } from '../config/types.js';
import type { Outbox } from '../outbox/outbox.js';
import { OutboxRelay } from '../outbox/relay.js';
import { AbuseLimiter } from '../session/abuse-limiter.js';
import { CommandAuthenticator } from '../transport/command-auth.js';
import { CommandRouter, type CommandHandlers } from '../transport/commands.js';
import type { MqttTransport } from '../transport/mqtt-transport.js';
import { AssistWiring, type AssistLike } from './assist-wiring.js';
import { CurrentSigner } from './current-signer.js';
import { KioskDaemon } from './daemon.js';
import { DispenseBinding } from './dispense-binding.js';
import { DispenseController } from './dispense.js';
import { MemoryEventQueue, type EventQueue } from './event-queue.js';
import { EventPublisher, type DaemonEvents } from './events.js';
import { HealthServer, type Route } from './health.js';
import { DaemonHealth } from './health-snapshot.js';
import { KioskWiring } from './kiosk-wiring.js';
import type { Ledger } from './ledger.js';
import type { Component } from './lifecycle.js';
import { RenewalWiring, type CertificateRenewal } from './renewal-wiring.js';
import type { DocumentSetup } from './document-wiring.js';
import { UpdateWiring, type UpdateWiringDeps } from './update-wiring.js';
import { cameraPageReader } from './page-reader.js';
import { createCustomerScreen, screenActions } from './screen-wiring.js';
import { SessionController } from './session-controller.js';
import { ServiceState, TamperAlarm } from './tamper.js';

/** The adapters the daemon is built from (build.ts makes them from config; tests give stand-ins). */
export interface DaemonDeps {
  config: KioskConfig;
  logger: Logger;
  engine: Pick<FaceEngine, 'analyze' | 'decide' | 'info'> & { start(): Promise<EngineInfo>; stop(): Promise<void> };
  camera: FrameSource;
  gpio: GpioPort;
  keyStore: KeyStore;
  /** The file behind a file key store (the key store itself destroys it on tamper). */
  keyFile?: string;
  /** The TLS identity the transport connects with (build.ts); tamper wipes its key from memory. */
  identity?: { destroy(): void };
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
  /** The identity-document reader (`document.reader`): the reference is then read from the chip. */
  document?: DocumentSetup;
  /** Fleet updates (`update.enabled`): the model self-test and the release sources (update-wiring.ts). */
  update?: Pick<UpdateWiringDeps, 'selfTest' | 'stagers'>;
}

/** `signer` signs with the daemon's current certificate (the renewed one after a renewal). */
export type AssistFactory = (ctx: { signer: Pick<CurrentSigner, 'sign'> }) => Promise<AssistLike>;

/** What a simulated kiosk adds from the outside (agent/cli/run.ts): local API routes and components. */
export interface DaemonExtras {
  /** Extra routes of the loopback HTTP server (`METHOD /path`). */
  routes?: Record<string, Route>;
  /** Started after the transport and renewal, stopped before them. */
  components?: Component[];
  /** Ends the process for systemd to start it again (after an update's switch or rollback; run.ts exits 75). */
  restart?: (why: string) => void;
}

/** Builds the daemon from its adapters. Nothing is started: `daemon.start()` does the I/O. */
export function composeDaemon(deps: DaemonDeps, extras: DaemonExtras = {}): KioskDaemon {
  const { config, logger, transport } = deps;
  const log = logger.child({ component: 'daemon' });
  const bus = new EventEmitter<DaemonEvents>();
  const eventQueue = deps.eventQueue ?? new MemoryEventQueue();
  const backoff = { baseMs: config.transport.backoffBaseMs, capMs: config.transport.backoffCapMs };

  const signer = new CurrentSigner({
    keyStore: deps.keyStore,
    certificate: deps.certificate,
    engine: deps.engine,
    deviceId: config.deviceId,
    audience: config.transport.audience,
    strictDeviceId: Boolean(transport),
    logger: log,
  });
  const service = new ServiceState(deps.ledger);
  const inService = () => service.inService;
  const kiosk = new KioskHardware({
    gpio: deps.gpio,
    pins: config.gpio.pins,
    timings: { ...config.kiosk, pulseMs: config.dispenser.pulseMs, confirmTimeoutMs: config.dispenser.confirmTimeoutMs },
  });
  const screen = createCustomerScreen(config, logger);
  const sessions = new SessionController({
    config,
    engine: deps.engine,
    camera: deps.camera,
    kiosk,
    outbox: deps.outbox,
    ledger: deps.ledger,
    signer,
    resultTopic: `${config.transport.topicPrefix}${config.deviceId}/result`,
    abuse: new AbuseLimiter(config.abuse),
    bus,
    logger: logger.child({ component: 'session' }),
    inService,
    screen,
    // document.reader "pcsc" needs the screen (config refuses it without): the MRZ is entered there.
    ...(deps.document
      ? {
          document: {
            ...deps.document,
            prompt: screen,
            ...(config.document.pageFromCamera
              ? {
                  readPage: cameraPageReader({
                    camera: deps.camera,
                    ownsCamera: config.camera.capture === 'session',
                    timeoutMs: config.document.pageTimeoutMs,
                  }),
                }
              : {}),
          },
        }
      : {}),
  });
  const assist = new AssistWiring({ config, camera: deps.camera, sessions, ledger: deps.ledger, bus, inService, logger: log, screen });
  const binding = new DispenseBinding({ bus, ledger: deps.ledger, present: () => kiosk.present, logger: logger.child({ component: 'dispense' }) });
  const dispenser = new DispenseController({
    kiosk,
    ledger: deps.ledger,
    binding,
    authorizeWithinMs: config.dispenser.authorizeWithinMs,
    bus,
    logger: logger.child({ component: 'dispense' }),
    inService,
  });
  const publisher = new EventPublisher({ bus, transport, queue: eventQueue, logger: logger.child({ component: 'events' }), backoff });
  const update = deps.update
    ? new UpdateWiring({
        config,
        bus,
        ...deps.update,
        busy: () =>
          sessions.busy ? 'a session is running' : dispensing > 0 ? 'a SIM is being dispensed' : kiosk.present ? 'a customer is at the kiosk' : undefined,
        online: () => transport?.online ?? false,
        eventsQueued: () => publisher.queued,
        restart: extras.restart ?? ((why) => log.error({ why }, 'a restart is needed and nothing can restart this process')),
        logger: logger.child({ component: 'update' }),
      })
    : undefined;
  let dispensing = 0;
  bus.on('dispense_started', () => dispensing++);
  bus.on('dispensed', () => (dispensing = Math.max(0, dispensing - 1)));
  bus.on('dispense_failed', () => (dispensing = Math.max(0, dispensing - 1)));

  const inputs = new KioskWiring({ config, kiosk, camera: deps.camera, sessions, screen, bus, inService, logger: log });
  const tamper = new TamperAlarm({
    service,
    kiosk,
    sessions,
    keyStore: deps.keyStore,
    identity: deps.identity,
    // The transport is the one connection made with the device identity (assistance and renewal use it).
    connections: transport ? [transport] : [],
    destroyKey: config.tamper.destroyFileKey,
    // The alarm (tamper, out_of_service, key_destroyed) goes out over the live connection before it closes.
    alarmsSent: () => publisher.idle(),
    bus,
    cancelPresence: () => inputs.cancelPresence(),
    logger: log,
  });
  const health = new DaemonHealth({
    config,
    camera: deps.camera,
    transport,
    notifier: deps.notifier,
    outbox: deps.outbox,
    sessions,
    dispenser,
    eventsQueued: () => publisher.queued,
    eventsDropped: () => publisher.dropped,
    outOfService: () => service.reason,
    certificate: () => signer.certificate,
    ...(update ? { update: () => update.status() } : {}),
    logger: log,
  });
  const renewal = deps.renewal
    ? new RenewalWiring({
        renewal: deps.renewal,
        transport,
        bus,
        onRenewed: (certificate) => {
          signer.use(certificate);
          assist.reconnect();
        },
        logger: logger.child({ component: 'renewal' }),
      })
    : undefined;

  // The two-way links, registered by the later part with the earlier one.
  const sessionFinished = (r: Parameters<typeof health.recordResult>[0], _jti: string | null, s: { sessionId: string; nonce: string }) => {
    health.recordResult(r);
    return assist.afterSession(r, s);
  };
  sessions.addHooks({ blocked: () => assist.blocksSession(), finished: sessionFinished });
  binding.listen();
  const screenAction = screenActions({ sessions, help: () => assist.customerHelp(), logger: log });
  screen?.actions.on('action', screenAction);

  const commands = (): CommandHandlers => {
    const handlers: CommandHandlers = {
      start_session: async (c) => {
        if (c.expires_at !== undefined && c.expires_at * 1000 < Date.now())
          return { ok: false, reason: 'expired', detail: 'the start_session command has expired' };
        inputs.cancelPresence();
        return sessions.request({ trigger: 'command', nonce: c.nonce, reference: c.reference, sessionId: c.session_id });
      },
      authorize_dispense: async (c) => dispenser.authorize(c),
      config: async () => ({ ok: false, reason: 'handler_error', detail: 'settings are changed in the config file (restart needed); not over MQTT' }),
      clear_alarm: async () => tamper.clearAlarm(),
    };
    if (assist.enabled) handlers.assist_start = async (c) => assist.assistStart(c);
    if (update) handlers.update = async (c) => update.handle(c);
    return handlers;
  };

  // A simulated kiosk always gets one (health.httpPort 0: any free port), for its /sim/* routes.
  // Extra routes (the simulator's controls) exist only on a simulated kiosk, whoever passes them.
  const localRoutes = config.simulate ? (extras.routes ?? {}) : {};
  const http =
    config.health.httpPort !== 0 || config.simulate
      ? new HealthServer({ port: config.health.httpPort, logger: log, snapshot: () => health.snapshot(), routes: localRoutes })
      : undefined;

  const components: Component[] = [
    { name: 'ledger', start: () => deps.ledger.start(), stop: () => deps.ledger.stop() },
    { name: 'outbox', start: () => deps.outbox.start(), stop: () => deps.outbox.stop() },
    { name: 'event queue', start: () => eventQueue.start(), stop: () => eventQueue.stop() },
    { name: 'key store', start: () => deps.keyStore.start(), stop: () => deps.keyStore.stop() },
    { name: 'face engine', start: () => deps.engine.start().then(() => undefined), stop: () => deps.engine.stop() },
    { name: 'result signer', start: () => signer.start(), stop: () => {} },
    { name: 'service state', start: () => service.start(), stop: () => {} },
    // Before the inputs: kiosk.start() reports an enclosure already open, and that alarm must be stored.
    { name: 'event publisher', start: () => publisher.start(), stop: () => publisher.stop() },
    { name: 'tamper alarm', start: () => tamper.start(), stop: () => tamper.stop() },
    // After the event publisher (its reports are stored), before the sessions: a release on trial
    // self-tests its models here, and one that fails never runs a session.
    ...(update ? [{ name: 'updater', start: () => update.start(), stop: () => update.stop() }] : []),
    { name: 'kiosk inputs', start: () => inputs.start(), stop: () => inputs.stop() },
    {
      name: 'kiosk hardware',
      start: async () => {
        await kiosk.start();
        if (!service.inService) kiosk.setStatus('out_of_service');
      },
      stop: () => kiosk.stop(),
    },
    {
      name: 'camera',
      start: async () => {
        if (config.camera.capture === 'always') await deps.camera.start();
      },
      // Also when it only runs for sessions or calls: one may have been running.
      stop: () => deps.camera.stop(),
    },
  ];
  if (screen) components.push({ name: 'customer screen', start: () => screen.start().then(() => undefined), stop: () => screen.stop() });
  const documentReader = deps.document?.reader;
  if (documentReader) components.push({ name: 'document reader', start: () => documentReader.start(), stop: () => documentReader.stop() });
  const assistFactory = deps.assist;
  if (assistFactory) components.push({ name: 'remote assistance', start: async () => assist.use(await assistFactory({ signer })), stop: () => assist.stop() });
  if (transport) {
    let router: CommandRouter | undefined;
    const auth = new CommandAuthenticator({
      keys: config.commands.keys.map((k) => ({ kid: k.kid, publicKey: { ...k.publicKey } })),
      deviceId: config.deviceId,
      used: deps.ledger,
      maxLifetimeSec: config.commands.maxLifetimeSec,
      clockSkewSec: config.commands.clockSkewSec,
    });
    const relay = new OutboxRelay({ outbox: deps.outbox, transport, logger: logger.child({ component: 'relay' }), backoff });
    let unwatch = () => {};
    components.push(
      {
        name: 'command router',
        // Built at start: `assist_start` is a command only once remote assistance has a service.
        start: async () => {
          await auth.start();
          if (!auth.configured) log.warn('no carrier command keys (commands.keys): every command will be refused');
          router = new CommandRouter({
            transport,
            auth,
            logger: logger.child({ component: 'commands' }),
            resultVerdict: async (jti) => deps.ledger.verdict(jti),
            handlers: commands(),
          });
          return router.start();
        },
        stop: () => router?.stop(),
      },
      { name: 'outbox relay', start: () => relay.start(), stop: () => relay.stop() },
      // Online once the transport says so with its event: that comes after the command subscription.
      { name: 'transport health', start: () => void (unwatch = health.watchTransport()), stop: () => unwatch() },
      { name: 'transport', start: () => transport.start(), stop: () => transport.stop() },
      // Its own MQTT connection: not awaited, so that an unreachable broker does not hold up the start.
      { name: 'assist connection', start: () => assist.startInBackground(), stop: () => {} },
    );
  } else {
    log.warn('no broker configured (transport.url empty): signed results are kept in the outbox');
  }
  if (renewal) components.push({ name: 'certificate renewal', start: () => renewal.start(), stop: () => renewal.stop() });
  components.push(...(extras.components ?? []));
  components.push({ name: 'sessions', start: () => sessions.start(), stop: () => sessions.stop() });
  if (http)
    components.push({
      name: 'local HTTP server',
      start: async () => {
        await http.start();
        log.info({ url: `http://127.0.0.1:${http.port}`, routes: ['/metrics', '/health', ...Object.keys(localRoutes)] }, 'local HTTP server (loopback only)');
      },
      stop: () => http.stop(),
    });
  components.push(
    { name: 'health timers', start: () => health.start(), stop: () => health.stop() },
    {
      name: 'systemd notify',
      start: async () => {
        await deps.notifier.ready(health.statusLine()).catch((err) => log.warn({ err: toKioskError(err).toJSON() }, 'sd_notify READY failed'));
        // A release on trial commits only after READY, with the broker reached.
        update?.afterStart();
      },
      stop: async () => {
        await deps.notifier.stopping('stopping').catch(() => undefined);
      },
    },
  );

  return new KioskDaemon({
    components,
    logger: log,
    stopTimeoutMs: config.health.stopTimeoutMs,
    events: bus,
    kiosk,
    sessions,
    screen,
    commands,
    signer,
    useAssist: (a) => assist.use(a),
    snapshot: () => health.snapshot(),
    httpPort: () => http?.port,
    inService,
    wiring: { sessionFinished, screenAction },
    summary: () => ({ deviceId: config.deviceId, simulate: config.simulate, inService: service.inService }),
  });
}
