/**
 * Attack: renewal without proof of possession. Before, `{v:1, csr}` on the device's renewal topic was
 * enough: whoever could connect with a device certificate (a stolen certificate and key, a copied
 * state directory) renewed onto a key of their own, again and again, and every old certificate stayed
 * valid until it expired. Now a renewal must carry a JWS by the current key over the CSR's hash
 * (fresh, for this device, chained to the carrier CA, not revoked, the registry's current key); a
 * genuine renewal revokes the previous certificate (verifier and broker refuse it), and a device
 * renews at most once per interval. Against the real mosquitto.
 */
import { certificateMatchesKey } from '../../base/keys/x509.js';
import t from 'tap';
import mqtt from 'mqtt';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { EnrolmentAuthority } from '../../carrier/enrol/authority.js';
import { EnrolmentRegistry } from '../../carrier/enrol/registry.js';
import { EnrolmentService } from '../../carrier/enrol/service.js';
import { MemoryNonceStore } from '../../carrier/nonce-store.js';
import { revocationCheck } from '../../carrier/revocation.js';
import { ResultVerifier } from '../../carrier/verifier.js';
import { renewalProof, renewOverMqtt } from '../../provisioning/enrol/client.js';
import { ResultSigner } from '../../provisioning/result-signer.js';
import { csrDigest, enrolTopics, RENEW_POP_TYP, type EnrolReply } from '../../protocol/enrol.js';
import { signCompact } from '../../protocol/jws.js';
import { MemoryKeyStore } from '../../base/keys/memory-key-store.js';
import { createCsr, type x509 } from '../../base/keys/x509.js';
import type { KeyStore } from '../../base/keys/key-store.js';
import { TestBroker, tlsOf } from '../helpers/mosquitto.js';
import { TestPki, type TestIdentity } from '../helpers/pki.js';
import { ownTempDir } from '../helpers/tempdir.js';

const dir = ownTempDir(t, 'attacks-renewal-pop-');
const pki = await TestPki.create(join(dir, 'pki'));
const kiosk = await pki.issue('kiosk-601');
const neighbour = await pki.issue('kiosk-602');
const enrolId = await pki.issue('carrier-enrol', 'service');
const broker = await TestBroker.start(
  pki,
  join(dir, 'broker'),
  { devices: ['kiosk-601', 'kiosk-602'], enrolment: ['carrier-enrol'] },
  { crl: await pki.ca.crl() },
);
t.teardown(() => broker.stop());
const crlPath = join(dir, 'crl.pem');
const registry = new EnrolmentRegistry(':memory:');
const service = new EnrolmentService({
  options: { url: broker.url, clientId: 'carrier-enrol', ...tlsOf(pki, enrolId) },
  // The default rate limit (one renewal per device per hour); a renewal rewrites the CRL.
  authority: new EnrolmentAuthority({ ca: pki.ca, registry, validityDays: 30, crlPath }),
  logger: pino({ level: 'silent' }),
});
await service.start();
const revocation = revocationCheck(join(dir, 'pki', 'ca'));
t.teardown(async () => {
  revocation.stop();
  await service.stop();
  await registry.stop();
});
const nonces = new MemoryNonceStore();
const verifier = new ResultVerifier({ ca: pki.ca.certificate, nonces, checkPlan: 'skip', policy: 'skip', isRevoked: revocation.isRevoked });
const tokenOf = async (keyStore: KeyStore, certificate: x509.X509Certificate) => {
  const nonce = await nonces.issue('kiosk-601', new Date());
  const signer = new ResultSigner({ keyStore, certificate, measurements: [{ id: 'agent', version: '0.1.0' }], dbgstat: 'disabled' });
  return (await signer.sign(nonce, { verdict: 'accept', reasons: [], scores: { liveness: 0.97, match: 0.81 } })).token;
};

/** One renewal request with a body of the test's making, on `deviceId`'s topic, as `id`. */
async function rawRenew(id: { ca: Buffer; cert: Buffer | string; key: Buffer | string }, deviceId: string, body: object): Promise<EnrolReply> {
  const topics = enrolTopics();
  const responseTopic = topics.renewReplyPrefix(deviceId) + randomBytes(16).toString('base64url');
  const c = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: deviceId, reconnectPeriod: 0, connectTimeout: 5000, ...id });
  try {
    const answer = new Promise<EnrolReply>((resolve) => c.on('message', (_t, payload) => resolve(JSON.parse(payload.toString()) as EnrolReply)));
    await c.subscribeAsync(responseTopic, { qos: 1 });
    await c.publishAsync(topics.renew(deviceId), JSON.stringify(body), { qos: 1, properties: { responseTopic, correlationData: randomBytes(8) } });
    return await answer;
  } finally {
    await c.endAsync(true);
  }
}
const conn = (id: TestIdentity) => ({ url: broker.url, ...tlsOf(pki, id), deviceId: id.cn, timeoutMs: 8000 });
const refusal = (r: EnrolReply) => (r.ok ? 'issued' : r.reason);

