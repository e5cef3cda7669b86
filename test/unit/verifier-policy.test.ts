/**
 * The verifier's policy and freshness checks, with real ES256 tokens from the kiosk's signer: the
 * audience, the nonce's age from its issue time, the iat window, the model set, the agent version,
 * the debug status, the deciding operator, and the revocation hook. Each refusal has its own reason;
 * a result the policy allows is still accepted.
 */
import t, { type Test } from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { agentVersion, packageRoot } from '../../base/paths.js';
import { MemoryKeyStore } from '../../base/keys/memory-key-store.js';
import { certificateThumbprint } from '../../base/keys/x509.js';
import { MemoryNonceStore } from '../../carrier/nonce-store.js';
import { ResultVerifier, type VerifierOptions, type VerifyOutcome } from '../../carrier/verifier.js';
import { buildPolicy, loadVerifierPolicy, manifestModels, modelMeasurements, parseVerifierPolicy, type VerifierPolicy } from '../../carrier/verifier-policy.js';
import { modelDigest, readManifest } from '../../models/manifest.js';
import { DEFAULT_RESULT_AUDIENCE, RESULT_TOKEN_TYP, type Measurement } from '../../protocol/eat.js';
import { signCompact } from '../../protocol/jws.js';
import { processDebugStatus, ResultSigner } from '../../provisioning/result-signer.js';
import inspector from 'node:inspector';
import { rejectsWithCode } from '../helpers/errors.js';
import { TestPki, type TestIdentity } from '../helpers/pki.js';

const pki = await TestPki.create(t.testdir({}));
t.teardown(() => pki.ca.stop());
// Issued two days ago: an iat far before "now" is still inside the certificate's validity.
const dev = await pki.issue('kiosk-001', 'device', { now: new Date(Date.now() - 2 * 86_400_000), validityDays: 30 });
const manifest = JSON.parse(readFileSync(join(packageRoot(), 'models', 'manifest.json'), 'utf8')) as unknown;
const models = manifestModels(manifest);
const version = agentVersion();
/** What a kiosk of this checkout reports: the agent, then some of its models. */
const measurements: Measurement[] = [{ id: 'kiosk-agent', version }, ...models.slice(0, 4)];
const policy = buildPolicy({ name: 'checkout', models, swversion: version, operators: ['carrier-op-alice'] });

const nonces = new MemoryNonceStore();
const verifier = (o: Partial<VerifierOptions> = {}) => new ResultVerifier({ ca: pki.ca.certificate, nonces, checkPlan: 'skip', policy, ...o });
const signer = (o: Partial<ConstructorParameters<typeof ResultSigner>[0]> = {}, id: TestIdentity = dev) =>
  new ResultSigner({ keyStore: id.keyStore, certificate: id.certificate, measurements, dbgstat: 'disabled', ...o });
const result = { verdict: 'accept', reasons: [] as string[] };
const header = {
  alg: 'ES256' as const,
  typ: RESULT_TOKEN_TYP,
  kid: certificateThumbprint(dev.certificate),
  x5c: [Buffer.from(dev.certificate.rawData).toString('base64')],
};
/** A token with claims edited after the signer made them (the device key signs them: a real kiosk could). */
async function edited(edit: (c: Record<string, unknown>) => Record<string, unknown>): Promise<string> {
  const n = await nonces.issue('kiosk-001', new Date());
  const { claims } = await signer().sign(n, result);
  return signCompact(dev.keyStore, header, edit({ ...claims }));
}
const rejected = (t: Test, o: VerifyOutcome, reason: string) => t.match(o, { status: 'rejected', reason }, `rejected: ${reason}`);

t.test('a result of a known model set, agent version, production build and audience is accepted', async (t) => {
  const n = await nonces.issue('kiosk-001', new Date());
  const signed = await signer().sign(n, result);
  t.equal(signed.claims.aud, DEFAULT_RESULT_AUDIENCE, 'the signer puts the default audience');
  t.match(await verifier().verify(signed.token), { status: 'accepted', jti: signed.jti });
});

t.test('aud: another carrier, or none, is refused', async (t) => {
  const n = await nonces.issue('kiosk-001', new Date());
  rejected(t, await verifier().verify((await signer({ audience: 'other-carrier' }).sign(n, result)).token), 'wrong_audience');
  rejected(t, await verifier().verify(await edited(({ aud: _, ...c }) => c)), 'wrong_audience');
  const custom = await signer({ audience: 'carrier-x' }).sign(n, result);
  t.match(await verifier({ audience: 'carrier-x' }).verify(custom.token), { status: 'accepted' }, 'a configured audience');
});

