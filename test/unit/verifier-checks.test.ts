import t, { type Test } from 'tap';
import { compactVerify, importX509 } from 'jose';
import { ResultSigner } from '../../provisioning/result-signer.js';
import { RESULT_TOKEN_TYP, EAT_PROFILE } from '../../protocol/eat.js';
import { signCompact } from '../../protocol/jws.js';
import { MemoryNonceStore } from '../../carrier/nonce-store.js';
import { Pkcs11KeyStore } from '../../provisioning/pkcs11-key-store.js';
import { ResultVerifier, type VerifyOutcome } from '../../carrier/verifier.js';
import { certificateThumbprint } from '../../base/keys/x509.js';
import { rejectsWithCode } from '../helpers/errors.js';
import { TestPki, stubPlan, stubPlanCheck } from '../helpers/pki.js';
import { createSoftHsmToken } from '../helpers/softhsm.js';

const dir = t.testdir({});
const pki = await TestPki.create(dir);
const dev1 = await pki.issue('kiosk-001');
const dev2 = await pki.issue('kiosk-002');
const nonces = new MemoryNonceStore();
const verifier = new ResultVerifier({ ca: pki.ca.certificate, nonces, checkPlan: stubPlanCheck, policy: 'skip' });
const signer = (id = dev1, extra: Partial<ConstructorParameters<typeof ResultSigner>[0]> = {}) =>
  new ResultSigner({ keyStore: id.keyStore, certificate: id.certificate, measurements: [{ id: 'agent', version: '0.1.0' }], dbgstat: 'disabled', ...extra });
const result = (nonce: string) => ({ verdict: 'accept', reasons: [], scores: { liveness: 0.97, match: 0.81 }, plan: stubPlan(nonce) });
const rejected = (t: Test, o: VerifyOutcome, reason: string) => t.match(o, { status: 'rejected', reason }, `rejected: ${reason}`);

t.test('a genuine token is accepted once; its redelivery is a duplicate; another result on its nonce is a replay', async (t) => {
  const nonce = await nonces.issue('kiosk-001', new Date());
  const a = await signer().sign(nonce, result(nonce));
  t.match(await verifier.verify(a.token), {
    status: 'accepted',
    deviceId: 'kiosk-001',
    jti: a.jti,
    claims: { eat_nonce: nonce, sub: 'kiosk-001', result: { verdict: 'accept' } },
  });
  t.match(await verifier.verify(a.token), { status: 'duplicate', jti: a.jti });
  const b = await signer().sign(nonce, result(nonce));
  rejected(t, await verifier.verify(b.token), 'replay');
});

t.test('jose verifies the token with the certificate (standard JWS)', async (t) => {
  const nonce = await nonces.issue('kiosk-001', new Date());
  const { token } = await signer().sign(nonce, result(nonce));
  const { protectedHeader, payload } = await compactVerify(token, await importX509(dev1.certificate.toString('pem'), 'ES256'));
  t.match(protectedHeader, { alg: 'ES256', typ: RESULT_TOKEN_TYP, kid: certificateThumbprint(dev1.certificate) });
  t.match(JSON.parse(new TextDecoder().decode(payload)), { eat_profile: EAT_PROFILE, eat_nonce: nonce, swname: 'kiosk-agent', dbgstat: 'disabled' });
});

t.test('nonce: unknown, other device, expired', async (t) => {
  rejected(t, await verifier.verify((await signer().sign('ab'.repeat(32), result('ab'.repeat(32)))).token), 'unknown_nonce');
  const n2 = await nonces.issue('kiosk-002', new Date());
  rejected(t, await verifier.verify((await signer().sign(n2, result(n2))).token), 'nonce_wrong_device');
  const n3 = await nonces.issue('kiosk-001', new Date(Date.now() - 120_000), 60_000);
  rejected(t, await verifier.verify((await signer().sign(n3, result(n3))).token), 'nonce_expired');
});