t.test('renewals without a valid proof of possession of the current key are refused', async (t) => {
  const thief = new MemoryKeyStore();
  await thief.start();
  const csr = await createCsr(thief, 'kiosk-601');
  const tls = tlsOf(pki, kiosk);
  const iat = Math.floor(Date.now() / 1000);
  const x5c = (id: TestIdentity) => [Buffer.from(id.certificate.rawData).toString('base64')];

  t.equal(refusal(await rawRenew(tls, 'kiosk-601', { v: 1, csr })), 'no_proof', 'no pop: refused no_proof');

  const byOtherKey = await signCompact(thief, { alg: 'ES256', typ: RENEW_POP_TYP, x5c: x5c(kiosk) }, { sub: 'kiosk-601', csr_sha256: csrDigest(csr), iat });
  const r1 = await rawRenew(tls, 'kiosk-601', { v: 1, csr, pop: byOtherKey });
  t.match(r1, { ok: false, reason: 'bad_proof', detail: /signature/ }, "a pop by another key than the certificate's: refused");

  const byNeighbour = await signCompact(
    neighbour.keyStore,
    { alg: 'ES256', typ: RENEW_POP_TYP, x5c: x5c(neighbour) },
    { sub: 'kiosk-601', csr_sha256: csrDigest(csr), iat },
  );
  t.match(
    await rawRenew(tls, 'kiosk-601', { v: 1, csr, pop: byNeighbour }),
    { ok: false, reason: 'bad_proof', detail: /names kiosk-602/ },
    "another kiosk's key and certificate: refused",
  );

  // A genuine pop by the current key, made for another CSR (e.g. captured and replayed with the thief's CSR).
  const other = await createCsr(kiosk.keyStore, 'kiosk-601');
  const forOtherCsr = await renewalProof({ ...conn(kiosk), keyStore: kiosk.keyStore }, other);
  t.match(
    await rawRenew(tls, 'kiosk-601', { v: 1, csr, pop: forOtherCsr }),
    { ok: false, reason: 'bad_proof', detail: /another CSR/ },
    'csr hash mismatch: refused',
  );

  const own = await createCsr(kiosk.keyStore, 'kiosk-601');
  const stale = await renewalProof({ ...conn(kiosk), keyStore: kiosk.keyStore, clock: () => new Date(Date.now() - 10 * 60_000) }, own);
  t.match(await rawRenew(tls, 'kiosk-601', { v: 1, csr: own, pop: stale }), { ok: false, reason: 'bad_proof', detail: /old/ }, 'a 10-minute-old pop: refused');
  t.equal((await registry.device('kiosk-601'))?.serial, undefined, 'nothing was issued');
});

t.test('a genuine renewal succeeds and revokes the old certificate; a second one within the interval is rate limited', async (t) => {
  const oldToken = await tokenOf(kiosk.keyStore, kiosk.certificate);
  const next = new MemoryKeyStore();
  await next.start();
  // Onto a new key: the current key (the PEM in the connection) signs the proof, the new key the CSR.
  const renewed = await renewOverMqtt({ ...conn(kiosk), keyStore: next });
  t.ok(await pki.ca.isRevoked(kiosk.certificate), 'the old certificate is revoked (superseded)');
  t.notOk(await pki.ca.isRevoked(renewed));
  t.match(await verifier.verify(oldToken), { status: 'rejected', reason: 'revoked' }, 'a result signed with the old certificate is rejected');
  t.match(await verifier.verify(await tokenOf(next, renewed)), { status: 'accepted' }, 'one signed with the new one is accepted');

  // The thief who copied the old key and certificate cannot renew onto a key of their own.
  const thief = new MemoryKeyStore();
  await thief.start();
  const stolen = await renewOverMqtt({ ...conn(kiosk), keyStore: thief }).then(
    () => 'renewed',
    (e: Error & { details?: { reason?: string } }) => e.details?.reason,
  );
  t.equal(stolen, 'revoked', 'a renewal proven with the superseded certificate: refused revoked');

  // The kiosk whose reply was lost asks again, still with the superseded certificate, for the key the
  // renewal certified: it gets a certificate for that key again (nothing is lost), and the one sent
  // before is superseded in turn.
  const retried = await renewOverMqtt({ ...conn(kiosk), keyStore: next });
  t.ok(certificateMatchesKey(retried, next), 'a retry after a lost reply gets a certificate for the key already certified');
  t.ok(await pki.ca.isRevoked(renewed), 'the certificate whose reply was lost is superseded');
  const renewedNow = retried;

  const renewedTls = { ca: readFileSync(pki.caPath), cert: Buffer.from(renewedNow.toString('pem')), key: Buffer.from(next.privateKeyPem()) };
  const again = await renewOverMqtt({ url: broker.url, ...renewedTls, deviceId: 'kiosk-601', keyStore: next, timeoutMs: 8000 }).then(
    () => 'renewed',
    (e: Error & { details?: { reason?: string } }) => e.details?.reason,
  );
  t.equal(again, 'rate_limited', 'a second renewal within the interval: rate_limited');

  // The broker, given the CRL the renewal wrote, refuses the old certificate and accepts the new one.
  await broker.setCrl(readFileSync(crlPath));
  const outcome = (tls: object) =>
    mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'kiosk-601', reconnectPeriod: 0, connectTimeout: 5000, ...tls }).then(
      async (c) => {
        await c.endAsync();
        return 'connected';
      },
      (e: Error) => e.message,
    );
  t.match(await outcome(tlsOf(pki, kiosk)), /certificate revoked/, 'the old certificate cannot connect');
  t.equal(await outcome(renewedTls), 'connected', 'the renewed one can');
});
