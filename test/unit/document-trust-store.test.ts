import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { x509 } from '../../base/keys/x509.js';
import { passiveAuthentication } from '../../device/document/passive-auth.js';
import { loadTrustStore, type TrustStoreOptions } from '../../device/document/trust-store.js';
import {
  cscaMasterListContent,
  makeCrl,
  makeCsca,
  makeMasterList,
  makeMasterListSigner,
  makeSod,
  makeState,
  signCms,
  type TestState,
} from '../helpers/emrtd-sod.js';
import { ownTempDir } from '../helpers/tempdir.js';

const day = 86_400_000;
const groups = new Map([[1, Buffer.concat([Buffer.from([0x61, 0x5b, 0x5f, 0x1f, 0x58]), Buffer.alloc(88, 0x3c)])]]);
// The publishing state (its CSCA is the carrier's pin) and two states whose CSCAs its list carries.
const publisher = await makeState('DEU');
const uto = await makeState('UTO');
const xxa = await makeState('XXA');
const sod = await makeSod(uto, groups);

/** A folder holding `files` (name -> bytes or text). */
function folder(t: Parameters<typeof ownTempDir>[0], name: string, files: Record<string, Buffer | string>): string {
  const dir = join(ownTempDir(t, 'trust-store-'), name);
  mkdirSync(dir);
  for (const [n, bytes] of Object.entries(files)) writeFileSync(join(dir, n), bytes);
  return dir;
}
const pem = (c: x509.X509Certificate) => c.toString('pem');

/** The trust store of one master list file `ml`, `pin` (default: the publisher's CSCA) pinned, plus `extra` options. */
async function load(t: Parameters<typeof ownTempDir>[0], ml: Buffer, extra: Partial<TrustStoreOptions> = {}, pin = publisher.csca) {
  const dir = folder(t, 'ml', { 'list.ml': ml });
  return loadTrustStore({ masterLists: [join(dir, 'list.ml')], masterListIssuers: folder(t, 'pins', { 'pin.pem': pem(pin) }), ...extra });
}
/** `code:reason` of the error `p` rejects with, or 'accepted'. */
const reason = (p: Promise<unknown>) =>
  p.then(
    () => 'accepted',
    (e: { code?: string; details?: { reason?: string } }) => `${e.code}:${e.details?.reason}`,
  );

t.test('a genuine master list loads (no CSCA folder needed) and its CSCAs verify a SOD', async (t) => {
  const signer = await makeMasterListSigner(publisher);
  const trust = await load(t, await makeMasterList(signer, [uto.csca, xxa.csca]));
  t.same(
    trust.cscas.map((c) => c.subject),
    [uto.csca.subject, xxa.csca.subject],
  );
  t.same((await passiveAuthentication(sod, groups, trust)).verified, [1]);
  // With a CSCA folder too; the same CSCA from both is trusted once.
  const both = await load(t, await makeMasterList(signer, [uto.csca]), { cscaDir: folder(t, 'csca', { 'uto.pem': pem(uto.csca), 'xxa.pem': pem(xxa.csca) }) });
  t.equal(both.cscas.length, 2);
});

