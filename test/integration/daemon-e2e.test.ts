/**
 * The daemon end to end: real mosquitto (mutual TLS, ACLs), the carrier's verifier on its shared
 * subscription, the real face engine on the tranvanluyt real.mp4 recording replayed as the camera,
 * fake GPIO driven by the test. Challenge plans: a random nonce's plan would not match the motions of
 * a recording, so the setup searches nonces with `derivePlan` until the plan is a prefix of what
 * real.mp4 performs (turn_left, turn_right, look_down, look_up; subject's own left/right). The
 * start_session schema has no explicit challenge on purpose (the carrier's nonce decides the plan).
 */
import { CommandSigner } from '../../carrier/commands/signer.js';
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { validateConfig } from '../../agent/config/load.js';
import type { KioskConfigInput } from '../../agent/config/types.js';
import { buildDaemonDeps } from '../../agent/daemon/build.js';
import { composeDaemon } from '../../agent/daemon/compose.js';
import { createLogger } from '../../base/log.js';
import { derivePlan } from '../../protocol/plan.js';
import type { FakeGpioPort } from '../../device/gpio/fake-gpio.js';
import type { PipeFrameSource } from '../../device/camera/pipe-source.js';
import type { NonceCheck, NonceStore } from '../../carrier/nonce-store.js';
import { ResultVerifier, type VerifyOutcome } from '../../carrier/verifier.js';
import { buildPolicy, manifestModels } from '../../carrier/verifier-policy.js';
import { agentVersion, packageRoot } from '../../base/paths.js';
import { VerifierService } from '../../carrier/verifier-service.js';
import { dataPath, DATA_DIR, hasData, NO_DATA } from '../helpers/data.js';
import { freePort, TestBroker, tlsOf } from '../helpers/mosquitto.js';
import { TestPki } from '../helpers/pki.js';
import { ownTempDir } from '../helpers/tempdir.js';
import { waitFor } from '../helpers/wait.js';
import { matchingNonces } from '../helpers/daemon-page.js';

const REAL = dataPath('tranvanluyt-replay-headturn/videos/real.mp4');
const OWNER = `${REAL}#frame=600`; // a frontal frame after the last move: the "ID portrait" of the subject
const IMPOSTOR = dataPath('deepface-verify/tests/unit/dataset/img1.jpg');
const DEVICE = 'kiosk-e2e';
const PREFIX = `kiosk/v1/${DEVICE}/`;

/** The carrier's nonce registry with chosen nonces (same decisions as MemoryNonceStore). */
class ChosenNonces implements NonceStore {
  private rows = new Map<string, { jti: string | null }>();
  add(nonce: string): string {
    this.rows.set(nonce, { jti: null });
    return nonce;
  }
  async issue(): Promise<string> {
    throw new Error('not used');
  }
  async consume(nonce: string, deviceId: string, jti: string): Promise<NonceCheck> {
    const r = this.rows.get(nonce);
    if (!r || deviceId !== DEVICE) return 'unknown';
    if (r.jti !== null) return r.jti === jti ? 'duplicate' : 'replay';
    r.jti = jti;
    return 'ok';
  }
  async stop(): Promise<void> {}
}