t.test('certificate: foreign CA with the same name, expired, claim profile, unknown kid', async (t) => {
  const foreign = await TestPki.create(t.testdir({}));
  const f = await foreign.issue('kiosk-001');
  const n = await nonces.issue('kiosk-001', new Date());
  rejected(t, await verifier.verify((await signer(f).sign(n, result(n))).token), 'untrusted_chain');
  const old = await pki.issue('kiosk-003', 'device', { now: new Date(Date.now() - 3 * 86_400_000), validityDays: 1 });
  const n3 = await nonces.issue('kiosk-003', new Date());
  rejected(t, await verifier.verify((await signer(old).sign(n3, result(n3))).token), 'certificate_expired');
  const claim = await pki.issue('claim-batch-7', 'claim');
  const nc = await nonces.issue('claim-batch-7', new Date());
  rejected(t, await verifier.verify((await signer(claim).sign(nc, result(nc))).token), 'wrong_profile');
  const noX5c = await signer(dev1, { includeCertificate: false }).sign(n, result(n));
  rejected(t, await verifier.verify(noX5c.token), 'unknown_certificate');
  const withRegistry = new ResultVerifier({
    ca: pki.ca.certificate,
    nonces,
    checkPlan: stubPlanCheck,
    policy: 'skip',
    lookupCertificate: (kid) => (kid === certificateThumbprint(dev1.certificate) ? dev1.certificate : undefined),
  });
  t.match(await withRegistry.verify(noX5c.token), { status: 'accepted' }, 'kid found in the registry');
  await rejectsWithCode(t, signer({ ...dev1, certificate: dev2.certificate }).sign(n, result(n)), 'E_CERTIFICATE');
});

t.test('claims: CN vs sub, clock skew, plan, alg', async (t) => {
  const n = await nonces.issue('kiosk-002', new Date());
  const header = {
    alg: 'ES256' as const,
    typ: RESULT_TOKEN_TYP,
    kid: certificateThumbprint(dev1.certificate),
    x5c: [Buffer.from(dev1.certificate.rawData).toString('base64')],
  };
  const good = (await signer().sign(n, result(n))).claims;
  rejected(t, await verifier.verify(await signCompact(dev1.keyStore, header, { ...good, sub: 'kiosk-002' })), 'device_mismatch');
  const n1 = await nonces.issue('kiosk-001', new Date());
  rejected(t, await verifier.verify((await signer(dev1, { clock: () => new Date(Date.now() + 3600_000) }).sign(n1, result(n1))).token), 'clock_skew');
  rejected(t, await verifier.verify((await signer().sign(n1, { ...result(n1), plan: ['blink', 'blink', 'blink', 'left'] })).token), 'plan_mismatch');
  rejected(t, await verifier.verify(await signCompact(dev1.keyStore, { ...header, alg: 'none' as 'ES256' }, good as never)), 'bad_header');
  rejected(t, await verifier.verify(await signCompact(dev1.keyStore, { ...header, typ: 'JWT' }, good as never)), 'bad_header');
  rejected(t, await verifier.verify(await signCompact(dev1.keyStore, header, { ...good, eat_nonce: undefined })), 'bad_claims');
  rejected(t, await verifier.verify('not.a.token'), 'malformed');
  t.match(await verifier.verify((await signer().sign(n1, result(n1))).token), { status: 'accepted' }, 'the nonce was not burnt by the rejected tokens');
});

t.test('the signer refuses biometric data and bad nonces', async (t) => {
  const n = 'cd'.repeat(32);
  // Both also fail to compile (BiometricFree); the run-time check catches them when the types are bypassed.
  // @ts-expect-error a result with an embedding
  await rejectsWithCode(t, signer().sign(n, { ...result(n), embedding: [0.1] }), 'E_USAGE', 'embedding');
  // @ts-expect-error a result with a numeric array
  await rejectsWithCode(t, signer().sign(n, { ...result(n), extra: { v: Array.from({ length: 128 }, () => 0.5) } }), 'E_USAGE', 'numeric array');
  await rejectsWithCode(t, signer().sign(n, { ...result(n), note: 'x'.repeat(5000) }), 'E_USAGE', '1 KiB');
  await rejectsWithCode(t, signer().sign('xyz', result(n)), 'E_USAGE', 'eat_nonce');
});

t.test('a PKCS#11 (SoftHSM2) device key signs tokens the verifier accepts', async (t) => {
  const token = createSoftHsmToken('verifier');
  t.teardown(() => token.cleanup());
  const keyStore = new Pkcs11KeyStore({ modulePath: token.modulePath, tokenLabel: token.tokenLabel, pin: token.pin });
  const hsmDev = await pki.issue('kiosk-hsm', 'device', { keyStore });
  t.teardown(() => keyStore.stop());
  const n = await nonces.issue('kiosk-hsm', new Date());
  t.match(await verifier.verify((await signer(hsmDev).sign(n, result(n))).token), { status: 'accepted', deviceId: 'kiosk-hsm' });
});

t.teardown(() => pki.ca.stop());