t.test('a master list failing a check refuses to load, naming the file and the reason', async (t) => {
  const signer = await makeMasterListSigner(publisher);
  const genuine = await makeMasterList(signer, [uto.csca, xxa.csca]);
  const tampered = Buffer.from(genuine);
  const at = tampered.indexOf(Buffer.from(xxa.csca.rawData));
  t.ok(at > 0, "XXA's certificate is in the list as issued");
  tampered[at + 60] ^= 1; // a byte inside it (its subject name)
  t.equal(await reason(load(t, tampered)), 'E_CONFIG_INVALID:signature', 'one byte of a listed certificate changed');
  const err = await load(t, tampered).catch((e: Error & { subject?: string }) => e);
  t.match((err as { subject?: string }).subject, /list\.ml$/, 'the error names the file');

  const unpinned = await makeState('DEU'); // same name as the pin, another key
  t.equal(
    await reason(load(t, await makeMasterList(await makeMasterListSigner(unpinned), [uto.csca]))),
    'E_CONFIG_INVALID:untrusted_signer',
    'a list signed by a state the carrier did not pin',
  );
  // A list whose signer is issued by a CSCA it carries itself: vouching for itself proves nothing.
  const selfVouching = await makeMasterList(await makeMasterListSigner(uto), [uto.csca]);
  t.equal(await reason(load(t, selfVouching)), 'E_CONFIG_INVALID:untrusted_signer', 'a list that vouches only for itself');

  for (const [eku, what] of [
    [null, 'no extended key usage'],
    [['1.3.6.1.5.5.7.3.1'], 'TLS server usage only'],
    [['2.23.136.1.1.9'], 'id-icao-lds2 (not a signer usage)'],
  ] as const)
    t.equal(
      await reason(load(t, await makeMasterList(await makeMasterListSigner(publisher, { eku: eku ? [...eku] : null }), [uto.csca]))),
      'E_CONFIG_INVALID:key_usage',
      `a signer without the master list signer usage: ${what}`,
    );
  // The publisher's Document Signer (digitalSignature, no EKU) must not be able to publish CSCAs.
  t.equal(
    await reason(load(t, await makeMasterList({ cert: publisher.ds, keys: publisher.dsKeys }, [uto.csca]))),
    'E_CONFIG_INVALID:key_usage',
    "a list signed by the pinned state's Document Signer",
  );
  const expired = await makeMasterListSigner(publisher, { validFrom: new Date(Date.now() - 400 * day), validTo: new Date(Date.now() - day) });
  t.equal(await reason(load(t, await makeMasterList(expired, [uto.csca]))), 'E_CONFIG_INVALID:expired', 'an expired signer');
  t.equal(
    await reason(load(t, await makeMasterList(await makeMasterListSigner(publisher, { usages: x509.KeyUsageFlags.keyCertSign }), [uto.csca]))),
    'E_CONFIG_INVALID:key_usage',
    'a signer whose key usage is not digitalSignature',
  );
  // The signer's signature over another content type (here an LDS security object's), relabelled as a master list.
  const genuineSigner = await makeMasterListSigner(publisher);
  const relabelled = await signCms('2.23.136.1.1.2', cscaMasterListContent([uto.csca]), genuineSigner.cert, genuineSigner.keys.privateKey, '2.23.136.1.1.1');
  t.equal(await reason(load(t, relabelled)), 'E_CONFIG_INVALID:signature', 'a signature over another content type');
  const expiredPin = await makeCsca('DEU', { notAfter: new Date(Date.now() - day) });
  t.equal(
    await reason(load(t, await makeMasterList(await makeMasterListSigner(expiredPin), [uto.csca]), {}, expiredPin.csca)),
    'E_CONFIG_INVALID:expired',
    'a pinned issuer past its validity',
  );
  const notACa = await makeCsca('DEU', { usages: x509.KeyUsageFlags.digitalSignature });
  t.equal(
    await reason(load(t, await makeMasterList(await makeMasterListSigner(notACa), [uto.csca]), {}, notACa.csca)),
    'E_CONFIG_INVALID:key_usage',
    'a pinned issuer that may not sign certificates',
  );
  t.equal(await reason(load(t, Buffer.from('3003020100', 'hex'))), 'E_CONFIG_INVALID:malformed', 'not a master list');
  await t.rejects(loadTrustStore({ masterLists: ['/nonexistent.ml'] }), { code: 'E_CONFIG_INVALID', subject: 'masterListIssuers' }, 'no pin, no list');
  await t.rejects(loadTrustStore({}), { code: 'E_CONFIG_INVALID' }, 'nothing to trust');
});