t.test('nonce age counts from its issue time to the arrival, not from the token iat', async (t) => {
  const issued = new Date(Date.now() - 120_000);
  const n = await nonces.issue('kiosk-001', issued, 60_000);
  // Made 10 s after the nonce (inside its 60 s), arriving now, 2 minutes after it was issued.
  const late = await signer({ clock: () => new Date(issued.getTime() + 10_000) }).sign(n, result);
  rejected(t, await verifier().verify(late.token), 'nonce_expired');
});

t.test('iat window: not before the nonce was issued (minus the skew), not after now (plus the skew)', async (t) => {
  const n = await nonces.issue('kiosk-001', new Date());
  const backdated = await signer({ clock: () => new Date(Date.now() - 3600_000) }).sign(n, result);
  rejected(t, await verifier().verify(backdated.token), 'iat_out_of_window');
  const future = await signer({ clock: () => new Date(Date.now() + 3600_000) }).sign(n, result);
  rejected(t, await verifier().verify(future.token), 'clock_skew');
  const slightlyBehind = await signer({ clock: () => new Date(Date.now() - 60_000) }).sign(n, result);
  t.match(await verifier().verify(slightlyBehind.token), { status: 'accepted' }, 'a device clock 60 s behind is inside the skew');
});

t.test('measurements: a model outside every allowed set is refused', async (t) => {
  const foreign = [...measurements, { id: 'fr_detect', sha256: 'ab'.repeat(32) }];
  const n = await nonces.issue('kiosk-001', new Date());
  rejected(t, await verifier().verify((await signer({ measurements: foreign }).sign(n, result)).token), 'unknown_measurements');
  rejected(
    t,
    await verifier().verify((await signer({ measurements: [{ id: 'kiosk-agent', version }, { id: 'fr_detect' }] }).sign(n, result)).token),
    'unknown_measurements',
  );
  rejected(t, await verifier().verify((await signer({ measurements: [{ id: 'kiosk-agent', version }] }).sign(n, result)).token), 'unknown_measurements');
  // Two releases: each set alone is fine, a mix of both is not.
  const [a, b] = models;
  const split = parseVerifierPolicy({
    ...policy,
    modelSets: [
      { name: 'r1', models: [a] },
      { name: 'r2', models: [b] },
    ],
  });
  const mixed = await signer({ measurements: [{ id: 'kiosk-agent', version }, a, b] }).sign(n, result);
  rejected(t, await verifier({ policy: split }).verify(mixed.token), 'unknown_measurements');
  t.match(await verifier({ policy: split }).verify((await signer({ measurements: [{ id: 'kiosk-agent', version }, b] }).sign(n, result)).token), {
    status: 'accepted',
  });
});

t.test('swversion: an agent version outside the policy is refused', async (t) => {
  rejected(t, await verifier().verify(await edited((c) => ({ ...c, swversion: '0.0.1-evil' }))), 'unknown_swversion');
  const older = parseVerifierPolicy({ ...policy, swversions: ['0.0.1'] });
  const n = await nonces.issue('kiosk-001', new Date());
  rejected(t, await verifier({ policy: older }).verify((await signer().sign(n, result)).token), 'unknown_swversion');
  const mismatch = [{ id: 'kiosk-agent', version: '0.0.1' }, ...models.slice(0, 2)];
  rejected(t, await verifier().verify(await edited((c) => ({ ...c, measurements: mismatch }))), 'unknown_swversion');
});

t.test('dbgstat: a debug build is refused; a missing status too when the policy requires it', async (t) => {
  const n = await nonces.issue('kiosk-001', new Date());
  rejected(t, await verifier().verify((await signer({ dbgstat: 'enabled' }).sign(n, result)).token), 'debug_build');
  rejected(t, await verifier().verify((await signer({ dbgstat: undefined }).sign(n, result)).token), 'debug_build');
  const lenient = parseVerifierPolicy({ ...policy, refuseDebug: false, requireDbgstat: false });
  t.match(await verifier({ policy: lenient }).verify((await signer({ dbgstat: 'enabled' }).sign(n, result)).token), { status: 'accepted' });
  t.match(await verifier().verify((await signer({ dbgstat: () => 'disabled-permanently' }).sign(await nonces.issue('kiosk-001', new Date()), result)).token), {
    status: 'accepted',
    claims: { dbgstat: 'disabled-permanently' },
  });
});

