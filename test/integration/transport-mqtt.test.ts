import t from 'tap';
import mqtt from 'mqtt';
import { once } from 'node:events';
import { join } from 'node:path';
import { pino } from 'pino';
import { OutboxRelay } from '../../agent/outbox/relay.js';
import { SqliteOutbox } from '../../agent/outbox/sqlite-outbox.js';
import { testCommandAuth } from '../helpers/commands.js';
import { CommandRouter, type CommandOutcome } from '../../agent/transport/commands.js';
import { MqttTransport } from '../../agent/transport/mqtt-transport.js';
import { ResultSigner } from '../../provisioning/result-signer.js';
import { MemoryNonceStore } from '../../carrier/nonce-store.js';
import { ResultVerifier, type VerifyOutcome } from '../../carrier/verifier.js';
import { VerifierService } from '../../carrier/verifier-service.js';
import { TestBroker, tlsOf } from '../helpers/mosquitto.js';
import { TestPki, stubPlan, stubPlanCheck } from '../helpers/pki.js';
import { ownTempDir } from '../helpers/tempdir.js';

const logger = pino({ level: 'silent' });
// First, before the broker and the outbox: removed by the last teardown (see helpers/tempdir.ts).
const dir = ownTempDir(t, 'transport-mqtt-');
const pki = await TestPki.create(join(dir, 'pki'));
const dev = await pki.issue('kiosk-001');
const carrierId = await pki.issue('carrier-ops', 'service');
const v1 = await pki.issue('carrier-verifier-1', 'service');
const broker = await TestBroker.start(pki, join(dir, 'broker'), {
  devices: ['kiosk-001', 'kiosk-002'],
  dispatchers: ['carrier-ops'],
  verifiers: ['carrier-verifier-1'],
});
t.teardown(() => broker.stop());

const nonces = new MemoryNonceStore();
const verifier = new ResultVerifier({ ca: pki.ca.certificate, nonces, checkPlan: stubPlanCheck, policy: 'skip' });
const service = new VerifierService({ options: { url: broker.url, clientId: 'verifier-1', ...tlsOf(pki, v1) }, verifier, logger });
await service.start();
t.teardown(() => service.stop());
const outcomes: VerifyOutcome[] = [];
service.events.on('outcome', (o) => outcomes.push(o));

const carrier = await mqtt.connectAsync(broker.url, {
  protocolVersion: 5,
  clientId: 'ops',
  reconnectPeriod: 200,
  clean: false,
  properties: { sessionExpiryInterval: 600 },
  ...tlsOf(pki, carrierId),
});
t.teardown(() => carrier.endAsync(true));
const seen: { topic: string; payload: string; packet: mqtt.IPublishPacket }[] = [];
carrier.on('message', (topic, payload, packet) => seen.push({ topic, payload: payload.toString(), packet }));
await carrier.subscribeAsync(['kiosk/v1/+/status', 'kiosk/v1/+/telemetry', 'kiosk/v1/+/reply/#'], { qos: 1 });

const transport = new MqttTransport({ options: { url: broker.url, deviceId: 'kiosk-001', ...tlsOf(pki, dev), backoff: { baseMs: 100, capMs: 400 } }, logger });
const outbox = new SqliteOutbox({ path: join(dir, 'state', 'outbox.db') });
const relay = new OutboxRelay({ outbox, transport, logger, backoff: { baseMs: 100, capMs: 400 } });
const signer = new ResultSigner({ keyStore: dev.keyStore, certificate: dev.certificate, measurements: [{ id: 'agent' }] });
const verdicts = new Map<string, string>();
const handled: string[] = [];
const ok = async (): Promise<CommandOutcome> => ({ ok: true });
const { signer: commandKey, auth } = await testCommandAuth('kiosk-001');
const router = new CommandRouter({
  transport,
  auth,
  logger,
  resultVerdict: async (jti) => verdicts.get(jti),
  handlers: {
    start_session: async (c) => {
      handled.push(`start:${c.nonce}`);
      return ok();
    },
    authorize_dispense: async (c) => {
      handled.push(`dispense:${c.jti}`);
      return ok();
    },
    config: ok,
  },
});
await outbox.start();
await router.start();
await relay.start();
const online = once(transport.events, 'online');
await transport.start();
await online;
t.teardown(async () => {
  await relay.stop();
  await router.stop();
  await transport.stop();
  await outbox.stop();
});

const until = async (what: string, cond: () => boolean, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};
const sendResult = async (verdict = 'accept') => {
  const nonce = await nonces.issue('kiosk-001', new Date());
  const s = await signer.sign(nonce, { verdict, reasons: [], scores: {}, plan: stubPlan(nonce) });
  verdicts.set(s.jti, verdict);
  await outbox.put({ jti: s.jti, topic: transport.topics.result, payload: Buffer.from(s.token) });
  return s.jti;
};

t.test('status is retained online; results go outbox -> broker -> verifier and leave the outbox after PUBACK', async (t) => {
  await until('status online', () => seen.some((m) => m.topic === 'kiosk/v1/kiosk-001/status' && m.payload.includes('online')));
  const jtis = [await sendResult(), await sendResult('reject')];
  await until('two outcomes', () => jtis.every((j) => outcomes.some((o) => o.status === 'accepted' && o.jti === j)));
  await relay.idle();
  t.match(await outbox.stats(), { pending: 0, parked: 0 });
});

