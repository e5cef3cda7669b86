/**
 * Passive authentication (ICAO Doc 9303 Part 11, 5.1): the document security object (EF.SOD, a CMS
 * SignedData by the issuing state's Document Signer) is verified with the DS certificate it carries,
 * that certificate is chained to a Country Signing CA the carrier trusts, and every data group read
 * is hashed and compared with the hash the SOD holds. Only then is the chip's data the state's.
 * CMS through pkijs, certificates through @peculiar/x509. Failures: E_DOC_PASSIVE_AUTH with
 * `details.reason` = malformed | ds_signature | untrusted_csca | csca_signature | expired |
 * key_usage | revoked | crl_expired | dg_hash_mismatch | dg_not_in_sod. CRL policy: see crl.ts.
 */
import { createHash } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { KioskError } from '../../base/errors.js';
import { x509 } from '../../base/keys/x509.js';
import { revocationStatus } from './crl.js';
import type { TrustAnchors } from './trust-store.js';

/** The content type of an LDS security object. */
export const LDS_SECURITY_OBJECT_OID = '2.23.136.1.1.1';

export type PassiveAuthFailure =
  | 'malformed'
  | 'ds_signature'
  | 'untrusted_csca'
  | 'csca_signature'
  | 'expired'
  | 'key_usage'
  | 'revoked'
  | 'crl_expired'
  | 'dg_hash_mismatch'
  | 'dg_not_in_sod';

/** What passive authentication established. */
export interface PassiveAuthResult {
  /** The data groups whose hashes matched, by number. */
  verified: number[];
  /** Every data group the SOD holds a hash for (what the state says the chip has), by number. */
  signed: number[];
  hashAlgorithm: string;
  documentSigner: x509.X509Certificate;
  csca: x509.X509Certificate;
}

const HASHES: Record<string, string> = {
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
  '2.16.840.1.101.3.4.2.4': 'sha224',
  '1.3.14.3.2.26': 'sha1',
};

const fail = (reason: PassiveAuthFailure, message: string, details: Record<string, unknown> = {}) =>
  new KioskError('E_DOC_PASSIVE_AUTH', message, { subject: 'EF.SOD', details: { reason, ...details } });

/** The LDS security object: hash algorithm and each data group's hash. */
export function parseLdsSecurityObject(der: ArrayBuffer): { hashAlgorithm: string; hashes: Map<number, Buffer> } {
  const parsed = asn1js.fromBER(der);
  const seq = parsed.result as asn1js.Sequence;
  if (parsed.offset === -1 || !(seq instanceof asn1js.Sequence)) throw fail('malformed', 'the LDS security object is not a SEQUENCE');
  const [, alg, groups] = seq.valueBlock.value as [asn1js.Integer, asn1js.Sequence, asn1js.Sequence];
  const oid = (alg?.valueBlock.value[0] as asn1js.ObjectIdentifier | undefined)?.valueBlock.toString();
  const hashAlgorithm = oid ? HASHES[oid] : undefined;
  if (!hashAlgorithm) throw fail('malformed', `unknown hash algorithm ${String(oid)} in the SOD`);
  const hashes = new Map<number, Buffer>();
  for (const g of (groups?.valueBlock.value ?? []) as asn1js.Sequence[]) {
    const [n, h] = g.valueBlock.value as [asn1js.Integer, asn1js.OctetString];
    hashes.set(n.valueBlock.valueDec, Buffer.from(h.valueBlock.valueHexView));
  }
  if (hashes.size === 0) throw fail('malformed', 'the SOD holds no data group hashes');
  return { hashAlgorithm, hashes };
}

/** EF.SOD's content (tag 0x77 around a CMS ContentInfo) as a pkijs SignedData. */
function signedData(sod: Buffer): pkijs.SignedData {
  try {
    const outer = asn1js.fromBER(new Uint8Array(sod));
    if (outer.offset === -1) throw new Error('not BER');
    const inner = (
      outer.result.idBlock.tagClass === 2 && outer.result.idBlock.tagNumber === 23 ? (outer.result as asn1js.Constructed).valueBlock.value[0] : outer.result
    ) as asn1js.Sequence;
    const info = new pkijs.ContentInfo({ schema: inner });
    if (info.contentType !== pkijs.ContentInfo.SIGNED_DATA) throw new Error('not SignedData');
    return new pkijs.SignedData({ schema: info.content });
  } catch (err) {
    throw fail('malformed', `EF.SOD is not a CMS SignedData: ${(err as Error).message}`);
  }
}

