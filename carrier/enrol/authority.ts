/**
 * The carrier's decisions on enrolment and renewal, without MQTT: check the CSR (signature, P-256,
 * CN = the device id asked for or authenticated), for a renewal the proof of possession of the
 * current key (proof.ts), ask the registry (allow-list, one-time token, key already enrolled, the
 * current key, revoked, rate limit), then sign with the carrier CA. A renewal revokes the device's
 * previous certificates (reason superseded) and, given `crlPath`, writes a fresh CRL. The MQTT
 * service is a thin shell.
 */
import { createHash } from 'node:crypto';
import { KioskError, isKioskError } from '../../base/errors.js';
import type { CarrierCa } from '../ca.js';
import { commonName, x509 } from '../../base/keys/x509.js';
import type { EnrolReply, EnrolRefusal, EnrolRequest, RenewRequest } from '../../protocol/enrol.js';
import type { RegistryStore } from '../store/types.js';
import type { RenewCheck } from './registry.js';
import { checkRenewalProof } from './proof.js';
import { normalizeSerial } from '../revocation.js';
import { writeFileAtomic } from '../../base/keys/file-key-store.js';

export interface EnrolmentAuthorityDeps {
  ca: CarrierCa;
  registry: RegistryStore;
  /** Validity of issued device certificates, days (default 365; fractions allowed). */
  validityDays?: number;
  /** Least time between two renewals of one device, ms (default 3600000; 0 turns the limit off). */
  minRenewalIntervalMs?: number;
  /** Largest age of a renewal's proof of possession (its iat), ms (default 300000). */
  maxProofAgeMs?: number;
  /** Write a fresh CRL (PEM) here after each renewal revoked the previous certificates (the broker's crlfile). */
  crlPath?: string;
  clock?: () => Date;
}

/** Default least time between two renewals of one device: one hour. */
export const DEFAULT_MIN_RENEWAL_INTERVAL_MS = 3600_000;

/** An answer and, when a certificate was issued, for whom. */
export interface Decision {
  reply: EnrolReply;
  deviceId?: string;
  certificate?: x509.X509Certificate;
}

const refuse = (reason: EnrolRefusal, detail: string): Decision => ({
  reply: {
    ok: false,
    code: reason === 'internal' ? 'E_INTERNAL' : reason === 'malformed' || reason === 'bad_csr' ? 'E_CERTIFICATE' : 'E_NOT_AUTHORIZED',
    reason,
    detail,
  },
});

export class EnrolmentAuthority {
  constructor(private readonly deps: EnrolmentAuthorityDeps) {}

  /** Enrolment by claim: the request names the device; the registry decides whether it may have it. */
  async enrol(req: EnrolRequest): Promise<Decision> {
    const csr = await this.checkCsr(req.csr, req.device_id);
    if ('reply' in csr) return csr;
    const check = await this.deps.registry.claim(req.device_id, new Uint8Array(csr.publicKey.rawData), req.token);
    if (check !== 'ok') return refuse(check, DETAIL[check]);
    return this.issue(req.device_id, csr);
  }

  /**
   * Renewal by a device the broker authenticated as `deviceId` (the topic it could publish on), with
   * proof of possession of its current key; on success the previous certificates are revoked.
   */
  async renew(deviceId: string, req: RenewRequest): Promise<Decision> {
    const csr = await this.checkCsr(req.csr, deviceId);
    if ('reply' in csr) return csr;
    const now = this.deps.clock?.() ?? new Date();
    const proof = await checkRenewalProof(req.pop, { ca: this.deps.ca, deviceId, csr: req.csr, now, maxAgeMs: this.deps.maxProofAgeMs });
    if (!proof.ok && proof.reason === 'revoked' && (await this.lostReply(deviceId, proof.certificate, csr))) {
      // The kiosk renewed, its reply was lost, and it asks again with the certificate that renewal
      // superseded, for the key that renewal certified: it gets a certificate for that key again.
      // Whoever holds only the superseded key gains nothing: the new certificate is for a key it lacks.
      const decision = await this.issue(deviceId, csr);
      if (decision.certificate) await this.supersede(deviceId, decision.certificate, proof.certificate, now);
      return decision;
    }
    if (!proof.ok) return refuse(proof.reason, proof.detail);
    const check = await this.deps.registry.renew(deviceId, new Uint8Array(csr.publicKey.rawData), {
      currentSpki: new Uint8Array(proof.certificate.publicKey.rawData),
      now,
      minIntervalMs: this.deps.minRenewalIntervalMs ?? DEFAULT_MIN_RENEWAL_INTERVAL_MS,
    });
    if (check !== 'ok') return refuse(check === 'not_current_key' ? 'bad_proof' : check, RENEW_DETAIL[check]);
    const decision = await this.issue(deviceId, csr);
    if (decision.certificate) await this.supersede(deviceId, decision.certificate, proof.certificate, now);
    return decision;
  }

