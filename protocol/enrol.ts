/**
 * The enrolment and renewal messages over MQTT 5 (request/response with a response topic and
 * correlation data), in the spirit of AWS IoT fleet provisioning by claim:
 *
 * - enrolment: a kiosk connected with the batch's claim certificate publishes
 *   `{"v":1,"device_id","csr","token"?}` on `<prefix>enrol/request` with response topic
 *   `<prefix>enrol/reply/<random>`; the claim role may reach nothing else.
 * - renewal: a kiosk connected with its current device certificate publishes `{"v":1,"csr","pop"}` on
 *   `<prefix><id>/renew` with response topic `<prefix><id>/renew/reply/<random>`; the broker's ACL
 *   makes the topic prove who asks, and `pop` proves possession of the current key: a compact JWS
 *   (ES256, typ {@link RENEW_POP_TYP}, `x5c` = the current device certificate) signed by that key
 *   over `{sub: <id>, csr_sha256: <csrDigest(csr)>, iat}`. The carrier revokes the previous
 *   certificates once it issued the new one, and renews a device at most once per interval.
 *
 * Replies: `{"ok":true,"certificate":PEM,"not_after":ISO}` or
 * `{"ok":false,"code":"E_...","reason":<EnrolRefusal>,"detail":...}`.
 */
import { createHash } from 'node:crypto';
import { DEFAULT_PREFIX } from './names.js';

/** Why the carrier refused an enrolment or renewal. */
export type EnrolRefusal =
  | 'malformed'
  | 'bad_csr'
  | 'device_mismatch'
  | 'not_allowed'
  | 'bad_token'
  | 'already_enrolled'
  | 'revoked'
  /** A renewal without a proof of possession of the current key. */
  | 'no_proof'
  /** A proof that does not verify, names another device or CSR, is stale, or is not by the device's current key. */
  | 'bad_proof'
  /** The device renewed less than the carrier's minimum interval ago. */
  | 'rate_limited'
  | 'internal';

/** An enrolment request (claim identity). */
export interface EnrolRequest {
  v: 1;
  device_id: string;
  csr: string;
  token?: string;
}
/** A renewal request (device identity; the device id is the topic's). */
export interface RenewRequest {
  v: 1;
  csr: string;
  /** Proof of possession of the current key (compact JWS, see the module comment); required by the carrier. */
  pop?: string;
}

/** `typ` of a renewal's proof of possession: no other token signed by a device key can pass as one. */
export const RENEW_POP_TYP = 'kiosk-renew-pop+jwt';

/** Claims of a renewal's proof of possession. */
export interface RenewPopClaims {
  /** The device id (the renewal topic's). */
  sub: string;
  /** {@link csrDigest} of the request's CSR. */
  csr_sha256: string;
  /** Seconds since the epoch; the carrier accepts a few minutes of age. */
  iat: number;
}

/** base64url SHA-256 of a CSR's DER (from its PEM; whitespace and line breaks do not matter). */
export function csrDigest(csrPem: string): string {
  const b64 = csrPem.replace(/-----(BEGIN|END) CERTIFICATE REQUEST-----/g, '').replace(/\s+/g, '');
  return createHash('sha256').update(Buffer.from(b64, 'base64')).digest('base64url');
}

/** A reply to either. */
export type EnrolReply = { ok: true; certificate: string; not_after: string } | { ok: false; code: string; reason: EnrolRefusal; detail: string };

/** Response-topic levels: random, unguessable, one per request. */
const REPLY_LEVEL = /^[A-Za-z0-9_-]{16,64}$/;
/** Largest request accepted (a P-256 CSR is under 1 KiB). */
export const MAX_REQUEST_BYTES = 8 * 1024;

/** Topics of the enrolment protocol under `prefix`. */
export function enrolTopics(prefix = DEFAULT_PREFIX) {
  return {
    request: `${prefix}enrol/request`,
    replyPrefix: `${prefix}enrol/reply/`,
    /** The device's renewal request topic. */
    renew: (deviceId: string) => `${prefix}${deviceId}/renew`,
    renewReplyPrefix: (deviceId: string) => `${prefix}${deviceId}/renew/reply/`,
    /** What the carrier's enrolment services subscribe to (shared group `enrol`). */
    serviceFilters: [`$share/enrol/${prefix}enrol/request`, `$share/enrol/${prefix}+/renew`],
  };
}

/** True when `topic` is `<replyPrefix><one random level>` (no wildcards, no deeper levels). */
export function isReplyTopic(topic: string | undefined, replyPrefix: string): topic is string {
  return typeof topic === 'string' && topic.startsWith(replyPrefix) && REPLY_LEVEL.test(topic.slice(replyPrefix.length));
}

/** The device id in a renewal topic `<prefix><id>/renew`, or undefined. */
export function renewTopicDevice(topic: string, prefix = DEFAULT_PREFIX): string | undefined {
  if (!topic.startsWith(prefix) || !topic.endsWith('/renew')) return undefined;
  const id = topic.slice(prefix.length, -'/renew'.length);
  return /^[a-z0-9][a-z0-9-]{2,62}$/.test(id) ? id : undefined;
}

/** Parses an enrolment request; a string names what is wrong. */
export function parseEnrolRequest(payload: Buffer): EnrolRequest | string {
  const body = parseJson(payload);
  if (typeof body === 'string') return body;
  if (body.v !== 1) return 'v must be 1';
  if (typeof body.device_id !== 'string' || !/^[a-z0-9][a-z0-9-]{2,62}$/.test(body.device_id))
    return 'device_id must be 3..63 lower-case letters, digits or dashes';
  if (typeof body.csr !== 'string' || !body.csr.includes('BEGIN CERTIFICATE REQUEST')) return 'csr must be a PEM certificate request';
  if (body.token !== undefined && (typeof body.token !== 'string' || !/^[A-Za-z0-9_-]{16,128}$/.test(body.token)))
    return 'token must be 16..128 base64url characters';
  const extra = Object.keys(body).filter((k) => !['v', 'device_id', 'csr', 'token'].includes(k));
  if (extra.length > 0) return `unexpected field ${extra[0]}`;
  return { v: 1, device_id: body.device_id, csr: body.csr, ...(typeof body.token === 'string' ? { token: body.token } : {}) };
}

/** Parses a renewal request; a string names what is wrong. */
export function parseRenewRequest(payload: Buffer): RenewRequest | string {
  const body = parseJson(payload);
  if (typeof body === 'string') return body;
  if (body.v !== 1) return 'v must be 1';
  if (typeof body.csr !== 'string' || !body.csr.includes('BEGIN CERTIFICATE REQUEST')) return 'csr must be a PEM certificate request';
  if (body.pop !== undefined && (typeof body.pop !== 'string' || !/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(body.pop)))
    return 'pop must be a compact JWS';
  const extra = Object.keys(body).filter((k) => !['v', 'csr', 'pop'].includes(k));
  if (extra.length > 0) return `unexpected field ${extra[0]}`;
  return { v: 1, csr: body.csr, ...(typeof body.pop === 'string' ? { pop: body.pop } : {}) };
}

function parseJson(payload: Buffer): Record<string, unknown> | string {
  if (payload.length > MAX_REQUEST_BYTES) return `request larger than ${MAX_REQUEST_BYTES} bytes`;
  try {
    const v = JSON.parse(payload.toString('utf8')) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : 'request is not a JSON object';
  } catch {
    return 'request is not JSON';
  }
}
