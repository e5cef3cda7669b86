/**
 * The carrier-side result verifier. Checks, in this order, and stops at the first failure: token
 * shape and header, certificate (chain to the carrier CA, not revoked, validity, device profile,
 * kid), the signature, the claims and their audience, CN against the claimed device, clock skew,
 * the policy (model set, agent version, debug status, deciding operator), the challenge plan
 * against the nonce, and finally the nonce (issued by the carrier for this device, not expired at
 * arrival, not younger than the token's iat, used once). The nonce is consumed last so that a
 * forged token cannot burn a genuine session's nonce.
 */
import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { certificateProfile } from '../protocol/names.js';
import { claimsProblem, DEFAULT_RESULT_AUDIENCE, isResultClaims, RESULT_TOKEN_TYP, type ResultClaims } from '../protocol/eat.js';
import { parseCompact, type ParsedJws } from '../protocol/jws.js';
import { referenceProblem } from '../protocol/reference.js';
import type { NonceStore } from './nonce-store.js';
import { policyCheck, type PolicyProblem, type PolicyReason, type VerifierPolicy } from './verifier-policy.js';
import { certificateThumbprint, commonName, parseCertificate, type x509 } from '../base/keys/x509.js';

/** Why a token was rejected. */
export type RejectReason =
  | 'malformed'
  | 'bad_header'
  | 'unknown_certificate'
  | 'untrusted_chain'
  | 'certificate_expired'
  | 'certificate_not_yet_valid'
  | 'wrong_profile'
  | 'kid_mismatch'
  | 'bad_signature'
  | 'revoked'
  | 'bad_claims'
  | 'wrong_audience'
  | 'device_mismatch'
  | 'clock_skew'
  | 'iat_out_of_window'
  | PolicyReason
  | 'plan_mismatch'
  | 'unknown_nonce'
  | 'nonce_expired'
  | 'replay'
  | 'nonce_wrong_device';

/** The typed outcome of one verification. `duplicate` is a redelivery of an accepted result. */
export type VerifyOutcome =
  | { status: 'accepted' | 'duplicate'; deviceId: string; jti: string; claims: ResultClaims }
  | { status: 'rejected'; reason: RejectReason; detail: string; deviceId?: string; jti?: string };

/** Checks that the challenge plan in a result is the one derived from its nonce. */
export type PlanCheck = (nonceHex: string, plan: unknown) => boolean;

/** Options of {@link ResultVerifier}. */
export interface VerifierOptions {
  /** The carrier CA certificate every device certificate must be issued by. */
  ca: x509.X509Certificate;
  nonces: NonceStore;
  /** The plan check (derivePlan from the session module); 'skip' must be chosen explicitly. */
  checkPlan: PlanCheck | 'skip';
  /** Allowed model sets, agent versions, debug status and operators (carrier/verifier-policy.ts); 'skip' must be chosen explicitly. */
  policy: VerifierPolicy | 'skip';
  /** The `aud` every result must carry (default DEFAULT_RESULT_AUDIENCE, the kiosk's default `transport.audience`). */
  audience?: string;
  /** Whether a device certificate is revoked (e.g. from the carrier CA's CRL); checked on every token, after the chain. */
  isRevoked?: (cert: x509.X509Certificate) => boolean | Promise<boolean>;
  /** Current time (default: the system clock). */
  clock?: () => Date;
  /**
   * Largest accepted difference, in ms, between iat and the verifier's clock, and how far iat may lie
   * before the nonce's issue time (default 300000).
   */
  maxSkewMs?: number;
  /** Finds a device certificate by kid when the token carries no x5c (e.g. from the enrolment registry). */
  lookupCertificate?: (kid: string) => x509.X509Certificate | undefined;
  /**
   * Certificates whose chain already verified, kept by their DER (default 10000; 0 turns it off).
   * Parsing and checking the CA signature is most of the cost of a verification (~5 ms against
   * ~0.2 ms for the rest); validity dates, profile and kid are still checked on every token.
   */
  certificateCacheSize?: number;
}

class Reject {
  constructor(
    readonly reason: RejectReason,
    readonly detail: string,
  ) {}
}

