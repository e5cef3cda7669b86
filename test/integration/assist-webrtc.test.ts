/**
 * Remote assistance end to end: the agent side (wrtc, in a child process that exits explicitly:
 * wrtc segfaults on natural exit) offers a call through real mosquitto; headless Chromium runs the
 * operator page over MQTT-over-WebSocket (plain WS on loopback: see docs/assist.md), receives the
 * video, sends a forged decision (refused) and a signed approve (a device-signed result follows).
 * Run with ASSIST_CHILD set, this file is the agent side.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface ChildConfig {
  url: string; deviceId: string; caPath: string; certPath: string; keyPath: string; operatorJwk: Record<string, string>;
}

if (process.env.ASSIST_CHILD) await runAgentSide(JSON.parse(process.env.ASSIST_CHILD) as ChildConfig);
else await runTests();

/** The kiosk: transport, command router, outbox + relay, result signer, fake camera, assist service. */
async function runAgentSide(cfg: ChildConfig): Promise<void> {
  const hardStop = setTimeout(() => { process.stdout.write('EVENT {"type":"child_timeout"}\n'); process.exit(3); }, 50_000);
  const { createLogger } = await import('../../agent/log.js');
  const { MqttTransport } = await import('../../agent/transport/mqtt-transport.js');
  const { CommandRouter } = await import('../../agent/transport/commands.js');
  const { MemoryOutbox } = await import('../../agent/outbox/memory-outbox.js');
  const { OutboxRelay } = await import('../../agent/outbox/relay.js');
  const { ResultSigner } = await import('../../agent/transport/result-signer.js');
  const { FileKeyStore } = await import('../../provisioning/file-key-store.js');
  const { parseCertificate } = await import('../../provisioning/x509.js');
  const { FakeFrameSource } = await import('../../device/camera/fake-source.js');
  const { AssistService } = await import('../../agent/assist/service.js');
  const { MqttAssistSignalling } = await import('../../agent/assist/signalling.js');
  const say = (o: Record<string, unknown>) => process.stdout.write(`EVENT ${JSON.stringify(o)}\n`);
  const logger = createLogger({ level: 'warn' } as never);
  const tls = { ca: readFileSync(cfg.caPath), cert: readFileSync(cfg.certPath), key: readFileSync(cfg.keyPath) };
  const keyStore = new FileKeyStore({ path: cfg.keyPath, create: false });
  await keyStore.start();
  const transport = new MqttTransport({ options: { url: cfg.url, deviceId: cfg.deviceId, ...tls }, logger });
  const outbox = new MemoryOutbox();
  const relay = new OutboxRelay({ outbox, transport, logger });
  const signer = new ResultSigner({ keyStore, certificate: parseCertificate(readFileSync(cfg.certPath)), measurements: [{ id: 'agent' }] });
  const camera = new FakeFrameSource({ width: 640, height: 480, fps: 20, allowVirtual: true });
  const assist = new AssistService({
    kioskId: cfg.deviceId, camera, signer, outbox, resultTopic: transport.topics.result, logger,
    signalling: new MqttAssistSignalling({ options: { url: cfg.url, deviceId: cfg.deviceId, ...tls }, logger }),
    operators: [{ id: 'carrier-op-alice', publicKey: cfg.operatorJwk }],
    options: { maxWidth: 320, fps: 10, answerTimeoutMs: 30_000, callTimeoutMs: 40_000 },
  });
  const refuse = async () => ({ ok: false as const, reason: 'unknown_command' as const, detail: 'not in this test' });
  const router = new CommandRouter({
    transport, logger, resultVerdict: async () => undefined,
    handlers: { start_session: refuse, authorize_dispense: refuse, config: refuse, assist_start: (c) => assist.assistStart(c) },
  });
  let delivered = false;
  let ended: Record<string, unknown> | undefined;
  const finish = async (code: number) => {
    clearTimeout(hardStop);
    await assist.stop();
    await router.stop();
    await relay.stop();
    await camera.stop();
    await transport.stop();
    say({ type: 'exiting', code });
    process.exit(code);
  };
  const maybeDone = () => { if (ended && (delivered || ended.outcome !== 'decided')) void finish(0); };
  relay.events.on('delivered', (e) => { say({ type: 'delivered', jti: e.jti }); delivered = true; maybeDone(); });
  assist.events.on('started', (e) => say({ type: 'started', ...e }));
  assist.events.on('decided', (e) => say({ type: 'decided', ...e }));
  assist.events.on('ended', (e) => { say({ type: 'ended', ...e }); ended = e; maybeDone(); });
  await camera.start();
  await assist.start();
  await router.start();
  await relay.start();
  transport.events.once('online', () => say({ type: 'ready' }));
  await transport.start();
}

