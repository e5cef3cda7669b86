import t from 'tap';
import mqtt from 'mqtt';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { ResultSigner } from '../../provisioning/result-signer.js';
import { isKioskError } from '../../base/errors.js';
import { EnrolmentAuthority } from '../../carrier/enrol/authority.js';
import { enrolOverMqtt, renewOverMqtt } from '../../provisioning/enrol/client.js';
import { EnrolmentRegistry } from '../../carrier/enrol/registry.js';
import { EnrolmentService, type EnrolmentDecisionEvent } from '../../carrier/enrol/service.js';
import { FileKeyStore } from '../../base/keys/file-key-store.js';
import { MemoryKeyStore } from '../../base/keys/memory-key-store.js';
import { MemoryNonceStore } from '../../carrier/nonce-store.js';
import { ResultVerifier, type VerifyOutcome } from '../../carrier/verifier.js';
import { VerifierService } from '../../carrier/verifier-service.js';
import { certificateMatchesKey, commonName } from '../../base/keys/x509.js';
import { TestBroker, tlsOf } from '../helpers/mosquitto.js';
import { TestPki } from '../helpers/pki.js';
import { ownTempDir } from '../helpers/tempdir.js';
import { waitFor } from '../helpers/wait.js';

const logger = pino({ level: process.env.TEST_LOG ?? 'silent' });
// First, before the broker and the enrol-service child: removed by the last teardown (see helpers/tempdir.ts).
const dir = ownTempDir(t, 'enrol-mqtt-');
const pki = await TestPki.create(join(dir, 'pki'));
const claim = await pki.issue('claim-batch-1', 'claim', { validityDays: 1 });
const enrolId = await pki.issue('carrier-enrol', 'service');
const verifierId = await pki.issue('carrier-verifier-1', 'service');
const broker = await TestBroker.start(pki, join(dir, 'broker'), {
  devices: [],
  claims: ['claim-batch-1'],
  enrolment: ['carrier-enrol'],
  verifiers: ['carrier-verifier-1'],
  admins: ['carrier-enrol'],
});
t.teardown(() => broker.stop());

const registry = new EnrolmentRegistry(':memory:');
await registry.allow(['kiosk-101']);
const token = await registry.issueToken('kiosk-102');
const service = new EnrolmentService({
  options: { url: broker.url, clientId: 'enrol-1', registerWithBroker: true, ...tlsOf(pki, enrolId) },
  authority: new EnrolmentAuthority({ ca: pki.ca, registry, validityDays: 30 }),
  logger,
});
await service.start();
const decisions: EnrolmentDecisionEvent[] = [];
service.events.on('decision', (d) => decisions.push(d));
t.teardown(async () => {
  await service.stop();
  await registry.stop();
});

const claimConn = { url: broker.url, ...tlsOf(pki, claim), timeoutMs: 8000 };
const code = (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (e: unknown) => (isKioskError(e) ? `${e.code}:${String(e.details?.reason ?? '')}` : (e as { code?: unknown }).code),
  );

t.test('a kiosk enrols with the claim certificate, gets a device certificate, and may then publish as itself', async (t) => {
  const keyStore = new FileKeyStore({ path: join(dir, 'k101', 'device.key') });
  await keyStore.start();
  const cert = await enrolOverMqtt({ ...claimConn, deviceId: 'kiosk-101', keyStore });
  t.equal(commonName(cert), 'kiosk-101');
  t.ok(certificateMatchesKey(cert, keyStore), 'the certificate is for the key made on the kiosk');
  t.ok(Math.abs(cert.notAfter.getTime() - cert.notBefore.getTime() - 30 * 86_400_000) < 120_000, 'validity set by the carrier (30 days)');
  t.match(await registry.device('kiosk-101'), { deviceId: 'kiosk-101', serial: cert.serialNumber, revoked: false });

  // The enrolment service added the device to the broker policy: it can connect and publish a result the verifier accepts.
  const nonces = new MemoryNonceStore();
  const outcomes: VerifyOutcome[] = [];
  const verifier = new VerifierService({
    options: { url: broker.url, clientId: 'verifier-1', ...tlsOf(pki, verifierId) },
    verifier: new ResultVerifier({ ca: pki.ca.certificate, nonces, checkPlan: 'skip', policy: 'skip' }),
    logger,
  });
  await verifier.start();
  t.teardown(() => verifier.stop());
  verifier.events.on('outcome', (o) => outcomes.push(o));
  const dev = await mqtt.connectAsync(broker.url, {
    protocolVersion: 5,
    clientId: 'kiosk-101',
    reconnectPeriod: 0,
    ca: readFileSync(pki.caPath),
    cert: cert.toString('pem'),
    key: readFileSync(join(dir, 'k101', 'device.key')),
  });
  t.teardown(() => dev.endAsync(true));
  const signed = await new ResultSigner({ keyStore, certificate: cert, measurements: [{ id: 'agent' }] }).sign(await nonces.issue('kiosk-101', new Date()), {
    verdict: 'accept',
  });
  await dev.publishAsync('kiosk/v1/kiosk-101/result', signed.token, { qos: 1 });
  await waitFor('the verifier outcome', () => outcomes.length > 0, { timeoutMs: 8000, intervalMs: 20 });
  t.match(outcomes, [{ status: 'accepted', deviceId: 'kiosk-101', jti: signed.jti }]);
  t.equal(await code(dev.publishAsync('kiosk/v1/kiosk-102/result', 'x', { qos: 1 })), 0x87, 'the new device is confined to its own topics');
  await keyStore.stop();
});

