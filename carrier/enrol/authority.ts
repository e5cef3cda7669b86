/**
 * The carrier's decisions on enrolment and renewal, without MQTT: check the CSR (signature, P-256,
 * CN = the device id asked for or authenticated), ask the registry (allow-list, one-time token,
 * key already enrolled, revoked), then sign with the carrier CA. The MQTT service is a thin shell.
 */
import { KioskError, isKioskError } from '../../base/errors.js';
import type { CarrierCa } from '../ca.js';
import { commonName, x509 } from '../../base/keys/x509.js';
import type { EnrolReply, EnrolRefusal, EnrolRequest, RenewRequest } from '../../protocol/enrol.js';
import type { EnrolmentRegistry } from './registry.js';

export interface EnrolmentAuthorityDeps {
  ca: CarrierCa;
  registry: EnrolmentRegistry;
  /** Validity of issued device certificates, days (default 365; fractions allowed). */
  validityDays?: number;
  clock?: () => Date;
}

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

  /** Renewal by a device the broker authenticated as `deviceId` (the topic it could publish on). */
  async renew(deviceId: string, req: RenewRequest): Promise<Decision> {
    const csr = await this.checkCsr(req.csr, deviceId);
    if ('reply' in csr) return csr;
    const check = await this.deps.registry.renew(deviceId, new Uint8Array(csr.publicKey.rawData));
    if (check !== 'ok') return refuse(check, DETAIL[check]);
    return this.issue(deviceId, csr);
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

const DETAIL: Record<Exclude<EnrolRefusal, 'malformed' | 'bad_csr' | 'device_mismatch' | 'internal'>, string> = {
  not_allowed: 'this device id is not on the enrolment allow-list and has no token',
  bad_token: 'the enrolment token is missing, wrong or already used',
  already_enrolled: 'this device id is already enrolled with another key; renew with the device certificate instead',
  revoked: 'this device is revoked',
};
