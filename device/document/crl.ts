/**
 * Certificate revocation lists of the Country Signing CAs (ICAO Doc 9303 Part 12): a state revokes a
 * Document Signer whose key leaked by listing its serial on the CRL its CSCA signs. A CRL counts only
 * when a trusted CSCA of the CRL's issuer name verifies its signature (anyone can write a file that
 * claims to be a CRL). Staleness policy: a CRL past its nextUpdate no longer says the DS is good, so
 * by default passive authentication refuses the document (`crl_expired`); a carrier whose CRL feed is
 * slow may accept a stale CRL for a grace period (`staleCrlGraceMs`), knowingly trading revocation
 * freshness for availability.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KioskError } from '../../base/errors.js';
import { x509 } from '../../base/keys/x509.js';

/** A CRL and the file it came from (for errors that name the file). */
export interface CrlFile {
  path: string;
  crl: x509.X509Crl;
}

/** Every CRL in `dir` (*.crl, *.pem, *.der; DER or PEM "X509 CRL", several per PEM file). E_CONFIG_INVALID naming the file when one does not parse. */
export async function loadCrlFolder(dir: string): Promise<CrlFile[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => /\.(crl|pem|der)$/i.test(n)).sort();
  } catch (err) {
    throw new KioskError('E_CONFIG_INVALID', `cannot read the CRL folder: ${(err as Error).message}`, { subject: dir, cause: err });
  }
  const out: CrlFile[] = [];
  for (const name of names) {
    const path = join(dir, name);
    const bytes = await readFile(path);
    const text = bytes.toString('latin1');
    try {
      const blocks = text.includes('-----BEGIN X509 CRL-----') ? (text.match(/-----BEGIN X509 CRL-----[\s\S]+?-----END X509 CRL-----/g) ?? []) : [bytes];
      for (const b of blocks) out.push({ path, crl: new x509.X509Crl(b) });
    } catch (err) {
      throw new KioskError('E_CONFIG_INVALID', `not a CRL: ${(err as Error).message}`, { subject: path, cause: err, details: { reason: 'malformed' } });
    }
  }
  return out;
}

/** Whether one of `cscas` (those named as the CRL's issuer, allowed to sign CRLs) verifies `crl`'s signature. */
export async function crlVerifiedBy(crl: x509.X509Crl, cscas: x509.X509Certificate[]): Promise<boolean> {
  for (const csca of cscas) {
    if (csca.subject !== crl.issuer) continue;
    const usage = csca.getExtension(x509.KeyUsagesExtension);
    if (usage && !(usage.usages & x509.KeyUsageFlags.cRLSign)) continue;
    if (await crl.verify({ publicKey: csca }).catch(() => false)) return true;
  }
  return false;
}

export type RevocationStatus = { status: 'good' | 'revoked' | 'no_crl' } | { status: 'crl_expired'; nextUpdate?: Date };

/**
 * Whether `cert` is revoked per the CRLs that `cscas` (its issuer's trusted certificates) signed, at
 * `now`. Unverified CRLs are ignored here (the trust store loader refuses them before). A listing on
 * any verified CRL is final, even a stale one; otherwise the newest verified CRL must not be more than
 * `graceMs` past its nextUpdate. No CRL of that issuer: `no_crl` (CRLs are honoured when given).
 */
export async function revocationStatus(
  cert: x509.X509Certificate,
  cscas: x509.X509Certificate[],
  crls: x509.X509Crl[],
  now: Date,
  graceMs = 0,
): Promise<RevocationStatus> {
  const verified: x509.X509Crl[] = [];
  for (const crl of crls) if (crl.issuer === cert.issuer && (await crlVerifiedBy(crl, cscas))) verified.push(crl);
  if (verified.length === 0) return { status: 'no_crl' };
  if (verified.some((crl) => crl.findRevoked(cert))) return { status: 'revoked' };
  const newest = verified.reduce((a, b) => (b.thisUpdate > a.thisUpdate ? b : a));
  const { nextUpdate } = newest;
  if (!nextUpdate || now.getTime() > nextUpdate.getTime() + graceMs) return { status: 'crl_expired', nextUpdate };
  return { status: 'good' };
}
