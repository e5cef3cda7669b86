/**
 * A test issuing state: a CSCA, a Document Signer certified by it, and EF.SOD files they sign over
 * given data groups (CMS SignedData with pkijs, ECDSA P-256 with SHA-256), as a real passport's
 * chip carries. Options make the failure cases: an expired DS, a DS of another CSCA.
 */
import { createHash, webcrypto } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { x509 } from '../../base/keys/x509.js';
import { LDS_SECURITY_OBJECT_OID } from '../../device/document/passive-auth.js';

const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const day = 86_400_000;

export interface TestState {
  csca: x509.X509Certificate;
  ds: x509.X509Certificate;
  dsKeys: CryptoKeyPair;
  /** The CSCA's keys (to issue master list signers and sign CRLs in trust store tests). */
  cscaKeys: CryptoKeyPair;
}

/** A CSCA (keyCertSign) and a DS certificate (digitalSignature) for state `name`. */
export async function makeState(name = 'UTO', o: { dsValidFrom?: Date; dsValidTo?: Date } = {}): Promise<TestState> {
  x509.cryptoProvider.set(webcrypto as unknown as Crypto);
  const cscaKeys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as CryptoKeyPair;
  const csca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: `C=${name.slice(0, 2)}, O=Test State ${name}, CN=CSCA ${name}`,
    notBefore: new Date(Date.now() - 365 * day),
    notAfter: new Date(Date.now() + 10 * 365 * day),
    keys: cscaKeys,
    signingAlgorithm: alg,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  });
  const dsKeys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as CryptoKeyPair;
  const ds = await x509.X509CertificateGenerator.create({
    serialNumber: '0a',
    subject: `C=${name.slice(0, 2)}, O=Test State ${name}, CN=Document Signer ${name}`,
    issuer: csca.subject,
    notBefore: o.dsValidFrom ?? new Date(Date.now() - 30 * day),
    notAfter: o.dsValidTo ?? new Date(Date.now() + 365 * day),
    publicKey: dsKeys.publicKey,
    signingKey: cscaKeys.privateKey,
    signingAlgorithm: alg,
    extensions: [new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true)],
  });
  return { csca, ds, dsKeys, cscaKeys };
}

/** EF.SOD (tag 0x77) signed by `state`'s DS over the SHA-256 hashes of `groups` (by number). */
export async function makeSod(state: TestState, groups: Map<number, Buffer>): Promise<Buffer> {
  pkijs.setEngine('node', new pkijs.CryptoEngine({ name: 'node', crypto: webcrypto as unknown as Crypto }));
  const lds = new asn1js.Sequence({
    value: [
      new asn1js.Integer({ value: 0 }),
      new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: '2.16.840.1.101.3.4.2.1' })] }),
      new asn1js.Sequence({
        value: [...groups].map(
          ([n, bytes]) =>
            new asn1js.Sequence({
              value: [new asn1js.Integer({ value: n }), new asn1js.OctetString({ valueHex: createHash('sha256').update(bytes).digest() })],
            }),
        ),
      }),
    ],
  }).toBER(false);
  const dsCert = pkijs.Certificate.fromBER(state.ds.rawData);
  const cms = new pkijs.SignedData({
    version: 3,
    encapContentInfo: new pkijs.EncapsulatedContentInfo({ eContentType: LDS_SECURITY_OBJECT_OID, eContent: new asn1js.OctetString({ valueHex: lds }) }),
    signerInfos: [
      new pkijs.SignerInfo({
        version: 1,
        sid: new pkijs.IssuerAndSerialNumber({ issuer: dsCert.issuer, serialNumber: dsCert.serialNumber }),
        signedAttrs: new pkijs.SignedAndUnsignedAttributes({
          type: 0,
          attributes: [
            new pkijs.Attribute({ type: '1.2.840.113549.1.9.3', values: [new asn1js.ObjectIdentifier({ value: LDS_SECURITY_OBJECT_OID })] }),
            new pkijs.Attribute({
              type: '1.2.840.113549.1.9.4',
              values: [new asn1js.OctetString({ valueHex: createHash('sha256').update(Buffer.from(lds)).digest() })],
            }),
          ],
        }),
      }),
    ],
    certificates: [dsCert],
  });
  await cms.sign(state.dsKeys.privateKey, 0, 'SHA-256');
  const info = new pkijs.ContentInfo({ contentType: pkijs.ContentInfo.SIGNED_DATA, content: cms.toSchema(true) }).toSchema().toBER(false);
  const body = Buffer.from(info);
  const len = body.length < 0x80 ? [body.length] : body.length < 0x100 ? [0x81, body.length] : [0x82, body.length >> 8, body.length & 0xff];
  return Buffer.concat([Buffer.from([0x77, ...len]), body]);
}

/** A CSCA certificate and its keys. */
export type TestCsca = Pick<TestState, 'csca' | 'cscaKeys'>;

/** A lone CSCA for state `name` with the validity and key usages given (defaults as makeState's). */
export async function makeCsca(name: string, o: { notAfter?: Date; usages?: number } = {}): Promise<TestCsca> {
  x509.cryptoProvider.set(webcrypto as unknown as Crypto);
  const cscaKeys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as CryptoKeyPair;
  const csca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '02',
    name: `C=${name.slice(0, 2)}, O=Test State ${name}, CN=CSCA ${name}`,
    notBefore: new Date(Date.now() - 365 * day),
    notAfter: o.notAfter ?? new Date(Date.now() + 10 * 365 * day),
    keys: cscaKeys,
    signingAlgorithm: alg,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(o.usages ?? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  });
  return { csca, cscaKeys };
}

