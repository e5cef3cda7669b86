/**
 * Attack: one stolen certificate (another kiosk's, or the batch claim certificate every kiosk of a
 * batch carries) connects with someone else's MQTT client id. Before the broker tied the client id
 * to the certificate, this threw the victim kiosk off the broker, and under a verifier's id
 * (persistent session) it inherited the verifier's shared subscription and its queued results.
 * Against the real mosquitto with this project's configuration and policy.
 */
import t from 'tap';
import mqtt from 'mqtt';
import { join } from 'node:path';
import { TestBroker, tlsOf } from '../helpers/mosquitto.js';
import { TestPki, type TestIdentity } from '../helpers/pki.js';
import { ownTempDir } from '../helpers/tempdir.js';
import { waitFor } from '../helpers/wait.js';

const dir = ownTempDir(t, 'attacks-clientid-');
const pki = await TestPki.create(join(dir, 'pki'));
const victim = await pki.issue('kiosk-001');
const stolenKiosk = await pki.issue('kiosk-002');
const stolenClaim = await pki.issue('claim-batch-1', 'claim');
const verifier = await pki.issue('carrier-verifier-1', 'service');
const dispatcher = await pki.issue('carrier-dispatch-1', 'service');
const broker = await TestBroker.start(pki, join(dir, 'broker'), {
  devices: ['kiosk-001', 'kiosk-002'],
  claims: ['claim-batch-1'],
  verifiers: ['carrier-verifier-1'],
  dispatchers: ['carrier-dispatch-1'],
});
t.teardown(() => broker.stop());

const connect = (id: TestIdentity, clientId: string, extra: mqtt.IClientOptions = {}) =>
  mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId, reconnectPeriod: 0, connectTimeout: 5000, ...tlsOf(pki, id), ...extra });
const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const [name, thief] of [
  ['another kiosk certificate', stolenKiosk],
  ['the batch claim certificate', stolenClaim],
] as const) {
  t.test(`takeover of a kiosk's client id with ${name}`, async (t) => {
    const kiosk = await connect(victim, 'kiosk-001');
    t.teardown(() => kiosk.endAsync(true));
    let kicked = 0;
    kiosk.on('close', () => kicked++);
    const commands: string[] = [];
    kiosk.on('message', (topic) => commands.push(topic));
    await kiosk.subscribeAsync('kiosk/v1/kiosk-001/cmd/#', { qos: 1 });
    for (let i = 0; i < 3; i++) {
      const attacker = await connect(thief, 'kiosk-001').catch(() => undefined);
      await settle(150);
      await attacker?.endAsync(true);
    }
    t.equal(kicked, 0, 'the kiosk was never thrown off the broker');
    const carrier = await connect(dispatcher, 'carrier-dispatch-1');
    t.teardown(() => carrier.endAsync());
    await carrier.publishAsync('kiosk/v1/kiosk-001/cmd/start_session', '{}', { qos: 1 });
    await waitFor('the command to reach the kiosk', () => commands.length === 1, 5000);
    t.match(broker.log(), new RegExp(`as ${thief.cn} `), "the broker gave the attacker its own certificate's id");
  });

  t.test(`takeover of a verifier's persistent session with ${name}`, async (t) => {
    const group = '$share/verifiers/kiosk/v1/+/result';
    const v = await connect(verifier, 'carrier-verifier-1', { clean: false, properties: { sessionExpiryInterval: 600 } });
    await v.subscribeAsync(group, { qos: 1 });
    await v.endAsync();
    // While the verifier is away, a kiosk's result is queued in its session.
    const kiosk = await connect(victim, 'kiosk-001');
    t.teardown(() => kiosk.endAsync());
    await kiosk.publishAsync('kiosk/v1/kiosk-001/result', `token-${thief.cn}`, { qos: 1 });
    const stolen: string[] = [];
    const attacker = await connect(thief, 'carrier-verifier-1', { clean: false, properties: { sessionExpiryInterval: 600 } });
    attacker.on('message', (_t, p) => stolen.push(p.toString()));
    await settle(500);
    await attacker.endAsync();
    t.same(stolen, [], 'the attacker received none of the queued results');
    const received: string[] = [];
    const back = await connect(verifier, 'carrier-verifier-1', { clean: false, properties: { sessionExpiryInterval: 600 } });
    t.teardown(() => back.endAsync());
    back.on('message', (_t, p) => received.push(p.toString()));
    await waitFor('the verifier to get its queued result', () => received.includes(`token-${thief.cn}`), 5000);
    t.pass('the verifier still holds its session and its queued result');
  });
}