/** Verifies result tokens; stateless apart from the nonce store. */
export class ResultVerifier {
  private readonly chainOk = new Map<string, x509.X509Certificate>();
  private readonly checkPolicy: (claims: ResultClaims) => PolicyProblem | undefined;

  constructor(private readonly options: VerifierOptions) {
    this.checkPolicy = options.policy === 'skip' ? () => undefined : policyCheck(options.policy);
  }

  /**
   * Verifies one token; never throws for bad input, the outcome says why. `o.publishedBy`: the device
   * whose topic carried it; a token of another device is refused before its nonce is touched, so a
   * captured token published elsewhere cannot use up the nonce its own kiosk's delivery needs.
   */
  async verify(token: string, o: { publishedBy?: string } = {}): Promise<VerifyOutcome> {
    let claims: ResultClaims | undefined;
    try {
      const jws = this.parse(token);
      const cert = await this.certificate(jws.header);
      this.signature(jws, cert);
      claims = this.claims(jws.payload, cert);
      if (o.publishedBy !== undefined && o.publishedBy !== claims.sub)
        throw new Reject('device_mismatch', `published under ${o.publishedBy}, signed by ${claims.sub}`);
      const problem = this.checkPolicy(claims);
      if (problem) throw new Reject(problem.reason, problem.detail);
      this.plan(claims);
      return await this.nonce(claims);
    } catch (err) {
      if (!(err instanceof Reject)) throw err;
      return { status: 'rejected', reason: err.reason, detail: err.detail, deviceId: claims?.sub, jti: claims?.jti };
    }
  }

  private parse(token: string): ParsedJws {
    let jws: ParsedJws;
    try {
      jws = parseCompact(token);
    } catch (err) {
      throw new Reject('malformed', (err as Error).message);
    }
    const h = jws.header;
    if (h.alg !== 'ES256') throw new Reject('bad_header', `alg ${String(h.alg)} is not ES256`);
    if (h.typ !== RESULT_TOKEN_TYP) throw new Reject('bad_header', `typ ${String(h.typ)} is not ${RESULT_TOKEN_TYP}`);
    if ('crit' in h || 'jku' in h || 'x5u' in h || 'jwk' in h) throw new Reject('bad_header', 'crit, jku, x5u and jwk are not accepted');
    if (typeof h.kid !== 'string') throw new Reject('bad_header', 'kid missing');
    return jws;
  }

  private async certificate(h: Record<string, unknown>): Promise<x509.X509Certificate> {
    let cert: x509.X509Certificate | undefined;
    if (h.x5c !== undefined) {
      if (!Array.isArray(h.x5c) || h.x5c.length !== 1 || typeof h.x5c[0] !== 'string')
        throw new Reject('bad_header', 'x5c must hold exactly the device certificate');
      cert = this.chainOk.get(h.x5c[0]);
      if (!cert) {
        const der = Buffer.from(h.x5c[0], 'base64');
        if (der.toString('base64') !== h.x5c[0]) throw new Reject('bad_header', 'x5c is not canonical base64');
        try {
          cert = parseCertificate(der, 'x5c');
        } catch (err) {
          throw new Reject('bad_header', (err as Error).message);
        }
      }
    } else {
      cert = this.options.lookupCertificate?.(h.kid as string);
      if (!cert) throw new Reject('unknown_certificate', `no certificate known for kid ${String(h.kid)}`);
    }
    if (certificateThumbprint(cert) !== h.kid) throw new Reject('kid_mismatch', 'kid is not the thumbprint of the certificate');
    if (cert.issuer !== this.options.ca.subject) throw new Reject('untrusted_chain', `issuer "${cert.issuer}" is not the carrier CA`);
    const der = Buffer.from(cert.rawData).toString('base64');
    if (this.chainOk.get(der) !== cert) {
      const signedByCa = await cert.verify({ publicKey: this.options.ca.publicKey, signatureOnly: true }).catch(() => false);
      if (!signedByCa) {
        throw new Reject('untrusted_chain', 'certificate signature does not verify with the carrier CA key');
      }
      this.remember(der, cert);
    }
    if (await this.options.isRevoked?.(cert)) throw new Reject('revoked', `certificate ${cert.serialNumber} of ${String(commonName(cert))} is revoked`);
    const now = this.now();
    if (now < cert.notBefore) throw new Reject('certificate_not_yet_valid', `certificate valid from ${cert.notBefore.toISOString()}`);
    if (now > cert.notAfter) throw new Reject('certificate_expired', `certificate expired ${cert.notAfter.toISOString()}`);
    if (certificateProfile(cert) !== 'device') throw new Reject('wrong_profile', 'certificate is not a device certificate');
    return cert;
  }

