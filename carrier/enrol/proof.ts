/**
 * The check of a renewal's proof of possession (protocol/enrol.ts): a compact JWS signed by the
 * device's current key, carrying the current certificate in `x5c`, over the device id, the hash of
 * the CSR and a fresh `iat`. The broker only proves that the requester holds *a* certificate of the
 * device; this proves it holds the key of a valid, unrevoked one, and binds that to this CSR.
 */
import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { certificateProfile } from '../../protocol/names.js';
import { csrDigest, RENEW_POP_TYP, type EnrolRefusal } from '../../protocol/enrol.js';
import { parseCompact } from '../../protocol/jws.js';
import { commonName, parseCertificate, type x509 } from '../../base/keys/x509.js';
import type { CarrierCa } from '../ca.js';

/** Default largest age (and clock skew ahead) of a proof's `iat`: 5 minutes. */
export const DEFAULT_MAX_POP_AGE_MS = 300_000;

export interface ProofContext {
  ca: CarrierCa;
  /** The device the broker authenticated (the renewal topic's). */
  deviceId: string;
  /** The CSR of the request, PEM. */
  csr: string;
  now: Date;
  maxAgeMs?: number;
}

/** The current certificate when the proof holds, else why not. */
export type ProofCheck =
  | { ok: true; certificate: x509.X509Certificate }
  | { ok: false; reason: Extract<EnrolRefusal, 'no_proof' | 'bad_proof'>; detail: string }
  /** A proof that holds in every way but that its certificate is revoked (`certificate` is that one). */
  | { ok: false; reason: 'revoked'; detail: string; certificate: x509.X509Certificate };

const bad = (detail: string): ProofCheck => ({ ok: false, reason: 'bad_proof', detail });

/** Checks a renewal's `pop` in the order: shape, certificate (chain, profile, CN, validity, revocation), signature, claims. */
export async function checkRenewalProof(pop: string | undefined, c: ProofContext): Promise<ProofCheck> {
  if (pop === undefined) return { ok: false, reason: 'no_proof', detail: 'a renewal must carry a proof of possession of the current key (pop)' };
  let jws: ReturnType<typeof parseCompact>;
  try {
    jws = parseCompact(pop);
  } catch (err) {
    return bad(`the proof is not a compact JWS: ${(err as Error).message}`);
  }
  const { header, payload } = jws;
  if (header.alg !== 'ES256' || header.typ !== RENEW_POP_TYP) return bad(`the proof header must have alg ES256 and typ ${RENEW_POP_TYP}`);
  const x5c = header.x5c;
  if (!Array.isArray(x5c) || x5c.length !== 1 || typeof x5c[0] !== 'string') return bad('the proof must carry the current certificate (x5c, one entry)');
  let cert: x509.X509Certificate;
  try {
    cert = parseCertificate(Buffer.from(x5c[0], 'base64'), 'x5c');
  } catch {
    return bad('the x5c certificate does not parse');
  }
  const ca = c.ca.certificate;
  if (cert.issuer !== ca.subject || !(await cert.verify({ publicKey: ca.publicKey, signatureOnly: true }).catch(() => false)))
    return bad('the proof certificate is not issued by the carrier CA');
  if (certificateProfile(cert) !== 'device') return bad('the proof certificate is not a device certificate');
  if (commonName(cert) !== c.deviceId) return bad(`the proof certificate names ${String(commonName(cert))}, the renewal topic ${c.deviceId}`);
  if (c.now < cert.notBefore || c.now > cert.notAfter) return bad('the proof certificate is not valid now');
  const key = createPublicKey({ key: Buffer.from(cert.publicKey.rawData), format: 'der', type: 'spki' });
  if (jws.signature.length !== 64 || !nodeVerify('sha256', jws.signingInput, { key, dsaEncoding: 'ieee-p1363' }, jws.signature))
    return bad('the proof signature does not verify with the certificate key');
  if (payload.sub !== c.deviceId) return bad(`the proof is for ${String(payload.sub).slice(0, 64)}, not ${c.deviceId}`);
  if (payload.csr_sha256 !== csrDigest(c.csr)) return bad('the proof is for another CSR (csr_sha256)');
  const maxAge = c.maxAgeMs ?? DEFAULT_MAX_POP_AGE_MS;
  if (typeof payload.iat !== 'number' || !Number.isFinite(payload.iat)) return bad('the proof has no iat');
  const age = c.now.getTime() - payload.iat * 1000;
  if (age > maxAge || age < -maxAge) return bad(`the proof is ${Math.round(age / 1000)} s old, more than ${maxAge / 1000} s from now`);
  // Last, so that a revoked certificate is reported only for an otherwise valid proof (the authority
  // answers a renewal whose reply was lost: see authority.ts).
  if (await c.ca.isRevoked(cert)) return { ok: false, reason: 'revoked', detail: `certificate ${cert.serialNumber} is revoked`, certificate: cert };
  return { ok: true, certificate: cert };
}