/**
 * Verifies `sod` and the data groups read (by number) against the CSCAs and CRLs the carrier
 * trusts, at `now`. Resolves with what was verified; throws E_DOC_PASSIVE_AUTH naming the step.
 */
export async function passiveAuthentication(sod: Buffer, dataGroups: Map<number, Buffer>, trust: TrustAnchors, now = new Date()): Promise<PassiveAuthResult> {
  const sd = signedData(sod);
  if (sd.encapContentInfo.eContentType !== LDS_SECURITY_OBJECT_OID || !sd.encapContentInfo.eContent)
    throw fail('malformed', 'the SOD does not hold an LDS security object');
  const sid = sd.signerInfos[0]?.sid;
  const dsPkijs = (sd.certificates ?? []).find(
    (c): c is pkijs.Certificate =>
      c instanceof pkijs.Certificate && sid instanceof pkijs.IssuerAndSerialNumber && c.serialNumber.isEqual(sid.serialNumber) && c.issuer.isEqual(sid.issuer),
  );
  if (!dsPkijs) throw fail('malformed', "the SOD carries no certificate for its signer (the Document Signer's)");
  const ds = new x509.X509Certificate(dsPkijs.toSchema().toBER(false));

  // The SOD's signature, by the DS certificate it carries.
  const signatureOk = await sd.verify({ signer: 0, checkChain: false, data: undefined }).catch(() => false);
  if (!signatureOk) throw fail('ds_signature', 'the SOD signature does not verify with its Document Signer certificate');

  // The DS certificate, by a CSCA the carrier trusts. A state keeps its CSCA's name across key
  // rollovers (a master list holds every generation), so any CSCA of that name whose key verifies.
  const named = trust.cscas.filter((c) => c.subject === ds.issuer);
  if (named.length === 0) throw fail('untrusted_csca', `no trusted CSCA named ${ds.issuer}`, { issuer: ds.issuer });
  let csca: x509.X509Certificate | undefined;
  for (const c of named)
    if (await ds.verify({ publicKey: c.publicKey, signatureOnly: true }).catch(() => false)) {
      csca = c;
      break;
    }
  if (!csca) throw fail('csca_signature', 'the Document Signer certificate is not signed by a trusted CSCA of that name');
  for (const [cert, what] of [
    [ds, 'Document Signer'],
    [csca, 'CSCA'],
  ] as const) {
    if (now < cert.notBefore || now > cert.notAfter)
      throw fail('expired', `the ${what} certificate is not valid now`, { notAfter: cert.notAfter.toISOString() });
  }
  const usage = ds.getExtension(x509.KeyUsagesExtension);
  if (usage && !(usage.usages & x509.KeyUsageFlags.digitalSignature)) throw fail('key_usage', 'the Document Signer certificate may not sign');
  const cscaUsage = csca.getExtension(x509.KeyUsagesExtension);
  if (cscaUsage && !(cscaUsage.usages & x509.KeyUsageFlags.keyCertSign)) throw fail('key_usage', 'the CSCA certificate may not sign certificates');

  // The DS, against its CSCA's CRLs (only those a trusted CSCA of that name signed).
  const revocation = await revocationStatus(ds, named, trust.crls ?? [], now, trust.staleCrlGraceMs ?? 0);
  if (revocation.status === 'revoked') throw fail('revoked', "the Document Signer certificate is on its CSCA's CRL", { serial: ds.serialNumber });
  if (revocation.status === 'crl_expired')
    throw fail('crl_expired', "the CSCA's newest CRL is past its nextUpdate: revocation is unknown", {
      nextUpdate: revocation.nextUpdate?.toISOString(),
    });

  // Every data group read, against the signed hash.
  const lds = parseLdsSecurityObject(sd.encapContentInfo.eContent.getValue());
  const verified: number[] = [];
  for (const [n, bytes] of [...dataGroups].sort((a, b) => a[0] - b[0])) {
    const expected = lds.hashes.get(n);
    if (!expected) throw fail('dg_not_in_sod', `DG${n} was read but the SOD has no hash for it`, { dataGroup: n });
    if (!createHash(lds.hashAlgorithm).update(bytes).digest().equals(expected))
      throw fail('dg_hash_mismatch', `DG${n} is not what the issuing state signed`, { dataGroup: n });
    verified.push(n);
  }
  return { verified, signed: [...lds.hashes.keys()].sort((a, b) => a - b), hashAlgorithm: lds.hashAlgorithm, documentSigner: ds, csca };
}