async function runTests(): Promise<void> {
  const t = (await import('tap')).default;
  const { join } = await import('node:path');
  const mqtt = (await import('mqtt')).default;
  const { chromium } = await import('playwright-core');
  const { exportJWK, generateKeyPair, compactVerify, importJWK } = await import('jose');
  const { TestBroker, tlsOf } = await import('../helpers/mosquitto.js');
  const { TestPki } = await import('../helpers/pki.js');
  const { ownTempDir } = await import('../helpers/tempdir.js');
  const { serveOperatorPage } = await import('../../agent/assist/operator-server.js');
  const { ResultVerifier } = await import('../../provisioning/verifier.js');
  const { MemoryNonceStore } = await import('../../provisioning/nonce-store.js');
  const { parseCertificate } = await import('../../provisioning/x509.js');

  // First, before the broker and the agent child: removed by the last teardown (see helpers/tempdir.ts).
  const dir = ownTempDir(t, 'assist-webrtc-');
  const pki = await TestPki.create(join(dir, 'pki'));
  const kiosk = await pki.issue('kiosk-001');
  const svc = await pki.issue('carrier-svc-1', 'service');
  const broker = await TestBroker.start(pki, join(dir, 'broker'), {
    devices: ['kiosk-001'], services: ['carrier-svc-1'], operators: [{ username: 'carrier-op-alice', password: 'correct horse' }],
  }, { websockets: 'ws' });
  t.teardown(() => broker.stop());
  const wsUrl = broker.wsUrl!;

  const op = await generateKeyPair('ES256', { extractable: true });
  const opPublic = await exportJWK(op.publicKey);
  const opPrivate = await exportJWK(op.privateKey);
  const forger = await generateKeyPair('ES256', { extractable: true });
  const forgerPrivate = await exportJWK(forger.privateKey);

  t.test('the websocket listener: operators by password, kiosk names and wrong passwords refused, operators only on assist topics', async (t) => {
    const outcome = (o: Record<string, unknown>) => mqtt.connectAsync(wsUrl, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5000, ...o })
      .then(async (c) => { await c.endAsync(true); return 'connected'; }, () => 'refused');
    t.equal(await outcome({ username: 'kiosk-001', clientId: 'x1' }), 'refused', 'a device name without a certificate');
    t.equal(await outcome({ username: 'kiosk-001', password: 'x', clientId: 'x2' }), 'refused', 'a device name with a password');
    t.equal(await outcome({ username: 'carrier-op-alice', password: 'wrong', clientId: 'x3' }), 'refused', 'wrong password');
    t.equal(await outcome({ clientId: 'x4' }), 'refused', 'anonymous');
    const c = await mqtt.connectAsync(wsUrl, { protocolVersion: 5, reconnectPeriod: 0, username: 'carrier-op-alice', password: 'correct horse', clientId: 'alice-probe' });
    t.teardown(() => c.endAsync());
    const r = (p: Promise<unknown>) => p.then(() => 'allowed', (e: { code?: number }) => e.code ?? 'error');
    t.equal(await r(c.publishAsync('kiosk/v1/kiosk-001/assist/signal/operator', '{}', { qos: 1 })), 'allowed');
    t.equal(await r(c.publishAsync('kiosk/v1/kiosk-001/cmd/start_session', '{}', { qos: 1 })), 0x87, 'no commands');
    t.equal(await r(c.publishAsync('kiosk/v1/kiosk-001/assist/signal/kiosk', '{}', { qos: 1 })), 0x87, 'cannot speak as the kiosk');
    const sub = await c.subscribeAsync('kiosk/v1/+/result', { qos: 1 }).catch(() => [{ qos: 0x87 }]);
    t.equal(sub[0].qos, 0x87, 'cannot read results');
  });

  t.test('Chromium operator receives the kiosk camera and approves with a signed decision', async (t) => {
    const page$ = await serveOperatorPage();
    t.teardown(() => page$.close());
    const child = spawn(process.execPath, ['--import=tsx', fileURLToPath(import.meta.url)], {
      env: { ...process.env, ASSIST_CHILD: JSON.stringify({ url: broker.url, deviceId: 'kiosk-001', caPath: pki.caPath, certPath: kiosk.certPath, keyPath: kiosk.keyPath, operatorJwk: opPublic }) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const events: Record<string, unknown>[] = [];
    let stderr = '';
    child.stderr!.on('data', (d) => { stderr += d; });
    let buf = '';
    child.stdout!.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i); buf = buf.slice(i + 1);
        if (line.startsWith('EVENT ')) events.push(JSON.parse(line.slice(6)) as Record<string, unknown>);
      }
    });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    t.teardown(async () => { if (child.exitCode === null) { child.kill('SIGKILL'); await exited; } });
    const waitFor = async <T>(what: string, fn: () => T | undefined | Promise<T | undefined>, ms = 20_000): Promise<T> => {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        const v = await fn();
        if (v !== undefined && v !== false) return v as T;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`timed out waiting for ${what}; child events ${JSON.stringify(events)}; stderr ${stderr.slice(-2000)}`);
    };
    const event = (type: string) => () => events.find((e) => e.type === type);
    await waitFor('agent ready', event('ready'));

    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--autoplay-policy=no-user-gesture-required'],
    });
    t.teardown(() => browser.close());
    const page = await browser.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(page$.url);
    await page.evaluate(async ({ url }) => {
      const w = window as unknown as { assistOperator: { connect(o: unknown): Promise<void> } };
      await w.assistOperator.connect({ url, username: 'carrier-op-alice', password: 'correct horse', kiosk: 'kiosk-001' });
    }, { url: wsUrl });

    // The carrier asks for assistance with a command (mutual TLS, like every command).
    const nonces = new MemoryNonceStore();
    const nonce = await nonces.issue('kiosk-001', new Date());
    const carrier = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'carrier-svc-1', reconnectPeriod: 0, ...tlsOf(pki, svc) });
    t.teardown(() => carrier.endAsync());
    const messages: { topic: string; payload: string }[] = [];
    carrier.on('message', (topic, payload) => messages.push({ topic, payload: payload.toString() }));
    await carrier.subscribeAsync(['kiosk/v1/kiosk-001/result', 'kiosk/v1/kiosk-001/reply/#'], { qos: 1 });
    await carrier.publishAsync('kiosk/v1/kiosk-001/cmd/assist_start', JSON.stringify({ nonce, failed_checks: ['liveness', 'face_match'], reason: 'quality', session_id: 's-1' }), {
      qos: 1, properties: { responseTopic: 'kiosk/v1/kiosk-001/reply/assist-1', correlationData: Buffer.from('c1') },
    });
    const reply = await waitFor('command reply', () => messages.find((m) => m.topic.endsWith('/reply/assist-1')));
    const replyBody = JSON.parse(reply.payload) as { ok: boolean; assist_id: string };
    t.equal(replyBody.ok, true, 'assist_start accepted');

    type Stats = { width: number; height: number; framesDecoded: number; framesRendered: number; dtlsState: string | null; srtpCipher: string | null; frameWidth?: number; frameHeight?: number };
    const stats = () => page.evaluate(() => (window as unknown as { assistOperator: { stats(): Promise<Stats> } }).assistOperator.stats());
    const first = await waitFor('decoded video', async () => { const s = await stats(); return s.framesDecoded >= 5 && s.width > 0 ? s : undefined; });
    await new Promise((r) => setTimeout(r, 1500));
    const later = await stats();
    t.comment(`video ${later.width}x${later.height}; frames decoded ${first.framesDecoded} -> ${later.framesDecoded}, rendered ${later.framesRendered}; DTLS ${later.dtlsState}, SRTP ${later.srtpCipher}`);
    t.same([later.width, later.height], [320, 240], 'the operator sees the reduced picture (640x480 camera, 320 wide)');
    t.ok(later.framesDecoded > first.framesDecoded, 'the frame count grows');
    t.ok(later.framesDecoded >= 10, 'at least 10 frames decoded');
    t.equal(later.dtlsState, 'connected', 'DTLS is up');
    t.ok(later.srtpCipher, 'media is SRTP-encrypted');
    const checks = await page.textContent('#checks');
    t.equal(checks, 'liveness, face_match', 'the page shows the failed automatic checks');
    await waitFor('hello with challenge', () => page.evaluate(() => Boolean((window as unknown as { assistOperator: { state: { call: { challenge: string | null } } } }).assistOperator.state.call?.challenge)) || undefined);

    type Ack = { ok: boolean; reason?: string; jti?: string; decision?: string };
    const decideWith = (jwk: unknown, decision: string, note?: string) => page.evaluate(async ({ jwk, decision, note }) => {
      const w = (window as unknown as { assistOperator: { importKey(j: unknown, id: string): Promise<void>; decide(d: string, n?: string): Promise<Ack> } }).assistOperator;
      await w.importKey(jwk, 'carrier-op-alice');
      return w.decide(decision, note);
    }, { jwk, decision, note });
    const forged = await decideWith(forgerPrivate, 'approve');
    t.same(forged, { type: 'ack', ok: false, reason: 'bad_signature' }, 'a decision signed with another key is refused');
    t.notOk(events.find((e) => e.type === 'decided'), 'no result for the forged decision');

    const ack = await decideWith(opPrivate, 'approve', 'checked the ID against the customer');
    t.equal(ack.ok, true, 'the signed approve is accepted');
    t.ok(ack.jti, 'the ack names the result');

    const resultMsg = await waitFor('signed result', () => messages.find((m) => m.topic === 'kiosk/v1/kiosk-001/result'));
    const verifier = new ResultVerifier({ ca: parseCertificate(readFileSync(pki.caPath)), nonces, checkPlan: 'skip' });
    const outcome = await verifier.verify(resultMsg.payload);
    t.equal(outcome.status, 'accepted', 'the device-signed result verifies');
    if (outcome.status === 'accepted') {
      const r = outcome.claims.result as Record<string, unknown>;
      t.equal(outcome.jti, ack.jti);
      t.equal(r.verdict, 'accept');
      t.equal(r.decided_by, 'operator');
      t.equal((r.operator as { id: string }).id, 'carrier-op-alice', 'which operator');
      t.same(r.failed_checks, ['liveness', 'face_match'], 'which automatic checks had failed');
      t.equal(r.session_id, 's-1');
      const inner = await compactVerify(r.operator_decision as string, await importJWK(opPublic, 'ES256'));
      const d = JSON.parse(new TextDecoder().decode(inner.payload)) as Record<string, unknown>;
      t.equal(d.decision, 'approve', "the operator's own signed decision is inside, verifiable by the carrier");
      t.equal(d.assist_id, replyBody.assist_id);
    }
    t.equal(await exited, 0, 'the agent side closed everything and exited 0 (no segfault)');
    t.ok(events.find((e) => e.type === 'ended' && e.outcome === 'decided'), 'the call ended as decided');
    t.same(pageErrors, [], 'no page errors');
    await page.evaluate(() => (window as unknown as { assistOperator: { hangup(): Promise<void> } }).assistOperator.hangup());
  });
}