  /** A retry after a lost reply: the proof's certificate was superseded and the CSR is for the device's current key. */
  private async lostReply(deviceId: string, proved: x509.X509Certificate, csr: x509.Pkcs10CertificateRequest): Promise<boolean> {
    if ((await this.deps.ca.records.reasonOf(proved.serialNumber)) !== 'superseded') return false;
    const record = await this.deps.registry.device(deviceId);
    if (!record || record.revoked) return false;
    return record.keySha256 === createHash('sha256').update(new Uint8Array(csr.publicKey.rawData)).digest('hex');
  }

  /** Revokes every earlier certificate of the device (registry history, CA record, the one that proved possession). */
  private async supersede(deviceId: string, issued: x509.X509Certificate, current: x509.X509Certificate, now: Date): Promise<void> {
    const { ca, registry } = this.deps;
    const serials = new Set([...(await registry.serials(deviceId)), ...(await ca.records.serialsOf(deviceId)), current.serialNumber]);
    for (const serial of serials) if (normalizeSerial(serial) !== normalizeSerial(issued.serialNumber)) await ca.revoke(serial, 'superseded', now);
    if (this.deps.crlPath) await writeFileAtomic(this.deps.crlPath, await ca.crl({ now }));
  }

  private async checkCsr(pem: string, deviceId: string): Promise<x509.Pkcs10CertificateRequest | Decision> {
    let csr: x509.Pkcs10CertificateRequest;
    try {
      csr = new x509.Pkcs10CertificateRequest(pem);
    } catch {
      return refuse('bad_csr', 'not a PKCS#10 certificate request');
    }
    if (!(await csr.verify().catch(() => false))) return refuse('bad_csr', 'the CSR signature does not verify');
    const alg = csr.publicKey.algorithm as { name: string; namedCurve?: string };
    if (alg.name !== 'ECDSA' || alg.namedCurve !== 'P-256') return refuse('bad_csr', 'only P-256 keys are accepted');
    const cn = commonName(csr);
    if (cn !== deviceId) return refuse('device_mismatch', `the CSR names ${String(cn)}, the request ${deviceId}`);
    return csr;
  }

  private async issue(deviceId: string, csr: x509.Pkcs10CertificateRequest): Promise<Decision> {
    try {
      const cert = await this.deps.ca.issue(csr.publicKey, deviceId, { profile: 'device', validityDays: this.deps.validityDays, now: this.deps.clock?.() });
      await this.deps.registry.issued(deviceId, cert.serialNumber, cert.notAfter);
      return { reply: { ok: true, certificate: cert.toString('pem'), not_after: cert.notAfter.toISOString() }, deviceId, certificate: cert };
    } catch (err) {
      // A CN the CA will not issue (reserved prefix) is the requester's fault, anything else ours.
      if (isKioskError(err, 'E_USAGE')) return refuse('not_allowed', err.message);
      throw err instanceof KioskError ? err : new KioskError('E_INTERNAL', `could not issue: ${(err as Error).message}`, { subject: deviceId, cause: err });
    }
  }
}

const RENEW_DETAIL: Record<Exclude<RenewCheck, 'ok'>, string> = {
  revoked: 'this device is revoked',
  not_current_key: "the proof's key is not the device's current key (its certificate was superseded)",
  rate_limited: 'this device renewed too recently; ask again later',
};

const DETAIL: Record<Exclude<EnrolRefusal, 'malformed' | 'bad_csr' | 'device_mismatch' | 'internal' | 'no_proof' | 'bad_proof' | 'rate_limited'>, string> = {
  not_allowed: 'this device id is not on the enrolment allow-list and has no token',
  bad_token: 'the enrolment token is missing, wrong or already used',
  already_enrolled: 'this device id is already enrolled with another key; renew with the device certificate instead',
  revoked: 'this device is revoked',
};
