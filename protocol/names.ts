/**
 * Names both sides must agree on: device ids, the topic prefix, the verifiers' shared-subscription
 * group, operator names, and the certificate profiles the carrier CA writes into a subject's OU.
 */
import type { x509 } from '../base/keys/x509.js';

/** Device ids: lower-case letters, digits and dashes, 3..63 characters (also an MQTT topic level). */
export const DEVICE_ID_PATTERN = /^[a-z0-9][a-z0-9-]{2,62}$/;

/** The default topic prefix; a device's topics are `<prefix><deviceId>/...`. */
export const DEFAULT_PREFIX = 'kiosk/v1/';

/** The shared-subscription group carrier verifiers join. */
export const VERIFIER_GROUP = 'verifiers';

/**
 * Operator names of remote assistance start with `carrier-op-`: `carrier-` is a prefix the CA issues
 * only to the carrier's own service certificates, so no device certificate can log in as an operator.
 */
export const OPERATOR_NAME_PATTERN = /^carrier-op-[a-z0-9-]{1,52}$/;

/** What a certificate is for: a kiosk, a short-lived enrolment claim, the broker, a carrier service. */
export type CertProfile = 'device' | 'claim' | 'server' | 'service';

/** The profile a certificate was issued under (its OU), or undefined for foreign certificates. */
export function certificateProfile(cert: x509.X509Certificate): CertProfile | undefined {
  const ou = cert.subjectName.getField('OU');
  return ou.length === 1 && ['device', 'claim', 'server', 'service'].includes(ou[0]) ? (ou[0] as CertProfile) : undefined;
}