t.test('CRLs: a DS on its CSCA CRL is refused `revoked`; only CRLs its CSCA signed count', async (t) => {
  const cscaDir = folder(t, 'csca', { 'uto.pem': pem(uto.csca) });
  const withCrls = (files: Record<string, Buffer | string>, extra: Partial<TrustStoreOptions> = {}) =>
    loadTrustStore({ cscaDir, crlDir: folder(t, 'crl', files), ...extra });

  const clean = await makeCrl(uto, ['77']);
  t.same((await passiveAuthentication(sod, groups, await withCrls({ 'uto.crl': Buffer.from(clean.rawData) }))).verified, [1], 'not listed: accepted');
  const listing = await makeCrl(uto, [uto.ds.serialNumber]);
  t.equal(
    await reason(passiveAuthentication(sod, groups, await withCrls({ 'uto.pem': listing.toString('pem') }))),
    'E_DOC_PASSIVE_AUTH:revoked',
    'a DS its CSCA revoked (PEM CRL)',
  );

  // Forged: the CSCA's name, another key. The loader refuses it (a forged or misplaced CRL must not go
  // unnoticed while the genuine one is missing); passive authentication, handed one anyway, ignores it.
  const forger = await makeState('UTO');
  const forged = await makeCrl(uto, [uto.ds.serialNumber], { signingKeys: forger.cscaKeys });
  t.equal(await reason(withCrls({ 'forged.crl': Buffer.from(forged.rawData) })), 'E_CONFIG_INVALID:crl_signature', 'the loader refuses a forged CRL');
  t.same((await passiveAuthentication(sod, groups, { cscas: [uto.csca], crls: [forged] })).verified, [1], 'passive authentication ignores it');
  t.equal(
    await reason(passiveAuthentication(sod, groups, { cscas: [uto.csca], crls: [forged, listing] })),
    'E_DOC_PASSIVE_AUTH:revoked',
    'a forged CRL does not hide the genuine one',
  );
  t.equal(
    await reason(withCrls({ 'xxa.crl': Buffer.from((await makeCrl(xxa, [])).rawData) })),
    'E_CONFIG_INVALID:crl_issuer_unknown',
    'a CRL of a CSCA not trusted',
  );
  t.equal(await reason(withCrls({ 'junk.crl': Buffer.from('not a crl') })), 'E_CONFIG_INVALID:malformed', 'not a CRL');
  t.equal(
    await reason(withCrls({ 'open.crl': Buffer.from((await makeCrl(uto, [], { nextUpdate: null })).rawData) })),
    'E_CONFIG_INVALID:malformed',
    'a CRL without nextUpdate',
  );
  const noCrlSign = await makeCsca('YYA', { usages: x509.KeyUsageFlags.keyCertSign });
  const crlOfNoCrlSign = Buffer.from((await makeCrl(noCrlSign, [])).rawData);
  t.equal(
    await reason(loadTrustStore({ cscaDir: folder(t, 'csca', { 'yya.pem': pem(noCrlSign.csca) }), crlDir: folder(t, 'crl', { 'yya.crl': crlOfNoCrlSign }) })),
    'E_CONFIG_INVALID:crl_signature',
    'a CRL by a CSCA whose key usage excludes cRLSign',
  );
});

