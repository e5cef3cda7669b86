/**
 * The carrier's trust store for passive authentication: Country Signing CA certificates from a folder
 * (PEM, one or more per file, or DER, as exported from the ICAO PKD or the states' publications)
 * and/or from ICAO master lists whose signers chain to CSCAs the carrier pinned (master-list.ts),
 * plus the CSCAs' CRLs (crl.ts). Anything that does not verify refuses to load with
 * E_CONFIG_INVALID naming the file: the kiosk must not start with a trust store it cannot verify.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KioskError } from '../../base/errors.js';
import { parseCertificate, parseCertificateChain, type x509 } from '../../base/keys/x509.js';
import { crlVerifiedBy, loadCrlFolder } from './crl.js';
import { verifyMasterList } from './master-list.js';

/** What passive authentication trusts: the states' CSCAs and their CRLs. */
export interface TrustAnchors {
  cscas: x509.X509Certificate[];
  /** The CSCAs' CRLs; each counts only when a trusted CSCA of its issuer name verifies it. Absent: no revocation data. */
  crls?: x509.X509Crl[];
  /** How long past its nextUpdate a CRL still counts, in ms. Default 0: a stale CRL refuses its CSCA's documents (`crl_expired`). */
  staleCrlGraceMs?: number;
}

/** Where the trust store comes from; at least one of `cscaDir` and `masterLists`. */
export interface TrustStoreOptions {
  /** Folder of CSCA certificates trusted as they are. */
  cscaDir?: string;
  /** ICAO master list files (DER CMS); their CSCAs are trusted once each list verifies. */
  masterLists?: string[];
  /** Folder of the CSCA certificates pinned as master list issuers; required with `masterLists`. */
  masterListIssuers?: string;
  /** Folder of CRLs (DER or PEM) of the trusted CSCAs. */
  crlDir?: string;
  /** Accept a CRL up to this long past its nextUpdate, in ms (default 0: refuse, reason `crl_expired`). */
  staleCrlGraceMs?: number;
  /** When the master lists' signers must be valid (default: now). */
  now?: Date;
}

/** Every certificate in `dir` (*.pem, *.crt, *.cer, *.der), `what` naming the folder in errors. */
async function loadCertificateFolder(dir: string, what: string): Promise<x509.X509Certificate[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => /\.(pem|crt|cer|der)$/i.test(n)).sort();
  } catch (err) {
    throw new KioskError('E_CONFIG_INVALID', `cannot read the ${what} folder: ${(err as Error).message}`, { subject: dir, cause: err });
  }
  const out: x509.X509Certificate[] = [];
  for (const name of names) {
    const path = join(dir, name);
    const bytes = await readFile(path);
    try {
      const text = bytes.toString('latin1');
      out.push(...(text.includes('-----BEGIN CERTIFICATE-----') ? parseCertificateChain(text, path) : [parseCertificate(bytes, path)]));
    } catch (err) {
      throw new KioskError('E_CONFIG_INVALID', `not a certificate: ${(err as Error).message}`, { subject: path, cause: err });
    }
  }
  if (out.length === 0) throw new KioskError('E_CONFIG_INVALID', `the ${what} folder holds no certificate (*.pem, *.crt, *.cer, *.der)`, { subject: dir });
  return out;
}

/** Every certificate in `dir` (*.pem, *.crt, *.cer, *.der). E_CONFIG_INVALID when there is none or one does not parse. */
export function loadCscaFolder(dir: string): Promise<x509.X509Certificate[]> {
  return loadCertificateFolder(dir, 'CSCA');
}

/** The trust anchors `o` configures, every master list and CRL verified. E_CONFIG_INVALID naming the file and reason otherwise. */
export async function loadTrustStore(o: TrustStoreOptions): Promise<TrustAnchors> {
  const now = o.now ?? new Date();
  const lists = o.masterLists ?? [];
  if (!o.cscaDir && lists.length === 0)
    throw new KioskError('E_CONFIG_INVALID', 'no CSCA folder and no master list: nothing to trust', { subject: 'trust store' });
  if (o.staleCrlGraceMs !== undefined && !(o.staleCrlGraceMs >= 0))
    throw new KioskError('E_CONFIG_INVALID', 'the stale CRL grace must be a duration >= 0', { subject: 'staleCrlGraceMs' });
  const cscas = o.cscaDir ? await loadCscaFolder(o.cscaDir) : [];
  if (lists.length > 0) {
    if (!o.masterListIssuers)
      throw new KioskError('E_CONFIG_INVALID', 'master lists need a folder of pinned master list issuers: a list cannot vouch for itself', {
        subject: 'masterListIssuers',
      });
    const issuers = await loadCertificateFolder(o.masterListIssuers, 'master list issuer');
    for (const path of lists) {
      let bytes: Buffer;
      try {
        bytes = await readFile(path);
      } catch (err) {
        throw new KioskError('E_CONFIG_INVALID', `cannot read the master list: ${(err as Error).message}`, { subject: path, cause: err });
      }
      cscas.push(...(await verifyMasterList(bytes, path, issuers, now)));
    }
  }
  const unique = [...new Map(cscas.map((c) => [Buffer.from(c.rawData).toString('base64'), c])).values()];

  const crls: x509.X509Crl[] = [];
  for (const { path, crl } of o.crlDir ? await loadCrlFolder(o.crlDir) : []) {
    // A CRL of a CSCA we do not trust cannot be verified; refusing it (rather than skipping) keeps a
    // misplaced or forged file from going unnoticed while the genuine CRL is missing.
    if (!unique.some((c) => c.subject === crl.issuer))
      throw new KioskError('E_CONFIG_INVALID', `CRL of an untrusted issuer (${crl.issuer})`, { subject: path, details: { reason: 'crl_issuer_unknown' } });
    if (!(await crlVerifiedBy(crl, unique)))
      throw new KioskError('E_CONFIG_INVALID', `the CRL signature does not verify with its CSCA (${crl.issuer})`, {
        subject: path,
        details: { reason: 'crl_signature' },
      });
    if (!crl.nextUpdate) throw new KioskError('E_CONFIG_INVALID', 'the CRL has no nextUpdate', { subject: path, details: { reason: 'malformed' } });
    crls.push(crl);
  }
  return { cscas: unique, ...(o.crlDir ? { crls } : {}), ...(o.staleCrlGraceMs !== undefined ? { staleCrlGraceMs: o.staleCrlGraceMs } : {}) };
}
