/**
 * ICAO CSCA master lists (Doc 9303 Part 12): a CMS SignedData whose content (id-icao-cscaMasterList)
 * is CscaMasterList ::= SEQUENCE { version INTEGER, certList SET OF Certificate }, signed by a Master
 * List Signer certificate that the publishing state's CSCA issued. A list is only as good as its
 * signer's issuer, so the issuer must be one the carrier pinned: a folder of "master list issuer"
 * CSCA certificates. We pin certificates, not SPKI hashes, because a certificate lets us check the
 * pinned issuer's own validity period and key usage (a bare hash has neither), uses the format and
 * tooling the carrier already uses for the CSCA folder, and makes a key rollover an auditable file
 * drop. The issuer is never taken from the list itself: a master list that only vouches for itself
 * (its own certificates, its own CSCAs) proves nothing. Any failed check refuses the list with
 * E_CONFIG_INVALID naming the file and `details.reason`.
 */
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { KioskError } from '../../base/errors.js';
import { x509 } from '../../base/keys/x509.js';

/** The content type of a CSCA master list. */
export const CSCA_MASTER_LIST_OID = '2.23.136.1.1.2';
/**
 * The extended key usage of a Master List Signer, id-icao-cscaMasterListSigningKey (Doc 9303-12;
 * the same arc in BouncyCastle's ICAOObjectIdentifiers). 2.23.136.1.1.9 is id-icao-lds2, not a signer usage.
 */
export const MASTER_LIST_SIGNER_EKU = '2.23.136.1.1.3';

export type MasterListFailure = 'malformed' | 'signature' | 'untrusted_signer' | 'expired' | 'key_usage';

const CONTENT_TYPE_ATTR = '1.2.840.113549.1.9.3';

const refuse = (path: string, reason: MasterListFailure, message: string) =>
  new KioskError('E_CONFIG_INVALID', `master list refused: ${message}`, { subject: path, details: { reason } });

/** The CMS SignedData of a master list file (a DER ContentInfo). */
function signedData(bytes: Buffer, path: string): pkijs.SignedData {
  try {
    const parsed = asn1js.fromBER(new Uint8Array(bytes));
    if (parsed.offset === -1) throw new Error('not BER');
    const info = new pkijs.ContentInfo({ schema: parsed.result });
    if (info.contentType !== pkijs.ContentInfo.SIGNED_DATA) throw new Error('not a CMS SignedData');
    return new pkijs.SignedData({ schema: info.content });
  } catch (err) {
    throw refuse(path, 'malformed', `not a CMS SignedData: ${(err as Error).message}`);
  }
}

/** The certificates of CscaMasterList ::= SEQUENCE { version INTEGER (v0), certList SET OF Certificate }. */
function certList(content: ArrayBuffer, path: string): x509.X509Certificate[] {
  const parsed = asn1js.fromBER(content);
  const seq = parsed.result;
  const [version, set] = seq instanceof asn1js.Sequence ? seq.valueBlock.value : [];
  if (parsed.offset === -1 || !(version instanceof asn1js.Integer) || !(set instanceof asn1js.Set))
    throw refuse(path, 'malformed', 'the content is not a CscaMasterList');
  if (version.valueBlock.valueDec !== 0) throw refuse(path, 'malformed', `unknown CscaMasterList version ${version.valueBlock.valueDec}`);
  try {
    const certs = set.valueBlock.value.map((c) => new x509.X509Certificate(c.toBER(false)));
    if (certs.length === 0) throw new Error('the list holds no certificate');
    return certs;
  } catch (err) {
    throw refuse(path, 'malformed', (err as Error).message);
  }
}

const validAt = (cert: x509.X509Certificate, now: Date) => now >= cert.notBefore && now <= cert.notAfter;

/**
 * The CSCAs of master list `bytes` (read from `path`), once its CMS signature, its signer's chain to
 * one of the pinned `issuers`, the validity of both at `now`, and their key usages are checked.
 */
export async function verifyMasterList(bytes: Buffer, path: string, issuers: x509.X509Certificate[], now: Date): Promise<x509.X509Certificate[]> {
  const sd = signedData(bytes, path);
  const { eContentType, eContent } = sd.encapContentInfo;
  if (eContentType !== CSCA_MASTER_LIST_OID || !eContent) throw refuse(path, 'malformed', 'the content is not a CSCA master list');
  // pkijs checks that a content-type attribute is present, not its value: bind the signature to "master list".
  const signed = sd.signerInfos[0].signedAttrs?.attributes.find((a) => a.type === CONTENT_TYPE_ATTR);
  if (signed && (signed.values[0] as asn1js.ObjectIdentifier | undefined)?.valueBlock.toString() !== CSCA_MASTER_LIST_OID)
    throw refuse(path, 'signature', 'the signed content type is not a CSCA master list');

  // The CMS signature, with the signer certificate the list carries (pkijs finds it by the signer's sid).
  const result = await sd.verify({ signer: 0, checkChain: false, extendedMode: true }).catch(() => undefined);
  if (!result?.signatureVerified || !result.signerCertificate) throw refuse(path, 'signature', 'the signature does not verify with its signer certificate');
  const signer = new x509.X509Certificate(result.signerCertificate.toSchema().toBER(false));

  // The signer, by an issuer the carrier pinned (same name and its key verifies the signer's certificate).
  let issuer: x509.X509Certificate | undefined;
  for (const c of issuers)
    if (c.subject === signer.issuer && (await signer.verify({ publicKey: c.publicKey, signatureOnly: true }).catch(() => false))) {
      issuer = c;
      break;
    }
  if (!issuer) throw refuse(path, 'untrusted_signer', `its signer was not issued by a pinned master list issuer (${signer.issuer})`);

  if (!validAt(signer, now))
    throw refuse(path, 'expired', `its signer certificate is not valid now (${signer.notBefore.toISOString()} to ${signer.notAfter.toISOString()})`);
  if (!validAt(issuer, now)) throw refuse(path, 'expired', `the pinned issuer ${issuer.subject} is not valid now`);

  // Usage: without the ML-signer EKU, any certificate of the pinned state (a Document Signer on a
  // personalisation line, say) could publish a list of CSCAs; so the EKU is required, not just honoured.
  const usage = signer.getExtension(x509.KeyUsagesExtension);
  if (usage && !(usage.usages & x509.KeyUsageFlags.digitalSignature)) throw refuse(path, 'key_usage', 'its signer certificate may not sign');
  const eku = signer.getExtension(x509.ExtendedKeyUsageExtension);
  if (!eku?.usages.map(String).includes(MASTER_LIST_SIGNER_EKU))
    throw refuse(path, 'key_usage', `its signer certificate lacks the master list signer usage (${MASTER_LIST_SIGNER_EKU})`);
  const issuerUsage = issuer.getExtension(x509.KeyUsagesExtension);
  if (issuerUsage && !(issuerUsage.usages & x509.KeyUsageFlags.keyCertSign)) throw refuse(path, 'key_usage', 'the pinned issuer may not sign certificates');

  return certList(eContent.getValue(), path);
}
