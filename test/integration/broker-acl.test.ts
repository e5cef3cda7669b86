import t from 'tap';
import mqtt from 'mqtt';
import { join } from 'node:path';
import { TestBroker, tlsOf } from '../helpers/mosquitto.js';
import { TestPki } from '../helpers/pki.js';
import { ownTempDir } from '../helpers/tempdir.js';

// First, before the broker: removed by the last teardown (see helpers/tempdir.ts).
const dir = ownTempDir(t, 'broker-acl-');
const pki = await TestPki.create(join(dir, 'pki'));
const k1 = await pki.issue('kiosk-001');
await pki.issue('kiosk-002');
const verifier = await pki.issue('carrier-verifier-1', 'service');
const claim = await pki.issue('claim-batch-1', 'claim');
const broker = await TestBroker.start(pki, join(dir, 'broker'), {
  devices: ['kiosk-001', 'kiosk-002'],
  claims: ['claim-batch-1'],
  verifiers: ['carrier-verifier-1'],
});
t.teardown(() => broker.stop());

const connect = (id: { keyPath: string; certPath: string }, clientId: string, p: TestPki = pki) =>
  mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId, reconnectPeriod: 0, connectTimeout: 5000, ...tlsOf(p, id) });
const connectOutcome = (p: Promise<mqtt.MqttClient>) =>
  p.then(
    async (c) => {
      await c.endAsync(true);
      return 'connected';
    },
    () => 'refused',
  );
const reason = (p: Promise<unknown>) =>
  p.then(
    () => 'allowed',
    (e: { code?: number; packet?: { granted?: number[] } }) => e.packet?.granted?.[0] ?? e.code ?? 'error',
  );

t.test('kiosk-001 may use its own topics and nothing of kiosk-002 or the carrier', async (t) => {
  const c = await connect(k1, 'kiosk-001');
  t.teardown(() => c.endAsync());
  t.equal(await reason(c.publishAsync('kiosk/v1/kiosk-001/result', 'x', { qos: 1 })), 'allowed', 'own result');
  t.equal(await reason(c.subscribeAsync('kiosk/v1/kiosk-001/cmd/#', { qos: 1 })), 'allowed', 'own commands');
  t.equal(await reason(c.publishAsync('kiosk/v1/kiosk-002/result', 'x', { qos: 1 })), 0x87, 'cannot publish under kiosk-002 (PUBACK 0x87)');
  t.equal(await reason(c.subscribeAsync('kiosk/v1/kiosk-002/cmd/#', { qos: 1 })), 0x87, "cannot subscribe to kiosk-002's commands");
  t.equal(await reason(c.subscribeAsync('$share/verifiers/kiosk/v1/+/result', { qos: 1 })), 0x87, "cannot join the carrier's shared subscription");
  t.equal(await reason(c.subscribeAsync('kiosk/v1/+/result', { qos: 1 })), 0x87, 'cannot read all results');
  t.equal(await reason(c.subscribeAsync('#', { qos: 1 })), 0x87, 'cannot subscribe to everything');
  t.equal(await reason(c.publishAsync('kiosk/v1/kiosk-002/cmd/start_session', '{}', { qos: 1 })), 0x87, 'cannot send commands');
});

t.test('a claim identity reaches only the enrolment topics; the carrier joins the shared subscription', async (t) => {
  const c = await connect(claim, 'claim-1');
  t.teardown(() => c.endAsync());
  t.equal(await reason(c.publishAsync('kiosk/v1/enrol/request', '{}', { qos: 1 })), 'allowed');
  t.equal(await reason(c.subscribeAsync('kiosk/v1/enrol/reply/abc', { qos: 1 })), 'allowed');
  t.equal(await reason(c.publishAsync('kiosk/v1/kiosk-001/result', 'x', { qos: 1 })), 0x87);
  t.equal(await reason(c.subscribeAsync('kiosk/v1/kiosk-001/cmd/#', { qos: 1 })), 0x87);
  const v = await connect(verifier, 'verifier-1');
  t.teardown(() => v.endAsync());
  t.equal(await reason(v.subscribeAsync('$share/verifiers/kiosk/v1/+/result', { qos: 1 })), 'allowed');
  t.equal(await reason(v.publishAsync('kiosk/v1/kiosk-001/result', 'forged', { qos: 1 })), 0x87, 'the carrier cannot forge device results');
});

t.test('a client without a certificate, or with a foreign CA, is refused at TLS', async (t) => {
  const noCert = mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'nocert', reconnectPeriod: 0, connectTimeout: 5000, ca: tlsOf(pki, k1).ca });
  t.equal(await connectOutcome(noCert), 'refused', 'no client certificate');
  const foreign = await TestPki.create(join(dir, 'foreign'));
  const f = await foreign.issue('kiosk-001');
  const withForeign = mqtt.connectAsync(broker.url, {
    protocolVersion: 5,
    clientId: 'foreign',
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ...tlsOf(foreign, f),
    ca: tlsOf(pki, k1).ca,
  });
  t.equal(await connectOutcome(withForeign), 'refused', 'certificate from a foreign CA with the same names');
  t.match(broker.log(), /kiosk-001/, 'broker log names the device that connected');
});