t.test('a stale CRL refuses `crl_expired` by default; a grace period accepts it for that long', async (t) => {
  const stale = await makeCrl(uto, [], { thisUpdate: new Date(Date.now() - 40 * day), nextUpdate: new Date(Date.now() - 2 * day) });
  const trust = { cscas: [uto.csca], crls: [stale] };
  t.equal(await reason(passiveAuthentication(sod, groups, trust)), 'E_DOC_PASSIVE_AUTH:crl_expired', 'stale: refused');
  t.same((await passiveAuthentication(sod, groups, { ...trust, staleCrlGraceMs: 3 * day })).verified, [1], 'within the grace: accepted');
  t.equal(await reason(passiveAuthentication(sod, groups, { ...trust, staleCrlGraceMs: day })), 'E_DOC_PASSIVE_AUTH:crl_expired', 'past the grace: refused');
  const fresh = await makeCrl(uto, []);
  t.same((await passiveAuthentication(sod, groups, { cscas: [uto.csca], crls: [stale, fresh] })).verified, [1], 'a newer fresh CRL supersedes it');
  const staleListing = await makeCrl(uto, [uto.ds.serialNumber], { thisUpdate: new Date(Date.now() - 40 * day), nextUpdate: new Date(Date.now() - 2 * day) });
  t.equal(
    await reason(passiveAuthentication(sod, groups, { cscas: [uto.csca], crls: [staleListing], staleCrlGraceMs: 3 * day })),
    'E_DOC_PASSIVE_AUTH:revoked',
    'a revocation stays a revocation',
  );
  // The loader carries the policy through.
  const loaded = await loadTrustStore({
    cscaDir: folder(t, 'csca', { 'uto.pem': pem(uto.csca) }),
    crlDir: folder(t, 'crl', { 'uto.crl': Buffer.from(stale.rawData) }),
    staleCrlGraceMs: 3 * day,
  });
  t.same((await passiveAuthentication(sod, groups, loaded)).verified, [1]);
});

t.test('CSCA key rollover: any trusted CSCA of the DS issuer name whose key verifies', async (t) => {
  const previous: TestState = await makeState('UTO'); // same name, the old key
  t.same((await passiveAuthentication(sod, groups, { cscas: [previous.csca, uto.csca] })).verified, [1]);
});

const openssl = (() => {
  try {
    return execFileSync('openssl', ['version']).toString().startsWith('OpenSSL');
  } catch {
    return false;
  }
})();

t.test(
  'a master list signed by OpenSSL (RSA signer, SKI sid, P-384 pin) loads; with a byte changed it is refused',
  { skip: !openssl && 'openssl is not installed' },
  async (t) => {
    const dir = ownTempDir(t, 'ml-openssl-');
    // Arguments are split on spaces, so the subjects have none.
    const run = (args: string) => execFileSync('openssl', args.split(' '), { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    writeFileSync(join(dir, 'ext.cnf'), '[mls]\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=2.23.136.1.1.3\n');
    run(
      'req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -keyout pin.key -out pin.pem -subj /C=DE/CN=CSCA-DE -days 30 -addext keyUsage=critical,keyCertSign,cRLSign',
    );
    run('req -new -newkey rsa:2048 -nodes -keyout mls.key -out mls.csr -subj /C=DE/CN=MasterListSigner-DE');
    run('x509 -req -in mls.csr -CA pin.pem -CAkey pin.key -set_serial 5 -days 30 -extfile ext.cnf -extensions mls -out mls.pem');
    writeFileSync(join(dir, 'content.der'), Buffer.from(cscaMasterListContent([uto.csca, xxa.csca])));
    run('cms -sign -in content.der -binary -nodetach -keyid -econtent_type 2.23.136.1.1.2 -signer mls.pem -inkey mls.key -md sha256 -outform DER -out list.ml');
    const pins = folder(t, 'pins', { 'pin.pem': readFileSync(join(dir, 'pin.pem')) });
    const trust = await loadTrustStore({ masterLists: [join(dir, 'list.ml')], masterListIssuers: pins });
    t.same((await passiveAuthentication(sod, groups, trust)).verified, [1]);
    const tampered = readFileSync(join(dir, 'list.ml'));
    tampered[tampered.indexOf(Buffer.from(uto.csca.rawData)) + 60] ^= 1;
    writeFileSync(join(dir, 'tampered.ml'), tampered);
    await t.rejects(loadTrustStore({ masterLists: [join(dir, 'tampered.ml')], masterListIssuers: pins }), {
      code: 'E_CONFIG_INVALID',
      details: { reason: 'signature' },
    });
  },
);
