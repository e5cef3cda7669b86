/**
 * The carrier's trust store for passive authentication: a folder of Country Signing CA certificates
 * (PEM, one or more per file, or DER), as a carrier exports them from the ICAO PKD or the states'
 * own publications. (ICAO master lists, CMS-signed bundles of CSCAs, are not read yet.)
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KioskError } from '../../base/errors.js';
import { parseCertificate, parseCertificateChain, type x509 } from '../../base/keys/x509.js';

/** Every certificate in `dir` (*.pem, *.crt, *.cer, *.der). E_CONFIG_INVALID when there is none or one does not parse. */
/** What passive authentication trusts: the states' CSCAs (and, later, their CRLs). */
export interface TrustAnchors {
  cscas: x509.X509Certificate[];
}

export async function loadCscaFolder(dir: string): Promise<x509.X509Certificate[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => /\.(pem|crt|cer|der)$/i.test(n)).sort();
  } catch (err) {
    throw new KioskError('E_CONFIG_INVALID', `cannot read the CSCA folder: ${(err as Error).message}`, { subject: dir, cause: err });
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
  if (out.length === 0) throw new KioskError('E_CONFIG_INVALID', 'the CSCA folder holds no certificate (*.pem, *.crt, *.cer, *.der)', { subject: dir });
  return out;
}
