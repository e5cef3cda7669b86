/**
 * The case table the AWS IoT Core and EMQX exports are compared with (test/helpers/broker-cases.ts)
 * says what mosquitto allows; this checks every row against the real mosquitto with the generated
 * dynamic-security policy, so the table is measured, not assumed.
 */
import t from 'tap';
import mqtt from 'mqtt';
import { join } from 'node:path';
import { BROKER_CASES, CASE_POLICY } from '../helpers/broker-cases.js';
import { TestBroker, tlsOf } from '../helpers/mosquitto.js';
import { TestPki, type TestIdentity } from '../helpers/pki.js';
import { ownTempDir } from '../helpers/tempdir.js';

const dir = ownTempDir(t, 'broker-policy-cases-');
const pki = await TestPki.create(join(dir, 'pki'));
const names = [...new Set(BROKER_CASES.map((c) => c.who))];
const ids = new Map<string, TestIdentity>();
for (const cn of names) ids.set(cn, await pki.issue(cn, cn.startsWith('carrier-') ? 'service' : cn.startsWith('claim-') ? 'claim' : 'device'));
const broker = await TestBroker.start(pki, join(dir, 'broker'), CASE_POLICY);
t.teardown(() => broker.stop());

const clients = new Map<string, mqtt.MqttClient>();
t.teardown(async () => {
  for (const c of clients.values()) await c.endAsync(true);
});
const clientOf = async (cn: string) => {
  const existing = clients.get(cn);
  if (existing) return existing;
  const c = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: cn, reconnectPeriod: 0, connectTimeout: 5000, ...tlsOf(pki, ids.get(cn)!) });
  clients.set(cn, c);
  return c;
};
/** Allowed, refused (reason code >= 0x80), or 'closed' when the broker drops the connection instead of answering. */
const outcome = (client: mqtt.MqttClient, p: Promise<unknown>) =>
  Promise.race([
    p.then(
      (r) => {
        // mqtt.js resolves a SUBACK; a refused filter comes back as a reason code >= 0x80.
        const granted = (r as { qos?: number }[] | undefined)?.[0]?.qos;
        return granted === undefined || granted < 0x80;
      },
      () => false,
    ),
    new Promise<'closed'>((resolve) => client.once('close', () => resolve('closed'))),
  ]);

/** Connects `cn` asking for `clientId`; true when the broker kept that id (its log: "New client connected ... as <id> (... u'<cn>')"). */
async function getsClientId(cn: string, clientId: string): Promise<boolean> {
  // The new connection takes over the session of this CN's cached client: close that first.
  await clients.get(cn)?.endAsync(true);
  clients.delete(cn);
  const c = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId, reconnectPeriod: 0, connectTimeout: 5000, ...tlsOf(pki, ids.get(cn)!) });
  await c.endAsync(true);
  const line = broker
    .log()
    .split('\n')
    .filter((l) => l.includes('New client connected') && l.includes(`u'${cn}'`))
    .at(-1);
  const given = / as (\S+) \(/.exec(line ?? '')?.[1];
  if (!given) throw new Error(`no connection of ${cn} in the broker log`);
  return given === clientId;
}

for (const c of BROKER_CASES) {
  t.test(`${c.who} ${c.action} ${c.topic} (${c.from})`, async (t) => {
    let got: boolean;
    if (c.action === 'connect') got = await getsClientId(c.who, c.topic);
    else {
      const client = await clientOf(c.who);
      const r = await outcome(client, c.action === 'publish' ? client.publishAsync(c.topic, 'x', { qos: 1 }) : client.subscribeAsync(c.topic, { qos: 1 }));
      if (r === 'closed') {
        clients.delete(c.who);
        t.comment('mosquitto closed the connection instead of answering');
      }
      got = r === true;
      if (c.action === 'subscribe' && got) await client.unsubscribeAsync(c.topic);
    }
    t.equal(got, c.allowed, c.allowed ? 'mosquitto allows it' : 'mosquitto refuses it');
  });
}