/** A Master List Signer: its certificate and keys. */
export interface MasterListSigner {
  cert: x509.X509Certificate;
  keys: CryptoKeyPair;
}

/**
 * A Master List Signer certified by `state`'s CSCA: digitalSignature and EKU id-icao-cscaMasterListSigningKey
 * unless `usages`/`eku` say otherwise (null: no EKU); options make the failure cases.
 */
export async function makeMasterListSigner(
  state: TestCsca,
  o: { eku?: string[] | null; usages?: number; validFrom?: Date; validTo?: Date } = {},
): Promise<MasterListSigner> {
  x509.cryptoProvider.set(webcrypto as unknown as Crypto);
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as CryptoKeyPair;
  const eku = o.eku === undefined ? ['2.23.136.1.1.3'] : o.eku;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: '0b',
    subject: state.csca.subject.replace(/CN=CSCA/, 'CN=Master List Signer'),
    issuer: state.csca.subject,
    notBefore: o.validFrom ?? new Date(Date.now() - 30 * day),
    notAfter: o.validTo ?? new Date(Date.now() + 365 * day),
    publicKey: keys.publicKey,
    signingKey: state.cscaKeys.privateKey,
    signingAlgorithm: alg,
    extensions: [
      new x509.KeyUsagesExtension(o.usages ?? x509.KeyUsageFlags.digitalSignature, true),
      ...(eku ? [new x509.ExtendedKeyUsageExtension(eku, false)] : []),
    ],
  });
  return { cert, keys };
}

/** A CMS SignedData (DER ContentInfo) over `content` of type `eContentType`, signed by `cert`/`key`; its signed content-type attribute says `signedType`. */
export async function signCms(
  eContentType: string,
  content: ArrayBuffer,
  cert: x509.X509Certificate,
  key: CryptoKey,
  signedType = eContentType,
): Promise<Buffer> {
  pkijs.setEngine('node', new pkijs.CryptoEngine({ name: 'node', crypto: webcrypto as unknown as Crypto }));
  const signerCert = pkijs.Certificate.fromBER(cert.rawData);
  const cms = new pkijs.SignedData({
    version: 3,
    encapContentInfo: new pkijs.EncapsulatedContentInfo({ eContentType, eContent: new asn1js.OctetString({ valueHex: content }) }),
    signerInfos: [
      new pkijs.SignerInfo({
        version: 1,
        sid: new pkijs.IssuerAndSerialNumber({ issuer: signerCert.issuer, serialNumber: signerCert.serialNumber }),
        signedAttrs: new pkijs.SignedAndUnsignedAttributes({
          type: 0,
          attributes: [
            new pkijs.Attribute({ type: '1.2.840.113549.1.9.3', values: [new asn1js.ObjectIdentifier({ value: signedType })] }),
            new pkijs.Attribute({
              type: '1.2.840.113549.1.9.4',
              values: [new asn1js.OctetString({ valueHex: createHash('sha256').update(Buffer.from(content)).digest() })],
            }),
          ],
        }),
      }),
    ],
    certificates: [signerCert],
  });
  await cms.sign(key, 0, 'SHA-256');
  return Buffer.from(new pkijs.ContentInfo({ contentType: pkijs.ContentInfo.SIGNED_DATA, content: cms.toSchema(true) }).toSchema().toBER(false));
}

/** The DER content of a master list: CscaMasterList v0 of `cscas`. */
export function cscaMasterListContent(cscas: x509.X509Certificate[]): ArrayBuffer {
  return new asn1js.Sequence({
    value: [new asn1js.Integer({ value: 0 }), new asn1js.Set({ value: cscas.map((c) => asn1js.fromBER(c.rawData).result) })],
  }).toBER(false);
}

/** An ICAO CSCA master list (CscaMasterList v0 of `cscas`) signed by `signer`, as a DER file. */
export function makeMasterList(signer: MasterListSigner, cscas: x509.X509Certificate[]): Promise<Buffer> {
  return signCms('2.23.136.1.1.2', cscaMasterListContent(cscas), signer.cert, signer.keys.privateKey);
}

/** A CRL of `state`'s CSCA listing `revokedSerials` (hex); `signingKeys` signs instead of the CSCA's (a forgery); nextUpdate null: none. */
export async function makeCrl(
  state: TestCsca,
  revokedSerials: string[],
  o: { thisUpdate?: Date; nextUpdate?: Date | null; signingKeys?: CryptoKeyPair } = {},
): Promise<x509.X509Crl> {
  x509.cryptoProvider.set(webcrypto as unknown as Crypto);
  return x509.X509CrlGenerator.create({
    issuer: state.csca.subject,
    thisUpdate: o.thisUpdate ?? new Date(Date.now() - day),
    nextUpdate: o.nextUpdate === null ? undefined : (o.nextUpdate ?? new Date(Date.now() + 30 * day)),
    entries: revokedSerials.map((serialNumber) => ({ serialNumber, revocationDate: new Date(Date.now() - day) })),
    signingKey: (o.signingKeys ?? state.cscaKeys).privateKey,
    signingAlgorithm: alg,
  });
}
