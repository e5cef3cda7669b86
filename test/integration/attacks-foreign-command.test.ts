/**
 * Attack: a carrier service other than the dispatcher (a verifier, or the enrolment service that
 * parses untrusted CSRs) sends a kiosk a command, or an operator signals a kiosk it is not assigned.
 * Before roles were split by duty, every carrier service could publish `+/cmd/#` fleet-wide.
 * The broker refuses (PUBACK 0x87); the kiosk's own check of the command signature is tested in
 * attacks-commands.test.ts.
 */
import t from 'tap';
import mqtt from 'mqtt';
import { join } from 'node:path';
import { TestBroker, tlsOf } from '../helpers/mosquitto.js';
import { TestPki, type TestIdentity } from '../helpers/pki.js';
import { ownTempDir } from '../helpers/tempdir.js';

const dir = ownTempDir(t, 'attacks-foreign-cmd-');
const pki = await TestPki.create(join(dir, 'pki'));
const ids = {
  verifier: await pki.issue('carrier-verifier-1', 'service'),
  enrolment: await pki.issue('carrier-enrol', 'service'),
  dispatcher: await pki.issue('carrier-dispatch-1', 'service'),
  operator: await pki.issue('carrier-op-alice', 'service'),
};
const broker = await TestBroker.start(pki, join(dir, 'broker'), {
  devices: ['kiosk-001', 'kiosk-002'],
  verifiers: ['carrier-verifier-1'],
  enrolment: ['carrier-enrol'],
  dispatchers: ['carrier-dispatch-1'],
  operators: [{ username: 'carrier-op-alice', kiosks: ['kiosk-001'] }],
});
t.teardown(() => broker.stop());

const connect = (id: TestIdentity) =>
  mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: id.cn, reconnectPeriod: 0, connectTimeout: 5000, ...tlsOf(pki, id) });
const outcome = (p: Promise<unknown>) =>
  p.then(
    () => 'allowed',
    (e: { code?: number; packet?: { granted?: number[] } }) => e.packet?.granted?.[0] ?? e.code ?? 'error',
  );
const command = 'kiosk/v1/kiosk-001/cmd/authorize_dispense';

t.test('a verifier cannot send commands, nor answer enrolments', async (t) => {
  const c = await connect(ids.verifier);
  t.teardown(() => c.endAsync());
  t.equal(await outcome(c.publishAsync(command, '{}', { qos: 1 })), 0x87, 'authorize_dispense refused (PUBACK 0x87)');
  t.equal(await outcome(c.publishAsync('kiosk/v1/kiosk-001/cmd/start_session', '{}', { qos: 1 })), 0x87, 'start_session refused');
  t.equal(await outcome(c.publishAsync('kiosk/v1/kiosk-001/renew/reply/abcdefghijklmnop', '{}', { qos: 1 })), 0x87, 'no renewal replies');
  t.equal(await outcome(c.subscribeAsync('$share/verifiers/kiosk/v1/+/result', { qos: 1 })), 'allowed', 'it reads results');
});

t.test('the enrolment service cannot send commands, nor read results', async (t) => {
  const c = await connect(ids.enrolment);
  t.teardown(() => c.endAsync());
  t.equal(await outcome(c.publishAsync(command, '{}', { qos: 1 })), 0x87, 'authorize_dispense refused (PUBACK 0x87)');
  t.equal(await outcome(c.publishAsync('kiosk/v1/kiosk-002/cmd/clear_alarm', '{}', { qos: 1 })), 0x87, 'clear_alarm refused');
  t.equal(await outcome(c.subscribeAsync('$share/verifiers/kiosk/v1/+/result', { qos: 1 })), 0x87, 'no results');
  t.equal(await outcome(c.subscribeAsync('$share/enrol/kiosk/v1/enrol/request', { qos: 1 })), 'allowed', 'it answers enrolments');
});

t.test('only the dispatcher sends commands; an operator reaches only the kiosks it is assigned', async (t) => {
  const d = await connect(ids.dispatcher);
  t.teardown(() => d.endAsync());
  t.equal(await outcome(d.publishAsync(command, '{}', { qos: 1 })), 'allowed', 'the dispatcher may');
  t.equal(await outcome(d.subscribeAsync('$share/verifiers/kiosk/v1/+/result', { qos: 1 })), 0x87, 'but reads no results');
  const o = await connect(ids.operator);
  t.teardown(() => o.endAsync());
  t.equal(await outcome(o.publishAsync('kiosk/v1/kiosk-001/assist/signal/operator', '{}', { qos: 1 })), 'allowed', 'assigned kiosk');
  t.equal(await outcome(o.publishAsync('kiosk/v1/kiosk-002/assist/signal/operator', '{}', { qos: 1 })), 0x87, 'a kiosk not assigned');
  t.equal(await outcome(o.subscribeAsync('kiosk/v1/kiosk-002/assist/signal/kiosk', { qos: 1 })), 0x87, "not a foreign kiosk's offers");
  t.equal(await outcome(o.publishAsync(command, '{}', { qos: 1 })), 0x87, 'no commands');
});
