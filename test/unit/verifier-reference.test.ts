/**
 * The `reference` claim at the carrier (issue 13): a malformed claim is refused as bad_claims; a policy
 * can require the chip, passive authentication (and whether a reader's security module counts),
 * chip authentication and the issuing state. Real ES256 tokens from the kiosk's signer.
 */
import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { agentVersion, packageRoot } from '../../base/paths.js';
import { MemoryNonceStore } from '../../carrier/nonce-store.js';
import { ResultVerifier, type VerifyOutcome } from '../../carrier/verifier.js';
import { buildPolicy, manifestModels, parseVerifierPolicy, type VerifierPolicy } from '../../carrier/verifier-policy.js';
import type { Measurement } from '../../protocol/eat.js';
import { PAGE_REFERENCE, referenceProblem, type ReferenceClaims } from '../../protocol/reference.js';
import { ResultSigner } from '../../provisioning/result-signer.js';
import { rejectsWithCode } from '../helpers/errors.js';
import { TestPki } from '../helpers/pki.js';

const pki = await TestPki.create(t.testdir({}));
t.teardown(() => pki.ca.stop());
const dev = await pki.issue('kiosk-001', 'device', { now: new Date(Date.now() - 86_400_000), validityDays: 30 });
const models = manifestModels(JSON.parse(readFileSync(join(packageRoot(), 'models', 'manifest.json'), 'utf8')) as unknown);
const version = agentVersion();
const measurements: Measurement[] = [{ id: 'kiosk-agent', version }, ...models.slice(0, 2)];
const nonces = new MemoryNonceStore();
const signer = new ResultSigner({ keyStore: dev.keyStore, certificate: dev.certificate, measurements, dbgstat: 'disabled' });

const CHIP: ReferenceClaims = {
  source: 'chip',
  passiveAuth: 'passed',
  chipAuth: 'passed',
  chipAuthMethod: 'chip_authentication',
  accessControl: 'pace',
  issuingState: 'UTO',
  documentType: 'P',
  cscaKeyId: 'a'.repeat(64),
  docNumberHash: 'A'.repeat(43),
};
const strict: NonNullable<VerifierPolicy['reference']> = { requireSource: 'chip', requirePassiveAuth: true, acceptReaderSam: false, requireChipAuth: true };
const policyWith = (reference?: VerifierPolicy['reference']) => buildPolicy({ name: 'checkout', models, swversion: version, reference });
const verify = async (reference: unknown, policy = policyWith(strict)): Promise<VerifyOutcome> => {
  const n = await nonces.issue('kiosk-001', new Date());
  const result = { verdict: 'accept', reasons: [], ...(reference === undefined ? {} : { reference }) };
  return new ResultVerifier({ ca: pki.ca.certificate, nonces, checkPlan: 'skip', policy }).verify((await signer.sign(n, result)).token);
};
const outcome = (t: Test, o: VerifyOutcome, want: string, msg: string) =>
  t.equal(o.status === 'rejected' ? o.reason : o.status, want, `${msg}${o.status === 'rejected' ? ` (${o.detail})` : ''}`);

t.test('a chip portrait that passed passive and chip authentication is accepted under the strict policy', async (t) => {
  outcome(t, await verify(CHIP), 'accepted', 'chip, PA and CA passed');
  outcome(t, await verify({ ...CHIP, chipAuthMethod: 'active_authentication' }), 'accepted', 'active authentication counts as the chip proving its key');
});

t.test('the strict policy refuses a page photo, a missing claim, a chip without proof of its key, a reader SAM, another state', async (t) => {
  outcome(t, await verify(PAGE_REFERENCE), 'reference_not_accepted', 'a photo of the page');
  outcome(t, await verify(undefined), 'reference_not_accepted', 'a result that does not say (an older agent)');
  const { chipAuthMethod: _, ...noProof } = CHIP;
  outcome(t, await verify({ ...noProof, chipAuth: 'absent' }), 'reference_not_accepted', 'a chip without chip or active authentication');
  const sam: ReferenceClaims = {
    source: 'chip',
    passiveAuth: 'reader_sam',
    chipAuth: 'absent',
    accessControl: 'reader',
    issuingState: 'CHN',
    documentType: 'ID',
  };
  outcome(t, await verify(sam), 'reference_not_accepted', "a reader's security module is not passive authentication unless the policy says so");
  outcome(
    t,
    await verify(sam, policyWith({ ...strict, requireChipAuth: false, acceptReaderSam: true })),
    'accepted',
    'accepted when the policy takes the reader SAM and does not ask for chip authentication',
  );
  outcome(t, await verify(CHIP, policyWith({ ...strict, issuingStates: ['D', 'FRA'] })), 'reference_not_accepted', 'a state not in the policy');
  outcome(t, await verify(CHIP, policyWith({ ...strict, issuingStates: ['UTO'] })), 'accepted', 'a state in the policy');
});

t.test('without a reference policy (or requireSource any) a page photo is accepted, as before', async (t) => {
  outcome(t, await verify(PAGE_REFERENCE, policyWith(undefined)), 'accepted', 'no reference policy');
  outcome(t, await verify(undefined, policyWith(undefined)), 'accepted', 'no claim, no policy');
  outcome(t, await verify(PAGE_REFERENCE, policyWith({ ...strict, requireSource: 'any' })), 'accepted', 'requireSource any');
});

t.test('a malformed reference claim is bad_claims whatever the policy; a page cannot claim what only a chip proves', async (t) => {
  const bad: [unknown, string][] = [
    ['chip', 'reference'],
    [{ ...CHIP, source: 'scanner' }, 'reference.source'],
    [{ ...PAGE_REFERENCE, passiveAuth: 'passed' }, 'reference.source'],
    [{ ...CHIP, chipAuth: 'not_performed' }, 'reference.source'],
    [{ ...CHIP, docNumberHash: 'L898902C3' }, 'reference.docNumberHash'],
    [{ ...CHIP, documentNumber: 'L898902C3' }, 'reference.documentNumber'],
    [{ ...CHIP, issuingState: 'Utopia' }, 'reference.issuingState'],
    [{ ...CHIP, cscaKeyId: 'xyz' }, 'reference.cscaKeyId'],
  ];
  for (const [value, field] of bad) {
    t.equal(referenceProblem(value), field, `referenceProblem names ${field}`);
    const o = await verify(value, policyWith(undefined));
    t.match(o, { status: 'rejected', reason: 'bad_claims' }, `refused: ${field}`);
  }
  t.equal(referenceProblem(CHIP), undefined);
  t.equal(referenceProblem(PAGE_REFERENCE), undefined);
});

t.test('policy files: the reference section is checked and names the bad key', async (t) => {
  const base = policyWith(strict);
  t.same(parseVerifierPolicy(structuredClone(base)).reference, strict);
  await rejectsWithCode(
    t,
    Promise.resolve().then(() => parseVerifierPolicy({ ...base, reference: { ...strict, requireSource: 'page' } })),
    'E_CONFIG_INVALID',
    'policy.reference.requireSource',
  );
  await rejectsWithCode(
    t,
    Promise.resolve().then(() => parseVerifierPolicy({ ...base, reference: { ...strict, extra: 1 } })),
    'E_CONFIG_INVALID',
    'policy.reference.extra',
  );
});
