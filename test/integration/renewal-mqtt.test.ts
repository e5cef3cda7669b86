import t from 'tap';
import mqtt from 'mqtt';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { isKioskError } from '../../base/errors.js';
import { EnrolmentAuthority } from '../../carrier/enrol/authority.js';
import { renewOverMqtt } from '../../provisioning/enrol/client.js';
import { EnrolmentRegistry } from '../../carrier/enrol/registry.js';
import { installCertificate, installWithNewKey, RenewalScheduler, renewalDue } from '../../provisioning/enrol/renewal.js';
import { EnrolmentService } from '../../carrier/enrol/service.js';
import { FileKeyStore } from '../../base/keys/file-key-store.js';
import { certificateMatchesKey, parseCertificate } from '../../base/keys/x509.js';
import { TestBroker, tlsOf } from '../helpers/mosquitto.js';
import { TestPki } from '../helpers/pki.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { ownTempDir } from '../helpers/tempdir.js';

const logger = pino({ level: 'silent' });
// First, before the broker: removed by the last teardown (see helpers/tempdir.ts).
const dir = ownTempDir(t, 'renewal-mqtt-');
const pki = await TestPki.create(join(dir, 'pki'));
const enrolId = await pki.issue('carrier-enrol', 'service');
const broker = await TestBroker.start(pki, join(dir, 'broker'), { devices: ['kiosk-301', 'kiosk-302'], enrolment: ['carrier-enrol'] });
t.teardown(() => broker.stop());
const registry = new EnrolmentRegistry(':memory:');
const service = new EnrolmentService({
  options: { url: broker.url, clientId: 'enrol-1', ...tlsOf(pki, enrolId) },
  authority: new EnrolmentAuthority({ ca: pki.ca, registry, validityDays: 30 }),
  logger,
});
await service.start();
t.teardown(async () => {
  await service.stop();
  await registry.stop();
});

/** A device state directory with a short-lived certificate (1 day) as `provision` leaves it. */
async function device(id: string) {
  const state = join(dir, id);
  mkdirSync(state, { recursive: true });
  const keyStore = new FileKeyStore({ path: join(state, 'device.key') });
  await keyStore.start();
  const cert = await pki.ca.issue(keyStore.publicKeySpki(), id, { profile: 'device', validityDays: 1 });
  writeFileSync(join(state, 'device.crt'), cert.toString('pem'));
  writeFileSync(join(state, 'ca.crt'), pki.ca.pem);
  const conn = () => ({
    url: broker.url,
    ca: pki.ca.pem,
    cert: readFileSync(join(state, 'device.crt')),
    key: readFileSync(join(state, 'device.key')),
    timeoutMs: 8000,
  });
  return { state, keyStore, cert, conn };
}

t.test('the scheduler renews over MQTT (same key) once less than 20% of the validity remains', async (t) => {
  const d = await device('kiosk-301');
  const lifetime = d.cert.notAfter.getTime() - d.cert.notBefore.getTime();
  const clock = new FakeClock(d.cert.notBefore.getTime() + lifetime * 0.5);
  let requests = 0;
  const scheduler = new RenewalScheduler({
    certificate: () => parseCertificate(readFileSync(join(d.state, 'device.crt'), 'utf8')),
    renew: async () => {
      requests++;
      const cert = await renewOverMqtt({ ...d.conn(), deviceId: 'kiosk-301', keyStore: d.keyStore });
      await installCertificate(d.state, cert.toString('pem'));
      return cert;
    },
    clock,
    logger,
    options: { window: 0.2, maxSleepMs: 3600_000 },
  });
  const renewed = new Promise<{ notAfter: Date; serial: string }>((r) => scheduler.events.once('renewed', r));
  await scheduler.start();
  t.teardown(() => scheduler.stop());
  t.equal(requests, 0, 'not due at half the validity');
  clock.advance(lifetime * 0.25);
  t.equal(requests, 0, 'not due at 75%');
  clock.advance(lifetime * 0.06);
  t.equal(requests, 1, 'due at 81%: one request');
  const ev = await renewed;
  const installed = parseCertificate(readFileSync(join(d.state, 'device.crt'), 'utf8'));
  t.equal(installed.serialNumber, ev.serial, 'the new certificate is installed');
  t.not(installed.serialNumber, d.cert.serialNumber);
  t.ok(certificateMatchesKey(installed, d.keyStore), 'same key');
  t.ok(installed.notAfter > d.cert.notAfter, 'valid for longer');
  t.notOk(renewalDue(installed, new Date(clock.now())), 'not due again');
  t.equal(clock.pending, 1, 'the next check is scheduled');
  const c = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'kiosk-301', reconnectPeriod: 0, ...d.conn() });
  await c.publishAsync('kiosk/v1/kiosk-301/status', '{"state":"online"}', { qos: 1 });
  await c.endAsync();
  t.pass('the device connects with the renewed certificate');
});

