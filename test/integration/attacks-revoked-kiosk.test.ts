/**
 * Attack: a stolen kiosk (its key and certificate) keeps acting after the carrier revoked it. Before
 * revocation existed, nothing could stop it: the broker had no CRL, `registry.revoke()` was reachable
 * from no command, and the verifier checked signature, dates and OU only. Here the carrier runs
 * `carrier revoke`, the broker reloads the CRL it wrote, and: the kiosk cannot connect (TLS refused),
 * cannot renew (refused 'revoked'), and a result it signed before the revocation is rejected 'revoked'.
 * Against the real mosquitto; the carrier CLI runs as a child process on the same state directory.
 */
import t from 'tap';
import mqtt from 'mqtt';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { isKioskError } from '../../base/errors.js';
import { EnrolmentAuthority } from '../../carrier/enrol/authority.js';
import { EnrolmentRegistry } from '../../carrier/enrol/registry.js';
import { EnrolmentService } from '../../carrier/enrol/service.js';
import { MemoryNonceStore } from '../../carrier/nonce-store.js';
import { normalizeSerial, revocationCheck } from '../../carrier/revocation.js';
import { ResultVerifier } from '../../carrier/verifier.js';
import { renewOverMqtt } from '../../provisioning/enrol/client.js';
import { ResultSigner } from '../../provisioning/result-signer.js';
import { TestBroker, tlsOf } from '../helpers/mosquitto.js';
import { TestPki, type TestIdentity } from '../helpers/pki.js';
import { ownTempDir } from '../helpers/tempdir.js';
import { waitFor } from '../helpers/wait.js';

const dir = ownTempDir(t, 'attacks-revoked-');
const pki = await TestPki.create(join(dir, 'pki'));
// The carrier state directory: the CA, and the enrolment registry `carrier revoke` updates.
const caDir = join(dir, 'pki', 'ca');
const stolen = await pki.issue('kiosk-501');
const other = await pki.issue('kiosk-502');
const enrolId = await pki.issue('carrier-enrol', 'service');
const ops = await pki.issue('carrier-ops', 'service');
const broker = await TestBroker.start(
  pki,
  join(dir, 'broker'),
  { devices: ['kiosk-501', 'kiosk-502'], enrolment: ['carrier-enrol'], dispatchers: ['carrier-ops'], admins: ['carrier-ops'] },
  { crl: await pki.ca.crl() },
);
t.teardown(() => broker.stop());
const registry = new EnrolmentRegistry(join(caDir, 'enrolment.db'));
const service = new EnrolmentService({
  options: { url: broker.url, clientId: 'carrier-enrol', ...tlsOf(pki, enrolId) },
  authority: new EnrolmentAuthority({ ca: pki.ca, registry, validityDays: 30 }),
  logger: pino({ level: 'silent' }),
});
await service.start();
const revocation = revocationCheck(caDir);
t.teardown(async () => {
  revocation.stop();
  await service.stop();
  await registry.stop();
});

const nonces = new MemoryNonceStore();
const verifier = new ResultVerifier({ ca: pki.ca.certificate, nonces, checkPlan: 'skip', policy: 'skip', isRevoked: revocation.isRevoked });
const signed = async (id: TestIdentity) => {
  const nonce = await nonces.issue(id.cn, new Date());
  const signer = new ResultSigner({
    keyStore: id.keyStore,
    certificate: id.certificate,
    measurements: [{ id: 'agent', version: '0.1.0' }],
    dbgstat: 'disabled',
  });
  return (await signer.sign(nonce, { verdict: 'accept', reasons: [], scores: { liveness: 0.97, match: 0.81 } })).token;
};
const connect = (id: TestIdentity) =>
  mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: id.cn, reconnectPeriod: 0, connectTimeout: 5000, ...tlsOf(pki, id) });
const connectOutcome = (id: TestIdentity) =>
  connect(id).then(
    async (c) => {
      await c.endAsync();
      return 'connected';
    },
    (err: Error) => err.message,
  );
const carrierCli = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'carrier/cli/main.ts', ...args], { encoding: 'utf8', timeout: 30_000 });

t.test('a revoked kiosk cannot connect, renew, or have a result accepted', async (t) => {
  t.equal(await connectOutcome(stolen), 'connected', 'before: the kiosk connects (the broker has an empty CRL)');
  const before = await signed(stolen);

  const r = carrierCli(['revoke', 'kiosk-501', '--dir', caDir]);
  t.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { revoked: string; newlyRevoked: string[]; crl: string };
  t.match(out, { revoked: 'kiosk-501', crl: join(caDir, 'crl.pem') });
  t.same(out.newlyRevoked, [normalizeSerial(stolen.certificate.serialNumber)], 'every certificate the CA issued to it is revoked');
  t.match(await registry.device('kiosk-501'), { revoked: true }, 'the registry refuses it from now on');

  // Renewal: the broker still lets it in (old CRL); the carrier refuses it.
  const renewal = await renewOverMqtt({ url: broker.url, ...tlsOf(pki, stolen), deviceId: 'kiosk-501', keyStore: stolen.keyStore, timeoutMs: 8000 }).then(
    () => 'renewed',
    (e: unknown) => (isKioskError(e) ? e.details?.reason : String(e)),
  );
  t.equal(renewal, 'revoked', 'renewal refused: revoked');

  // Results: a token signed before the revocation, and one after, are refused.
  t.match(await verifier.verify(before), { status: 'rejected', reason: 'revoked' }, 'a result signed before the revocation is rejected');
  t.match(await verifier.verify(await signed(stolen)), { status: 'rejected', reason: 'revoked' });
  const v = carrierCli(['verify', before, '--dir', caDir, '--skip-plan-check', '--skip-policy-check']);
  t.match(JSON.parse(v.stdout), { status: 'rejected', reason: 'revoked' }, '`carrier verify` checks the CA record too');
  t.match(await verifier.verify(await signed(other)), { status: 'accepted' }, 'another kiosk is not affected');

  // Connection: the broker reloads the CRL `carrier revoke` wrote (SIGHUP). The kiosk is online meanwhile.
  const live = await connect(stolen);
  let liveClosed = false;
  live.on('close', () => {
    liveClosed = true;
  });
  await broker.setCrl(readFileSync(out.crl));
  t.match(await connectOutcome(stolen), /certificate revoked/, 'the broker refuses the revoked certificate at the TLS handshake');
  t.equal(await connectOutcome(other), 'connected', 'other kiosks still connect');

  // A connection made before is not checked again (mosquitto verifies at the handshake only):
  // the carrier drops it by disabling the client in dynamic security, and it cannot come back.
  t.notOk(liveClosed, 'the reload leaves a live connection up');
  const admin = await connect(ops);
  await admin.publishAsync(
    '$CONTROL/dynamic-security/v1',
    JSON.stringify({ commands: [{ command: 'disableClient', username: 'kiosk-501', correlationData: randomUUID() }] }),
    { qos: 1 },
  );
  await waitFor('the live connection dropped', () => liveClosed, { timeoutMs: 5000 });
  await admin.endAsync();
  await live.endAsync(true);
  t.match(await connectOutcome(stolen), /certificate revoked/, 'and it cannot reconnect');
});