t.test('a publish the broker refuses (0x87) is parked with the reason, surfaced, and not retried', async (t) => {
  const parked = once(relay.events, 'parked');
  await outbox.put({ jti: 'misrouted', topic: 'kiosk/v1/kiosk-002/result', payload: Buffer.from('x') });
  const [ev] = await parked;
  t.match(ev, { jti: 'misrouted', code: 'E_NOT_AUTHORIZED', reason: /0x87/ });
  await sendResult();
  await relay.idle();
  t.match(await outbox.list('parked'), [{ jti: 'misrouted', attempts: 1, reason: /not authorised/ }], 'kept, tried once');
});

t.test('commands: signed, schema-checked, answered on the response topic with the correlation data', async (t) => {
  const nonce = 'ab'.repeat(32);
  const sendRaw = (name: string, body: string, corr: string, responseTopic = `kiosk/v1/kiosk-001/reply/${corr}`) =>
    carrier.publishAsync(`kiosk/v1/kiosk-001/cmd/${name}`, body, { qos: 1, properties: { responseTopic, correlationData: Buffer.from(corr) } });
  const send = async (name: string, body: string, corr: string) => sendRaw(name, await commandKey.sign('kiosk-001', name, JSON.parse(body)), corr);
  const reply = async (corr: string) => {
    await until(`reply ${corr}`, () => seen.some((m) => m.packet.properties?.correlationData?.toString() === corr));
    return JSON.parse(seen.find((m) => m.packet.properties?.correlationData?.toString() === corr)!.payload) as Record<string, unknown>;
  };
  await send('start_session', JSON.stringify({ nonce }), 'c1');
  t.match(await reply('c1'), { ok: true, command: 'start_session' });
  await send('start_session', JSON.stringify({ nonce: 'XYZ' }), 'c2');
  t.match(await reply('c2'), { ok: false, code: 'E_COMMAND_INVALID', reason: 'schema', detail: /nonce/ });
  await sendRaw('start_session', JSON.stringify({ nonce }), 'c3');
  t.match(await reply('c3'), { ok: false, reason: 'unsigned' }, 'an unsigned command is refused');
  await send('format_disk', '{}', 'c4');
  t.match(await reply('c4'), { ok: false, reason: 'unknown_command' });
  await send('authorize_dispense', JSON.stringify({ jti: 'never-signed', session_id: 's' }), 'c5');
  t.match(await reply('c5'), { ok: false, reason: 'unknown_result' });
  const rejectedJti = await sendResult('reject');
  await send('authorize_dispense', JSON.stringify({ jti: rejectedJti, session_id: 's' }), 'c6');
  t.match(await reply('c6'), { ok: false, reason: 'not_accepted' });
  const acceptedJti = await sendResult('accept');
  await send('authorize_dispense', JSON.stringify({ jti: acceptedJti, session_id: 's' }), 'c7');
  t.match(await reply('c7'), { ok: true, command: 'authorize_dispense' });
  t.same(handled, [`start:${nonce}`, `dispense:${acceptedJti}`], 'only valid commands reached the handlers');
});

t.test('telemetry carries a message expiry', async (t) => {
  await transport.telemetry({ uptimeSec: 12, outboxPending: 0 });
  await until('telemetry', () => seen.some((m) => m.topic.endsWith('/telemetry')));
  t.equal(seen.find((m) => m.topic.endsWith('/telemetry'))!.packet.properties?.messageExpiryInterval, 300);
});

t.test('broker restart: results stored while offline are delivered after a jittered reconnect', async (t) => {
  const reconnecting: number[] = [];
  transport.events.on('reconnecting', (e) => reconnecting.push(e.delayMs));
  const offline = once(transport.events, 'offline');
  await broker.stop();
  await offline;
  const jtis = [await sendResult(), await sendResult(), await sendResult()];
  t.equal((await outbox.stats()).pending, 3, 'kept on disk while the broker is gone');
  const back = once(transport.events, 'online');
  await broker.restart();
  await back;
  await until('results after restart', () => jtis.every((j) => outcomes.some((o) => o.jti === j && o.status === 'accepted')), 15_000);
  t.ok(reconnecting.length >= 1 && reconnecting.every((d) => d >= 0 && d < 400), `reconnect delays within the cap: ${reconnecting.join(',')}`);
  await relay.idle();
  t.equal((await outbox.stats()).pending, 0);
});

t.test('the Last Will says offline when the device vanishes', async (t) => {
  seen.length = 0;
  // Another kiosk: a second connection with kiosk-001's certificate would get kiosk-001's client id
  // (the broker ties it to the certificate) and throw the transport above off.
  const other = await pki.issue('kiosk-002');
  const ghost = await mqtt.connectAsync(broker.url, {
    protocolVersion: 5,
    clientId: 'kiosk-002',
    reconnectPeriod: 0,
    ...tlsOf(pki, other),
    will: { topic: 'kiosk/v1/kiosk-002/status', payload: Buffer.from('{"state":"offline"}'), qos: 1, retain: true },
  });
  ghost.stream.destroy();
  await until('will', () => seen.some((m) => m.topic === 'kiosk/v1/kiosk-002/status' && m.payload.includes('offline')));
  t.pass('offline status published by the broker');
  ghost.end(true);
});