/** The carrier's operations client: commands with a response topic, events of the kiosk. */
class Carrier {
  events: Array<Record<string, unknown> & { type: string }> = [];
  telemetry: Array<Record<string, unknown>> = [];
  private replies = new Map<string, (b: Record<string, unknown>) => void>();
  constructor(
    readonly client: MqttClient,
    private readonly signer: CommandSigner,
  ) {
    client.on('message', (topic, payload, packet) => {
      const body = JSON.parse(payload.toString()) as Record<string, unknown>;
      if (topic === `${PREFIX}events`) this.events.push(body as Record<string, unknown> & { type: string });
      if (topic === `${PREFIX}telemetry`) this.telemetry.push(body);
      const id = packet.properties?.correlationData?.toString();
      if (id && this.replies.has(id)) this.replies.get(id)!(body);
    });
  }
  static async connect(url: string, tls: { ca: Buffer; cert: Buffer; key: Buffer }, signer: CommandSigner): Promise<Carrier> {
    const client = await mqtt.connectAsync(url, {
      protocolVersion: 5,
      clientId: `carrier-ops-${randomUUID().slice(0, 8)}`,
      reconnectPeriod: 500,
      rejectUnauthorized: true,
      ...tls,
    });
    const c = new Carrier(client, signer);
    client.on('connect', () => void client.subscribeAsync([`${PREFIX}events`, `${PREFIX}reply/#`, `${PREFIX}telemetry`], { qos: 1 }));
    await client.subscribeAsync([`${PREFIX}events`, `${PREFIX}reply/#`, `${PREFIX}telemetry`], { qos: 1 });
    return c;
  }
  async send(name: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const id = randomUUID();
    const reply = new Promise<Record<string, unknown>>((resolve) => this.replies.set(id, resolve));
    await this.client.publishAsync(`${PREFIX}cmd/${name}`, await this.signer.sign(DEVICE, name, body), {
      qos: 1,
      properties: { responseTopic: `${PREFIX}reply/${id}`, correlationData: Buffer.from(id) },
    });
    return Promise.race([reply, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no reply to ${name}`)), 60_000))]);
  }
  event(type: string, pred: (e: Record<string, unknown>) => boolean = () => true) {
    return waitFor(`event ${type}`, () => this.events.find((e) => e.type === type && pred(e)));
  }
}

t.test('daemon end to end', { skip: hasData && existsSync(IMPOSTOR) ? false : NO_DATA, timeout: 280_000 }, async (t) => {
  // First, before the broker and children: removed by the last teardown (see helpers/tempdir.ts).
  const dir = ownTempDir(t, 'daemon-e2e-');
  const pki = await TestPki.create(join(dir, 'pki'));
  const dev = await pki.issue(DEVICE);
  const verifierId = await pki.issue('carrier-verifier', 'service');
  const opsId = await pki.issue('carrier-ops', 'service');
  const broker = await TestBroker.start(pki, join(dir, 'broker'), { devices: [DEVICE], verifiers: ['carrier-verifier'], dispatchers: ['carrier-ops'] });
  t.teardown(() => broker.stop());

  const nonces = new ChosenNonces();
  const chosen = matchingNonces('daemon-e2e', 6);
  t.comment(
    `plans: ${chosen
      .map((n) =>
        derivePlan(n)
          .steps.map((s) => s.kind)
          .join('+'),
      )
      .join(' | ')}`,
  );
  // The policy `carrier policy init` writes: the real engine's measurements must be in it.
  const manifest = JSON.parse(readFileSync(join(packageRoot(), 'models', 'manifest.json'), 'utf8')) as unknown;
  const policy = buildPolicy({ name: 'checkout', models: manifestModels(manifest), swversion: agentVersion() });
  const verifier = new ResultVerifier({
    ca: pki.ca.certificate,
    nonces,
    checkPlan: (n, plan) => JSON.stringify(derivePlan(n)) === JSON.stringify(plan),
    policy,
  });
  const outcomes: VerifyOutcome[] = [];
  const service = new VerifierService({
    options: { url: broker.url, clientId: 'verifier-1', ...tlsOf(pki, verifierId) },
    verifier,
    logger: pino({ level: 'silent' }),
  });
  await service.start();
  service.events.on('outcome', (o) => outcomes.push(o));
  t.teardown(() => service.stop());
  const commandKey = await CommandSigner.generate();
  const carrier = await Carrier.connect(broker.url, tlsOf(pki, opsId), commandKey);
  t.teardown(() => carrier.client.endAsync());
  const outcomeOf = (jti: string) => waitFor(`verifier outcome of ${jti}`, () => outcomes.find((o) => o.jti === jti));

  // The device key is copied: the tamper case destroys the daemon's copy.
  mkdirSync(join(dir, 'state'), { recursive: true, mode: 0o700 });
  const keyCopy = join(dir, 'state', 'device.key');
  copyFileSync(dev.keyPath, keyCopy);
  const base = (over: KioskConfigInput): KioskConfigInput => ({
    deviceId: DEVICE,
    simulate: true,
    stateDir: join(dir, 'state'),
    gpio: { driver: 'fake' },
    kiosk: { arriveMs: 50, leaveMs: 3000, tamperCloseMs: 100 },
    flow: { carrierNonceWaitMs: 60_000, delivery: 'every' },
    reference: { allowedDirs: [DATA_DIR] },
    transport: { url: broker.url, caFile: pki.caPath, certFile: dev.certPath, keyFile: keyCopy, backoffBaseMs: 200, backoffCapMs: 2000 },
    health: { httpPort: 0, telemetryIntervalMs: 1000 },
    sim: { autoConfirmMs: 0, terminal: false },
    screen: { port: 0 }, // the customer screen is on by default; any free loopback port here
    commands: { keys: [commandKey.entry] },
    tamper: { destroyFileKey: false }, // on by default; the tamper case turns it on
    ...over,
  });
  const startDaemon = async (cfg: KioskConfigInput, name: string) => {
    const logger = createLogger({ level: 'info', destination: pino.destination({ dest: join(dir, `${name}.log`), sync: true }) });
    const deps = await buildDaemonDeps(validateConfig(cfg), logger);
    const daemon = composeDaemon(deps);
    // The `online` event comes after the command subscription (the `online` flag before it).
    let online = false;
    deps.transport!.events.once('online', () => {
      online = true;
    });
    await daemon.start();
    await waitFor('transport online', () => online, 20_000);
    return { daemon, deps, gpio: deps.gpio as FakeGpioPort };
  };

  await t.test('presence, carrier session, signed result, authorised dispense, replays refused, impostor, tamper', async (t) => {
    const { daemon, deps, gpio } = await startDaemon(
      base({
        camera: { kind: 'replay', path: REAL, pace: 'asap', capture: 'session', maxWidth: 240, allowVirtual: true },
        tamper: { destroyFileKey: true },
      }),
      'daemon-main',
    );
    let stopped = false;
    t.teardown(async () => {
      if (!stopped) await daemon.stop();
    });
    const pulses = () => gpio.history('dispense_pulse').filter((w) => w.value).length;

    gpio.drive('presence', true);
    await carrier.event('arrived');
    const n1 = nonces.add(chosen[0]);
    const started = await carrier.send('start_session', { nonce: n1, reference: OWNER, session_id: 's-genuine' });
    t.match(started, { ok: true, session_id: 's-genuine', nonce_source: 'carrier' }, "the carrier's nonce is used");
    const finished = await carrier.event('session_finished', (e) => e.sessionId === 's-genuine');
    t.equal(finished.verdict, 'accept', `genuine session accepted (${JSON.stringify(finished.reasons)})`);
    const jti = finished.jti as string;
    const outcome = await outcomeOf(jti);
    t.equal(outcome.status, 'accepted', `the carrier verifier accepts the signed result (${outcome.status === 'rejected' ? outcome.reason : ''})`);
    if (outcome.status !== 'rejected') {
      t.equal(outcome.claims.eat_nonce, n1);
      t.equal(outcome.claims.result.verdict, 'accept');
      t.match(outcome.claims.result, { camera: { kind: 'replay', virtual: true } }, 'the result names the camera');
      t.notOk(JSON.stringify(outcome.claims).match(/embedding|template|"image"|"crop"/), 'no biometric field in the token');
    }
    t.equal(pulses(), 0, 'an accepted verdict alone dispenses nothing');

    const authorised = carrier.send('authorize_dispense', { jti, session_id: 's-genuine' });
    await waitFor('the dispense pulse', () => pulses() === 1, 10_000);
    gpio.drive('dispense_confirm', true);
    t.match(await authorised, { ok: true, state: 'dispensed' });
    const dispensed = await carrier.event('dispensed', (e) => e.jti === jti);
    t.ok((dispensed.confirmMs as number) >= 0, 'dispensed event published');
    gpio.drive('dispense_confirm', false);

    t.match(
      await carrier.send('authorize_dispense', { jti, session_id: 's-genuine' }),
      { ok: false, reason: 'not_current' },
      'a second authorisation of the same result is refused',
    );
    t.match(
      await carrier.send('authorize_dispense', { jti: 'forged-0000', session_id: 's-genuine' }),
      { ok: false, reason: 'unknown_result' },
      'a forged jti is refused',
    );
    t.match(
      await carrier.send('start_session', { nonce: chosen[5], reference: '/etc/passwd' }),
      { ok: false, reason: 'no_reference' },
      'a reference outside reference.allowedDirs is refused',
    );
    t.equal(pulses(), 1, 'still one pulse');

    const n2 = nonces.add(chosen[1]);
    t.match(await carrier.send('start_session', { nonce: n2, reference: IMPOSTOR, session_id: 's-impostor' }), { ok: true });
    const imp = await carrier.event('session_finished', (e) => e.sessionId === 's-impostor');
    t.equal(imp.verdict, 'reject', 'impostor rejected');
    t.ok((imp.reasons as string[]).includes('no_match'), `reason no_match (${JSON.stringify(imp.reasons)})`);
    t.equal((await outcomeOf(imp.jti as string)).status, 'accepted', 'the reject is a valid signed result');
    t.match(
      await carrier.send('authorize_dispense', { jti: imp.jti, session_id: 's-impostor' }),
      { ok: false, reason: 'not_accepted' },
      'a rejected result cannot dispense',
    );
    t.equal(pulses(), 1, 'no dispense for the impostor');

    const n3 = nonces.add(chosen[2]);
    t.match(await carrier.send('start_session', { nonce: n3, reference: OWNER, session_id: 's-tamper' }), { ok: true });
    await new Promise((r) => setTimeout(r, 300));
    gpio.drive('tamper', true);
    const cancelled = await carrier.event('session_finished', (e) => e.sessionId === 's-tamper');
    t.equal(cancelled.cancelReason, 'tamper', 'tamper aborts the session');
    t.equal(cancelled.verdict, 'reject');
    await carrier.event('tamper', (e) => e.open === true);
    await carrier.event('out_of_service', (e) => e.reason === 'tamper');
    t.ok(await carrier.event('key_destroyed'), 'the file key was destroyed (tamper.destroyFileKey)');
    t.notOk(existsSync(keyCopy), 'key file gone');
    // Once the alarm is out, the connection made with the destroyed key is closed for good (attacks-tamper-key.test.ts).
    await waitFor('the kiosk offline', () => !deps.transport!.online, 10_000);
    t.equal(pulses(), 1);
    stopped = true;
    await daemon.stop();
  });

  await t.test('the camera child killed mid-session is restarted; the carrier clears a tamper alarm', async (t) => {
    copyFileSync(dev.keyPath, keyCopy);
    const { daemon, deps, gpio } = await startDaemon(
      base({
        camera: { kind: 'ffmpeg', path: REAL, pace: 'realtime', width: 240, height: 428, capture: 'session', allowVirtual: true, restartBaseMs: 200 },
        flow: { carrierNonceWaitMs: 60_000, delivery: 'latest' },
      }),
      'daemon-camera',
    );
    let stopped = false;
    t.teardown(async () => {
      if (!stopped) await daemon.stop();
    });
    // The previous daemon left the kiosk out of service (persisted): the carrier clears it first.
    t.match(await carrier.send('clear_alarm', {}), { ok: true, state: 'in_service' }, 'cleared once the enclosure is closed');
    const n4 = nonces.add(chosen[3]);
    t.match(await carrier.send('start_session', { nonce: n4, reference: OWNER, session_id: 's-camera' }), { ok: true });
    const camera = deps.camera as PipeFrameSource;
    const pid = await waitFor('the capture process', () => camera.stats().captured > 30 && camera.pid);
    process.kill(pid, 'SIGKILL');
    await carrier.event('camera', (e) => e.state === 'restarting');
    const done = await carrier.event('session_finished', (e) => e.sessionId === 's-camera');
    t.ok(camera.stats().restarts >= 1, `capture restarted (${camera.stats().restarts})`);
    t.ok(done.jti, `the session still ends with a signed result (${done.verdict} ${JSON.stringify(done.reasons)})`);
    t.equal((await outcomeOf(done.jti as string)).status, 'accepted');
    const health = (await (await fetch(`http://127.0.0.1:${daemon.httpPort}/health`)).json()) as { healthy: boolean; camera: { restarts: number } };
    t.equal(health.healthy, true, 'healthy again');
    const metrics = await (await fetch(`http://127.0.0.1:${daemon.httpPort}/metrics`)).text();
    t.match(metrics, /kiosk_sessions_total\{verdict="\w+"\} 1/);
    t.match(metrics, /kiosk_outbox_messages\{state="pending"\} 0/);
    // a message sent after the outbox was seen empty above (an older one may still count the last result)
    const before = carrier.telemetry.length;
    const telemetry = await waitFor('telemetry after the outbox emptied', () => carrier.telemetry[before], 5000);
    t.match(telemetry, { fps: Number, framesDropped: Number, outboxDepth: 0, memoryRssBytes: Number, inService: true }, 'telemetry over MQTT');

    gpio.drive('tamper', true);
    await carrier.event('out_of_service', () => carrier.events.filter((e) => e.type === 'out_of_service').length >= 2);
    t.ok(existsSync(keyCopy), 'the key is kept when tamper.destroyFileKey is false');
    t.match(await carrier.send('start_session', { nonce: chosen[5], reference: OWNER }), { ok: false, reason: 'out_of_service' });
    t.match(await carrier.send('clear_alarm', {}), { ok: false, reason: 'still_open' });
    gpio.drive('tamper', false);
    await waitFor('tamper closed', () => !daemon.kiosk.tampered, 5000);
    t.match(await carrier.send('clear_alarm', { note: 'door closed by the technician' }), { ok: true, state: 'in_service' });
    await carrier.event('in_service', () => carrier.events.filter((e) => e.type === 'in_service').length >= 2);
    stopped = true;
    await daemon.stop();
  });

  await t.test('SIGKILL of the daemon loses no result and no tamper alarm: stored (outbox.db, events.db), published after restart', async (t) => {
    const port = await freePort();
    const cfgPath = join(dir, 'child.json');
    writeFileSync(
      cfgPath,
      JSON.stringify(
        base({
          stateDir: join(dir, 'state-child'),
          transport: { url: broker.url, caFile: pki.caPath, certFile: dev.certPath, keyFile: dev.keyPath, backoffBaseMs: 200, backoffCapMs: 1000 },
          camera: { kind: 'replay', path: REAL, pace: 'asap', capture: 'session', maxWidth: 240, allowVirtual: true },
          health: { httpPort: port },
        }),
      ),
    );
    const children = new Set<ChildProcess>();
    // Wait for each child to be gone: one still writing its state folder makes the test folder's removal fail (ENOTEMPTY).
    t.teardown(async () => {
      await Promise.all(
        [...children].map(
          (c) =>
            new Promise((resolve) => {
              if (c.exitCode !== null || c.signalCode !== null) return resolve(undefined);
              c.once('exit', resolve);
              c.kill('SIGKILL');
            }),
        ),
      );
    });
    const run = (n: number) => {
      const log = openSync(join(dir, `child-${n}.log`), 'w');
      const c = spawn(process.execPath, ['--import', 'tsx', 'agent/cli/main.ts', 'run', '--config', cfgPath], { stdio: ['ignore', log, log] });
      children.add(c);
      const exited = new Promise<NodeJS.Signals | null>((resolve) =>
        c.once('exit', (_code, signal) => {
          children.delete(c);
          resolve(signal);
        }),
      );
      return { child: c, exited };
    };
    const health = async () =>
      fetch(`http://127.0.0.1:${port}/health`).then(
        (r) => r.json() as Promise<{ outbox: { pending: number }; transport: { online: boolean }; eventsQueued: number; outOfServiceReason: string | null }>,
        () => undefined,
      );

    const first = run(1);
    await waitFor('the child online', async () => (await health())?.transport.online, 60_000);
    const n5 = nonces.add(chosen[4]);
    t.match(await carrier.send('start_session', { nonce: n5, reference: OWNER }), { ok: true });
    await broker.stop(); // the result cannot be published now
    await waitFor('the result in the outbox', async () => ((await health())?.outbox.pending ?? 0) >= 1, 60_000);
    // The enclosure is opened while the broker is down: the alarm waits in events.db, then the power goes.
    const queuedBefore = (await health())!.eventsQueued;
    const openedAt = Date.now();
    await fetch(`http://127.0.0.1:${port}/sim/tamper`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ open: true }),
    });
    await waitFor(
      'the alarm stored',
      async () => {
        const h = await health();
        return h?.outOfServiceReason === 'tamper' && h.eventsQueued >= queuedBefore + 2;
      },
      20_000,
    );
    const fresh = (type: string) => (e: Record<string, unknown>) => e.type === type && Date.parse(e.at as string) >= openedAt - 1000;
    first.child.kill('SIGKILL');
    t.equal(await first.exited, 'SIGKILL');
    t.notOk(
      outcomes.some((o) => o.status !== 'rejected' && o.claims.eat_nonce === n5),
      'not delivered before the kill',
    );
    await broker.restart();
    run(2);
    const delivered = await waitFor('the result after restart', () => outcomes.find((o) => o.status !== 'rejected' && o.claims.eat_nonce === n5), 90_000);
    t.equal(delivered.status, 'accepted', 'published by the restarted daemon and accepted by the carrier');
    await waitFor('the outbox drained', async () => (await health())?.outbox.pending === 0, 20_000);
    const alarm = await carrier.event('tamper', (e) => fresh('tamper')(e) && e.open === true);
    t.ok(alarm, 'the tamper alarm raised while the broker was down arrives after the SIGKILL and restart');
    await carrier.event('out_of_service', fresh('out_of_service'));
    const order = carrier.events.filter((e) => fresh('tamper')(e) || fresh('out_of_service')(e)).map((e) => e.type);
    t.same(order.slice(0, 2), ['tamper', 'out_of_service'], 'in the order they were raised');
    t.equal(order.filter((x) => x === 'tamper').length, 1, 'the alarm once (the restart itself reads the enclosure closed)');
    await waitFor('the event queue drained', async () => (await health())?.eventsQueued === 0, 20_000);
  });
});