t.test('the kiosk reports dbgstat enabled while the V8 inspector is open, and the policy refuses it', async (t) => {
  t.equal(processDebugStatus(), 'disabled');
  inspector.open(0, '127.0.0.1', false);
  t.teardown(() => inspector.close());
  t.equal(processDebugStatus(), 'enabled');
  const signed = await signer({ dbgstat: processDebugStatus }).sign(await nonces.issue('kiosk-001', new Date()), result);
  rejected(t, await verifier().verify(signed.token), 'debug_build');
  inspector.close();
  t.equal(processDebugStatus(), 'disabled');
});

t.test('operator decisions: only operators on the carrier list, under their own name', async (t) => {
  const opKey = new MemoryKeyStore();
  await opKey.start();
  const decision = (kid: string) => signCompact(opKey, { alg: 'ES256', typ: 'kiosk-assist-decision+jwt', kid }, { decision: 'approve', iat: 1 });
  const operatorResult = async (id: string, kid = id) => ({
    verdict: 'accept',
    reasons: ['operator_approved'],
    decided_by: 'operator',
    operator: { id, key_thumbprint: 'x', decided_at: 1 },
    failed_checks: ['liveness'],
    assist_id: 'a1',
    operator_decision: await decision(kid),
  });
  const sign = async (r: { verdict: string; [k: string]: unknown }) => (await signer().sign(await nonces.issue('kiosk-001', new Date()), r)).token;
  t.match(await verifier().verify(await sign(await operatorResult('carrier-op-alice'))), { status: 'accepted' }, 'alice is on the list');
  rejected(t, await verifier().verify(await sign(await operatorResult('carrier-op-mallory'))), 'unknown_operator');
  rejected(t, await verifier().verify(await sign(await operatorResult('carrier-op-alice', 'carrier-op-mallory'))), 'unknown_operator');
  const { operator_decision: _, ...unproven } = await operatorResult('carrier-op-alice');
  rejected(t, await verifier().verify(await sign(unproven)), 'unknown_operator');
  rejected(t, await verifier().verify(await sign({ verdict: 'accept', decided_by: 'operator' })), 'unknown_operator');
});

t.test('isRevoked: checked after the chain, sync or async; a revoked device certificate is refused', async (t) => {
  const seen: string[] = [];
  const revoked = verifier({
    isRevoked: async (cert) => {
      seen.push(cert.serialNumber);
      return cert.serialNumber === dev.certificate.serialNumber;
    },
  });
  const n = await nonces.issue('kiosk-001', new Date());
  const token = (await signer().sign(n, result)).token;
  rejected(t, await revoked.verify(token), 'revoked');
  t.same(seen, [dev.certificate.serialNumber]);
  t.match(await verifier({ isRevoked: () => false }).verify(token), { status: 'accepted' }, 'the nonce was not burnt');
  const foreign = await TestPki.create(t.testdir({}));
  const f = await foreign.issue('kiosk-001');
  const unchained = await verifier({ isRevoked: () => t.fail('asked about a certificate that failed the chain') }).verify(
    (await signer({}, f).sign(await nonces.issue('kiosk-001', new Date()), result)).token,
  );
  rejected(t, unchained, 'untrusted_chain');
});

t.test('policy files: read and checked; an error names the key', async (t) => {
  const dir = t.testdir({});
  const path = join(dir, 'policy.json');
  writeFileSync(path, JSON.stringify(policy));
  t.same(await loadVerifierPolicy(path), policy);
  const bad = async (edit: (p: VerifierPolicy) => object, key: string) => {
    writeFileSync(path, JSON.stringify(edit(structuredClone(policy))));
    await rejectsWithCode(t, loadVerifierPolicy(path), 'E_CONFIG_INVALID', key);
  };
  await bad((p) => ({ ...p, modelSets: [{ name: 'x', models: [{ id: 'm', sha256: 'nothex' }] }] }), 'policy.modelSets.0.models.0.sha256');
  await bad((p) => ({ ...p, operators: ['alice'] }), 'policy.operators.0');
  await bad((p) => ({ ...p, swversions: [] }), 'policy.swversions');
  await bad((p) => ({ ...p, extra: true }), 'policy.extra');
  await bad(({ refuseDebug: _, ...p }) => p, 'policy.refuseDebug');
  writeFileSync(path, '{');
  await rejectsWithCode(t, loadVerifierPolicy(path), 'E_CONFIG_INVALID', 'not JSON');
});

t.test("the carrier's manifest digests are the kiosk's (models/manifest.ts modelDigest)", async (t) => {
  const m = await readManifest();
  t.same(models, m.models.map(modelDigest));
  t.ok(
    m.models.some((x) => x.files.length > 1),
    'the manifest has multi-file models (the digest of digests is covered)',
  );
  t.same(modelMeasurements(measurements), models.slice(0, 4), 'the agent entry is not a model');
});