  private signature(jws: ParsedJws, cert: x509.X509Certificate): void {
    const key = createPublicKey({ key: Buffer.from(cert.publicKey.rawData), format: 'der', type: 'spki' });
    if (jws.signature.length !== 64 || !nodeVerify('sha256', jws.signingInput, { key, dsaEncoding: 'ieee-p1363' }, jws.signature)) {
      throw new Reject('bad_signature', 'ES256 signature does not verify with the device key');
    }
  }

  private claims(payload: Record<string, unknown>, cert: x509.X509Certificate): ResultClaims {
    if (!isResultClaims(payload)) throw new Reject('bad_claims', `claim ${claimsProblem(payload)} missing or malformed`);
    const claims: ResultClaims = payload;
    const reference = (claims.result as Record<string, unknown>).reference;
    if (reference !== undefined && reference !== null) {
      const bad = referenceProblem(reference);
      if (bad) throw new Reject('bad_claims', `claim result.${bad} malformed`);
    }
    const audience = this.options.audience ?? DEFAULT_RESULT_AUDIENCE;
    if (claims.aud !== audience) throw new Reject('wrong_audience', `aud ${JSON.stringify(claims.aud ?? null).slice(0, 80)} is not ${audience}`);
    const cn = commonName(cert);
    if (cn !== claims.sub) throw new Reject('device_mismatch', `certificate CN ${String(cn)} does not match sub ${claims.sub}`);
    const skew = this.options.maxSkewMs ?? 300_000;
    const iatMs = claims.iat * 1000;
    if (iatMs > this.now().getTime() + skew) throw new Reject('clock_skew', `iat is ${Math.round((iatMs - this.now().getTime()) / 1000)} s in the future`);
    if (iatMs < cert.notBefore.getTime() - skew || iatMs > cert.notAfter.getTime() + skew)
      throw new Reject('clock_skew', 'iat is outside the certificate validity');
    return claims;
  }

  private plan(claims: ResultClaims): void {
    const { checkPlan } = this.options;
    if (checkPlan !== 'skip' && !checkPlan(claims.eat_nonce, claims.result.plan)) {
      throw new Reject('plan_mismatch', 'the challenge plan is not the one derived from the nonce');
    }
  }

  private async nonce(claims: ResultClaims): Promise<VerifyOutcome> {
    const at = { now: this.now(), iat: new Date(claims.iat * 1000), skewMs: this.options.maxSkewMs ?? 300_000 };
    const check = await this.options.nonces.consume(claims.eat_nonce, claims.sub, claims.jti, at);
    const base = { deviceId: claims.sub, jti: claims.jti };
    switch (check) {
      case 'ok':
        return { status: 'accepted', ...base, claims };
      case 'duplicate':
        return { status: 'duplicate', ...base, claims };
      case 'unknown':
        throw new Reject('unknown_nonce', 'the nonce was not issued by the carrier');
      case 'expired':
        throw new Reject('nonce_expired', 'the nonce had expired when the result arrived');
      case 'iat_before_issue':
        throw new Reject('iat_out_of_window', 'iat is before the nonce was issued');
      case 'replay':
        throw new Reject('replay', 'the nonce was already used by another result');
      case 'wrong_device':
        throw new Reject('nonce_wrong_device', 'the nonce was issued for another device');
    }
  }

  /** Keeps a certificate whose CA signature verified; the oldest entry goes first when full. */
  private remember(der: string, cert: x509.X509Certificate): void {
    const size = this.options.certificateCacheSize ?? 10_000;
    if (size <= 0) return;
    if (this.chainOk.size >= size) this.chainOk.delete(this.chainOk.keys().next().value!);
    this.chainOk.set(der, cert);
  }

  private now(): Date {
    return this.options.clock?.() ?? new Date();
  }
}