t.test('enrolment policy: allow-list, one-time token, one key per device id', async (t) => {
  const key = async () => {
    const k = new MemoryKeyStore();
    await k.start();
    return k;
  };
  t.equal(
    await code(enrolOverMqtt({ ...claimConn, deviceId: 'kiosk-103', keyStore: await key() })),
    'E_NOT_AUTHORIZED:not_allowed',
    'not on the allow-list, no token',
  );
  t.equal(await code(enrolOverMqtt({ ...claimConn, deviceId: 'kiosk-102', keyStore: await key() })), 'E_NOT_AUTHORIZED:bad_token', 'token required');
  t.equal(
    await code(enrolOverMqtt({ ...claimConn, deviceId: 'kiosk-102', keyStore: await key(), token: 'x'.repeat(32) })),
    'E_NOT_AUTHORIZED:bad_token',
    'wrong token',
  );
  const k102 = await key();
  t.equal(await code(enrolOverMqtt({ ...claimConn, deviceId: 'kiosk-102', keyStore: k102, token })), 'ok', 'right token');
  t.equal(
    await code(enrolOverMqtt({ ...claimConn, deviceId: 'kiosk-102', keyStore: await key(), token })),
    'E_NOT_AUTHORIZED:already_enrolled',
    'the token is spent; another key cannot take the id',
  );
  t.equal(await code(enrolOverMqtt({ ...claimConn, deviceId: 'kiosk-102', keyStore: k102 })), 'ok', 'the same key may ask again (a lost reply)');
  await registry.allow(['carrier-evil']);
  t.equal(
    await code(enrolOverMqtt({ ...claimConn, deviceId: 'carrier-evil', keyStore: await key() })),
    'E_NOT_AUTHORIZED:not_allowed',
    'a reserved name is never issued as a device, even when allow-listed',
  );
  t.equal(
    await code(renewOverMqtt({ ...claimConn, deviceId: 'kiosk-101', keyStore: await key() })),
    'E_NOT_AUTHORIZED:',
    'a claim cannot use the renewal topic of a device (PUBACK 0x87)',
  );
  t.ok(
    decisions.some((d) => d.kind === 'enrol' && !d.ok && d.reason === 'bad_token'),
    'refusals are raised as events',
  );
});

t.test('CLI: carrier enrol-service + provision --enrol-mqtt', async (t) => {
  await service.stop(); // the CLI service takes over the shared subscription alone
  const cli = ['--import', 'tsx', 'agent/cli/main.ts'];
  const svc = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'carrier/cli/main.ts',
      'enrol-service',
      '--dir',
      join(dir, 'pki', 'ca'),
      '--broker',
      broker.url,
      '--cert',
      enrolId.certPath,
      '--key',
      enrolId.keyPath,
      '--allow',
      'kiosk-201',
      '--register-with-broker',
      '--days',
      '7',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KIOSK_LOG_LEVEL: 'silent' } },
  );
  const svcExited = new Promise<[number | null]>((resolve) => svc.once('exit', (code) => resolve([code])));
  t.teardown(async () => {
    if (svc.exitCode === null && svc.signalCode === null) {
      svc.kill('SIGKILL');
      await svcExited;
    }
  });
  let out = '';
  svc.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  let err = '';
  svc.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  await waitFor('the service ready (or exited)', () => out.includes('"ready":true') || svc.exitCode !== null, 15_000).catch(() => undefined);
  t.match(out, /"ready":true/, err);
  const state = join(dir, 'k201');
  const r = spawnSync(
    process.execPath,
    [
      ...cli,
      'provision',
      'kiosk-201',
      '--state',
      state,
      '--enrol-mqtt',
      '--broker',
      broker.url,
      '--ca',
      pki.caPath,
      '--claim-cert',
      claim.certPath,
      '--claim-key',
      claim.keyPath,
    ],
    { encoding: 'utf8', timeout: 30_000 },
  );
  t.equal(r.status, 0, r.stderr);
  t.match(JSON.parse(r.stdout), { enrolled: 'kiosk-201', installed: join(state, 'device.crt'), keyStore: 'file' });
  t.equal(statSync(join(state, 'device.key')).mode & 0o777, 0o600, 'the key never left the kiosk and is private');
  t.match(readFileSync(join(state, 'ca.crt'), 'utf8'), /BEGIN CERTIFICATE/);
  const denied = spawnSync(
    process.execPath,
    [
      ...cli,
      'provision',
      'kiosk-202',
      '--state',
      join(dir, 'k202'),
      '--enrol-mqtt',
      '--broker',
      broker.url,
      '--ca',
      pki.caPath,
      '--claim-cert',
      claim.certPath,
      '--claim-key',
      claim.keyPath,
    ],
    { encoding: 'utf8', timeout: 30_000 },
  );
  t.equal(denied.status, 2);
  t.match(denied.stderr, /E_NOT_AUTHORIZED.*not_allowed/);
  svc.kill('SIGTERM');
  const [exitCode] = await svcExited;
  t.equal(exitCode, 0, 'the service stops cleanly on SIGTERM');
  t.match(out, /"kind":"enrol","deviceId":"kiosk-201","ok":true/);
});