t.test('renewal with a new key; a device cannot renew for another', async (t) => {
  const d = await device('kiosk-302');
  const next = new FileKeyStore({ path: join(d.state, 'device.key.next') });
  await next.start();
  const cert = await renewOverMqtt({ ...d.conn(), deviceId: 'kiosk-302', keyStore: next });
  await installWithNewKey(d.state, cert.toString('pem'));
  const key = new FileKeyStore({ path: join(d.state, 'device.key'), create: false });
  await key.start();
  t.ok(certificateMatchesKey(parseCertificate(readFileSync(join(d.state, 'device.crt'), 'utf8')), key), 'key and certificate replaced together');
  t.notOk(certificateMatchesKey(cert, d.keyStore), 'it is a new key');
  t.match(await registry.device('kiosk-302'), { serial: cert.serialNumber }, 'the registry knows the new certificate');
  const c = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'kiosk-302', reconnectPeriod: 0, ...d.conn() });
  await c.endAsync();
  const reason = await renewOverMqtt({ ...d.conn(), deviceId: 'kiosk-301', keyStore: key }).then(
    () => 'ok',
    (e: unknown) => (isKioskError(e) ? e.code : String(e)),
  );
  t.equal(reason, 'E_NOT_AUTHORIZED', "kiosk-302 cannot use kiosk-301's renewal topic");
  await registry.revoke('kiosk-302');
  const revoked = await renewOverMqtt({ ...d.conn(), deviceId: 'kiosk-302', keyStore: key }).then(
    () => 'ok',
    (e: unknown) => (isKioskError(e) ? e.details?.reason : String(e)),
  );
  t.equal(revoked, 'revoked', 'a revoked device gets no new certificate');
  await key.stop();
});

t.test('offline renewal with a new key: provision --renew --new-key, carrier sign-csr, provision --certificate', async (t) => {
  const d = await device('kiosk-303');
  const cli = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'agent/cli/main.ts', ...args], { encoding: 'utf8', timeout: 30_000 });
  const notDue = cli(['provision', 'kiosk-303', '--state', d.state, '--renew']);
  t.match(JSON.parse(notDue.stdout), { renewed: false }, 'a fresh certificate is not due');
  const r = cli(['provision', 'kiosk-303', '--state', d.state, '--renew', '--new-key', '--force']);
  t.equal(r.status, 0, r.stderr);
  t.match(JSON.parse(r.stdout), { newKey: true });
  const crt = join(dir, 'kiosk-303.crt');
  const s = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      'carrier/cli/main.ts',
      'sign-csr',
      join(d.state, 'device.csr'),
      '--dir',
      join(dir, 'pki', 'ca'),
      '--expect-cn',
      'kiosk-303',
      '--out',
      crt,
    ],
    { encoding: 'utf8', timeout: 30_000 },
  );
  t.equal(s.status, 0, s.stderr);
  const i = cli(['provision', 'kiosk-303', '--state', d.state, '--certificate', crt]);
  t.equal(i.status, 0, i.stderr);
  t.match(JSON.parse(i.stdout), { newKey: true });
  const key = new FileKeyStore({ path: join(d.state, 'device.key'), create: false });
  await key.start();
  t.ok(certificateMatchesKey(parseCertificate(readFileSync(join(d.state, 'device.crt'), 'utf8')), key), 'the new key is in place with its certificate');
  t.notOk(certificateMatchesKey(d.cert, key), 'and the old key is gone');
  await key.stop();
});
