/**
 * Remote assistance end to end: the agent side (wrtc, in a child process that exits explicitly:
 * wrtc segfaults on natural exit) offers a call through real mosquitto; headless Chromium runs the
 * operator page over MQTT-over-WebSocket (plain WS on loopback: see docs/assist.md), receives the
 * video and the kiosk's audio (an ffmpeg lavfi 440 Hz tone as the microphone), sends its fake
 * microphone's beep back (to a fake speaker and an ffmpeg ALSA `null` speaker on the kiosk), sends a
 * forged decision (refused) and a signed approve (a device-signed result follows); the call's end
 * stops both ffmpeg children and the page's microphone, and nothing is written to disk.
 * Run with ASSIST_CHILD set, this file is the agent side.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { waitFor as waitUntil } from '../helpers/wait.js';

interface ChildConfig {
  url: string;
  deviceId: string;
  caPath: string;
  certPath: string;
  keyPath: string;
  operatorJwk: Record<string, string>;
  /** The carrier command key the kiosk trusts. */
  commandKey: { kid: string; publicKey: Record<string, string> };
}

if (process.env.ASSIST_CHILD) await runAgentSide(JSON.parse(process.env.ASSIST_CHILD) as ChildConfig);
else await runTests();

/** The kiosk: transport, command router, outbox + relay, result signer, fake camera, assist service. */
async function runAgentSide(cfg: ChildConfig): Promise<void> {
  const hardStop = setTimeout(() => {
    process.stdout.write('EVENT {"type":"child_timeout"}\n');
    process.exit(3);
  }, 50_000);
  const { createLogger } = await import('../../base/log.js');
  const { MqttTransport } = await import('../../agent/transport/mqtt-transport.js');
  const { CommandRouter } = await import('../../agent/transport/commands.js');
  const { CommandAuthenticator } = await import('../../agent/transport/command-auth.js');
  const { memoryUsedCommands } = await import('../helpers/commands.js');
  const { MemoryOutbox } = await import('../../agent/outbox/memory-outbox.js');
  const { OutboxRelay } = await import('../../agent/outbox/relay.js');
  const { ResultSigner } = await import('../../provisioning/result-signer.js');
  const { FileKeyStore } = await import('../../base/keys/file-key-store.js');
  const { parseCertificate } = await import('../../base/keys/x509.js');
  const { FakeFrameSource } = await import('../../device/camera/fake-source.js');
  const { AssistService } = await import('../../agent/assist/service.js');
  const { TransportAssistSignalling } = await import('../../agent/assist/signalling.js');
  const { FfmpegAudioCapture, FfmpegAudioPlayback } = await import('../../agent/assist/audio/ffmpeg-audio.js');
  const { MemoryAudioPlayback } = await import('../../agent/assist/audio/fake-audio.js');
  const { dominantFrequency, processAlive, TeeAudioPlayback } = await import('../helpers/audio.js');
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
  // The microphone: the real ffmpeg capture with a lavfi tone for the ALSA device. The speaker: a fake
  // that keeps what it gets (to measure it) and the real ffmpeg playback on ALSA's silent `null` PCM.
  const RATE = 48000;
  const capture = new FfmpegAudioCapture({ device: 'lavfi', sampleRate: RATE, input: ['-re', '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=${RATE}`] });
  const speaker = new MemoryAudioPlayback({ sampleRate: RATE });
  const alsaSpeaker = new FfmpegAudioPlayback({ device: 'null', sampleRate: RATE });
  const assist = new AssistService({
    kioskId: cfg.deviceId,
    camera,
    signer,
    outbox,
    resultTopic: transport.topics.result,
    logger,
    signalling: new TransportAssistSignalling({ transport, logger }),
    operators: [{ id: 'carrier-op-alice', publicKey: cfg.operatorJwk }],
    options: { maxWidth: 320, fps: 10, answerTimeoutMs: 30_000, callTimeoutMs: 40_000 },
    audio: { capture, playback: new TeeAudioPlayback([speaker, alsaSpeaker]) },
  });
  const refuse = async () => ({ ok: false as const, reason: 'unknown_command' as const, detail: 'not in this test' });
  const auth = new CommandAuthenticator({ keys: [cfg.commandKey], deviceId: cfg.deviceId, used: memoryUsedCommands(), maxLifetimeSec: 120, clockSkewSec: 30 });
  await auth.start();
  const router = new CommandRouter({
    transport,
    auth,
    logger,
    resultVerdict: async () => undefined,
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
  const maybeDone = () => {
    if (ended && (delivered || ended.outcome !== 'decided')) void finish(0);
  };
  relay.events.on('delivered', (e) => {
    say({ type: 'delivered', jti: e.jti });
    delivered = true;
    maybeDone();
  });
  assist.events.on('started', (e) => say({ type: 'started', ...e }));
  assist.events.on('decided', (e) => say({ type: 'decided', ...e }));
  const audioPids: number[] = [];
  assist.events.on('audio', (e) => {
    if (e.pid) audioPids.push(e.pid);
    say({ type: 'audio', ...e });
  });
  assist.events.on('connected', (e) => say({ type: 'connected', ...e }));
  assist.events.on('ended', (e) => {
    // Levels and the dominant frequency of what the speaker got: the samples themselves never leave memory.
    const got = speaker.received();
    say({ type: 'speaker', ...speaker.stats(), dominantHz: got.length ? dominantFrequency(got, RATE, 100, 4000) : null, alsa: alsaSpeaker.stats() });
    say({ type: 'ended', ...e, audioPids, audioPidsAlive: audioPids.map(processAlive) });
    ended = e;
    maybeDone();
  });
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
  const { serveOperatorPage } = await import('../../carrier/operator/server.js');
  const { filesOpenForWriting, processAlive } = await import('../helpers/audio.js');
  const { ResultVerifier } = await import('../../carrier/verifier.js');
  const { MemoryNonceStore } = await import('../../carrier/nonce-store.js');
  const { parseCertificate } = await import('../../base/keys/x509.js');

  // First, before the broker and the agent child: removed by the last teardown (see helpers/tempdir.ts).
  const dir = ownTempDir(t, 'assist-webrtc-');
  const pki = await TestPki.create(join(dir, 'pki'));
  const kiosk = await pki.issue('kiosk-001');
  const svc = await pki.issue('carrier-svc-1', 'service');
  const broker = await TestBroker.start(
    pki,
    join(dir, 'broker'),
    {
      devices: ['kiosk-001'],
      dispatchers: ['carrier-svc-1'],
      verifiers: ['carrier-svc-1'],
      operators: [{ username: 'carrier-op-alice', password: 'correct horse', kiosks: ['kiosk-001'] }],
    },
    { websockets: 'ws' },
  );
  t.teardown(() => broker.stop());
  const wsUrl = broker.wsUrl!;

  const { CommandSigner } = await import('../../carrier/commands/signer.js');
  const commandKey = await CommandSigner.generate();
  const op = await generateKeyPair('ES256', { extractable: true });
  const opPublic = await exportJWK(op.publicKey);
  const opPrivate = await exportJWK(op.privateKey);
  const forger = await generateKeyPair('ES256', { extractable: true });
  const forgerPrivate = await exportJWK(forger.privateKey);

  t.test('the websocket listener: operators by password, kiosk names and wrong passwords refused, operators only on assist topics', async (t) => {
    const outcome = (o: Record<string, unknown>) =>
      mqtt.connectAsync(wsUrl, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5000, ...o }).then(
        async (c) => {
          await c.endAsync(true);
          return 'connected';
        },
        () => 'refused',
      );
    t.equal(await outcome({ username: 'kiosk-001', clientId: 'x1' }), 'refused', 'a device name without a certificate');
    t.equal(await outcome({ username: 'kiosk-001', password: 'x', clientId: 'x2' }), 'refused', 'a device name with a password');
    t.equal(await outcome({ username: 'carrier-op-alice', password: 'wrong', clientId: 'x3' }), 'refused', 'wrong password');
    t.equal(await outcome({ clientId: 'x4' }), 'refused', 'anonymous');
    const c = await mqtt.connectAsync(wsUrl, {
      protocolVersion: 5,
      reconnectPeriod: 0,
      username: 'carrier-op-alice',
      password: 'correct horse',
      clientId: 'alice-probe',
    });
    t.teardown(() => c.endAsync());
    const r = (p: Promise<unknown>) =>
      p.then(
        () => 'allowed',
        (e: { code?: number }) => e.code ?? 'error',
      );
    t.equal(await r(c.publishAsync('kiosk/v1/kiosk-001/assist/signal/operator', '{}', { qos: 1 })), 'allowed');
    t.equal(await r(c.publishAsync('kiosk/v1/kiosk-001/cmd/start_session', '{}', { qos: 1 })), 0x87, 'no commands');
    t.equal(await r(c.publishAsync('kiosk/v1/kiosk-001/assist/signal/kiosk', '{}', { qos: 1 })), 0x87, 'cannot speak as the kiosk');
    const sub = await c.subscribeAsync('kiosk/v1/+/result', { qos: 1 }).catch(() => [{ qos: 0x87 }]);
    t.equal(sub[0].qos, 0x87, 'cannot read results');
  });

  t.test('Chromium operator receives the kiosk camera and approves with a signed decision', async (t) => {
    const page$ = await serveOperatorPage();
    t.teardown(() => page$.close());
    // The agent runs in an empty folder that must stay empty (no audio or anything else written there).
    const agentCwd = join(dir, 'agent-cwd');
    mkdirSync(agentCwd);
    const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), fileURLToPath(import.meta.url)], {
      cwd: agentCwd,
      env: {
        ...process.env,
        ASSIST_CHILD: JSON.stringify({
          url: broker.url,
          deviceId: 'kiosk-001',
          caPath: pki.caPath,
          certPath: kiosk.certPath,
          keyPath: kiosk.keyPath,
          operatorJwk: opPublic,
          commandKey: commandKey.entry,
        }),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const events: Record<string, unknown>[] = [];
    let stderr = '';
    child.stderr!.on('data', (d) => {
      stderr += d;
    });
    let buf = '';
    child.stdout!.on('data', (d) => {
      buf += d;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line.startsWith('EVENT ')) events.push(JSON.parse(line.slice(6)) as Record<string, unknown>);
      }
    });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    t.teardown(async () => {
      if (child.exitCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    });
    const waitFor = <T>(what: string, fn: () => T | undefined | Promise<T | undefined>, ms = 20_000): Promise<T> =>
      waitUntil(what, fn, { timeoutMs: ms, intervalMs: 100, detail: () => `child events ${JSON.stringify(events)}; stderr ${stderr.slice(-2000)}` });
    const event = (type: string) => () => events.find((e) => e.type === type);
    await waitFor('agent ready', event('ready'));

    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--autoplay-policy=no-user-gesture-required',
        // The operator's microphone: Chromium's fake device (a beep), granted without a prompt.
        '--use-fake-ui-for-media-stream',
        '--use-fake-device-for-media-stream',
      ],
    });
    t.teardown(() => browser.close());
    const page = await browser.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(page$.url);
    await page.evaluate(
      async ({ url }) => {
        const w = window as unknown as { assistOperator: { connect(o: unknown): Promise<void> } };
        await w.assistOperator.connect({ url, username: 'carrier-op-alice', password: 'correct horse', kiosk: 'kiosk-001' });
      },
      { url: wsUrl },
    );

    // The carrier asks for assistance with a command (mutual TLS, like every command).
    const nonces = new MemoryNonceStore();
    const nonce = await nonces.issue('kiosk-001', new Date());
    const carrier = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'carrier-svc-1', reconnectPeriod: 0, ...tlsOf(pki, svc) });
    t.teardown(() => carrier.endAsync());
    const messages: { topic: string; payload: string }[] = [];
    carrier.on('message', (topic, payload) => messages.push({ topic, payload: payload.toString() }));
    await carrier.subscribeAsync(['$share/verifiers/kiosk/v1/kiosk-001/result', 'kiosk/v1/kiosk-001/reply/#'], { qos: 1 });
    await carrier.publishAsync(
      'kiosk/v1/kiosk-001/cmd/assist_start',
      await commandKey.sign('kiosk-001', 'assist_start', { nonce, failed_checks: ['liveness', 'face_match'], reason: 'quality', session_id: 's-1' }),
      {
        qos: 1,
        properties: { responseTopic: 'kiosk/v1/kiosk-001/reply/assist-1', correlationData: Buffer.from('c1') },
      },
    );
    const reply = await waitFor('command reply', () => messages.find((m) => m.topic.endsWith('/reply/assist-1')));
    const replyBody = JSON.parse(reply.payload) as { ok: boolean; assist_id: string };
    t.equal(replyBody.ok, true, 'assist_start accepted');

    type Stats = {
      width: number;
      height: number;
      framesDecoded: number;
      framesRendered: number;
      dtlsState: string | null;
      srtpCipher: string | null;
      frameWidth?: number;
      frameHeight?: number;
    };
    const stats = () => page.evaluate(() => (window as unknown as { assistOperator: { stats(): Promise<Stats> } }).assistOperator.stats());
    const first = await waitFor('decoded video', async () => {
      const s = await stats();
      return s.framesDecoded >= 5 && s.width > 0 ? s : undefined;
    });
    await new Promise((r) => setTimeout(r, 1500));
    const later = await stats();
    t.comment(
      `video ${later.width}x${later.height}; frames decoded ${first.framesDecoded} -> ${later.framesDecoded}, rendered ${later.framesRendered}; DTLS ${later.dtlsState}, SRTP ${later.srtpCipher}`,
    );
    t.same([later.width, later.height], [320, 240], 'the operator sees the reduced picture (640x480 camera, 320 wide)');
    t.ok(later.framesDecoded > first.framesDecoded, 'the frame count grows');
    t.ok(later.framesDecoded >= 10, 'at least 10 frames decoded');
    t.equal(later.dtlsState, 'connected', 'DTLS is up');
    t.ok(later.srtpCipher, 'media is SRTP-encrypted');

    // Audio both ways: the kiosk's 440 Hz tone in the page (WebAudio analyser), the operator's microphone sent.
    type AudioStats = {
      micState: string;
      micTracks: string[];
      contextState: string | null;
      dominantHz: number | null;
      peakDb: number | null;
      inbound: { packetsReceived: number; totalSamplesReceived: number; audioLevel: number } | null;
      outbound: { packetsSent: number; bytesSent: number } | null;
    };
    const audioStats = () => page.evaluate(() => (window as unknown as { assistOperator: { audioStats(): Promise<AudioStats> } }).assistOperator.audioStats());
    await waitFor('kiosk audio in the page', async () => {
      const a = await audioStats();
      return (a.inbound?.totalSamplesReceived ?? 0) > 48_000 && a.dominantHz ? a : undefined;
    });
    const readings: AudioStats[] = [];
    for (let i = 0; i < 5; i++) {
      readings.push(await audioStats());
      await new Promise((r) => setTimeout(r, 200));
    }
    const hz = readings.map((a) => a.dominantHz ?? 0).sort((a, b) => a - b);
    const a = readings.at(-1)!;
    t.comment(
      `kiosk audio in the page: dominant ${hz.map((h) => h.toFixed(1)).join(', ')} Hz (peak ${a.peakDb?.toFixed(1)} dBFS), samples received ${a.inbound?.totalSamplesReceived}, audioLevel ${a.inbound?.audioLevel}, AudioContext ${a.contextState}; operator microphone: ${a.micState}, packets sent ${a.outbound?.packetsSent}`,
    );
    t.ok(Math.abs(hz[2] - 440) <= 10, `the kiosk's 440 Hz tone arrives (median dominant ${hz[2].toFixed(1)} Hz)`);
    t.ok(
      hz.every((h) => Math.abs(h - 440) <= 20),
      'in every reading',
    );
    t.ok((a.inbound?.audioLevel ?? 0) > 0.01, 'with a level');
    t.equal(a.micState, 'microphone on', "the operator's microphone is on");
    t.ok((a.outbound?.packetsSent ?? 0) > 50, 'and sent');
    const audioEvents = () => events.filter((e) => e.type === 'audio');
    await waitFor('kiosk audio live both ways', () => audioEvents().filter((e) => e.state === 'live').length === 2 || undefined);
    const livePids = audioEvents()
      .filter((e) => e.state === 'live')
      .map((e) => e.pid as number);
    t.ok(
      events.find((e) => e.type === 'connected'),
      "the service said 'connected' (the customer screen shows it)",
    );
    t.equal(livePids.length, 2, 'two ffmpeg children on the kiosk (microphone, ALSA speaker)');
    t.ok(livePids.every(processAlive), 'running during the call');
    t.same(
      [child.pid!, ...livePids].flatMap((pid) => filesOpenForWriting(pid)),
      [],
      'privacy: no file open for writing in the agent or its ffmpeg children during the call',
    );

    const checks = await page.textContent('#checks');
    t.equal(checks, 'liveness, face_match', 'the page shows the failed automatic checks');
    await waitFor(
      'hello with challenge',
      () =>
        page.evaluate(() =>
          Boolean((window as unknown as { assistOperator: { state: { call: { challenge: string | null } } } }).assistOperator.state.call?.challenge),
        ) || undefined,
    );

    type Ack = { ok: boolean; reason?: string; jti?: string; decision?: string };
    const decideWith = (jwk: unknown, decision: string, note?: string) =>
      page.evaluate(
        async ({ jwk, decision, note }) => {
          const w = (window as unknown as { assistOperator: { importKey(j: unknown, id: string): Promise<void>; decide(d: string, n?: string): Promise<Ack> } })
            .assistOperator;
          await w.importKey(jwk, 'carrier-op-alice');
          return w.decide(decision, note);
        },
        { jwk, decision, note },
      );
    const forged = await decideWith(forgerPrivate, 'approve');
    t.same(forged, { type: 'ack', ok: false, reason: 'bad_signature' }, 'a decision signed with another key is refused');
    t.notOk(
      events.find((e) => e.type === 'decided'),
      'no result for the forged decision',
    );

    const ack = await decideWith(opPrivate, 'approve', 'checked the ID against the customer');
    t.equal(ack.ok, true, 'the signed approve is accepted');
    t.ok(ack.jti, 'the ack names the result');

    const resultMsg = await waitFor('signed result', () => messages.find((m) => m.topic === 'kiosk/v1/kiosk-001/result'));
    const verifier = new ResultVerifier({ ca: parseCertificate(readFileSync(pki.caPath)), nonces, checkPlan: 'skip', policy: 'skip' });
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
    t.ok(
      events.find((e) => e.type === 'ended' && e.outcome === 'decided'),
      'the call ended as decided',
    );
    const endedEvent = events.find((e) => e.type === 'ended')!;
    t.same(endedEvent.audioPidsAlive, [false, false], 'both ffmpeg children had exited when the call ended');
    t.ok(
      livePids.every((pid) => !processAlive(pid)),
      'and are gone',
    );
    t.same(
      audioEvents()
        .map((e) => `${e.direction}:${e.state}`)
        .sort(),
      ['capture:live', 'capture:stopped', 'playback:live', 'playback:stopped'],
      'audio: live, then stopped',
    );
    const spk = events.find((e) => e.type === 'speaker') as { frames: number; rms: number; peak: number; dominantHz: number; alsa: { frames: number } };
    t.comment(
      `kiosk speaker: ${spk.frames} blocks, peak ${spk.peak}, rms ${spk.rms.toFixed(1)}, dominant ${spk.dominantHz} Hz; ALSA speaker child fed ${spk.alsa.frames} blocks`,
    );
    t.ok(spk.frames > 100 && spk.rms > 10 && spk.peak > 500, "the operator's microphone reaches the kiosk speaker with energy");
    t.ok(spk.alsa.frames > 100, 'the ALSA speaker child was fed');
    await waitFor('operator microphone released', async () => {
      const s = await audioStats();
      return s.micTracks.length > 0 && s.micTracks.every((r) => r === 'ended') ? s : undefined;
    });
    t.pass("the page released the operator's microphone when the kiosk hung up");
    t.same(readdirSync(agentCwd), [], "privacy: nothing written in the agent's working folder");
    t.notMatch(stderr, /"samples"|(-?\d{1,5},){40}/, "privacy: no samples in the agent's log");
    t.same(pageErrors, [], 'no page errors');
    await page.evaluate(() => (window as unknown as { assistOperator: { hangup(): Promise<void> } }).assistOperator.hangup());
  });
}
