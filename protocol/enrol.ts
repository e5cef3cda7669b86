/**
 * The enrolment and renewal messages over MQTT 5 (request/response with a response topic and
 * correlation data), in the spirit of AWS IoT fleet provisioning by claim:
 *
 * - enrolment: a kiosk connected with the batch's claim certificate publishes
 *   `{"v":1,"device_id","csr","token"?}` on `<prefix>enrol/request` with response topic
 *   `<prefix>enrol/reply/<random>`; the claim role may reach nothing else.
 * - renewal: a kiosk connected with its current device certificate publishes `{"v":1,"csr"}` on
 *   `<prefix><id>/renew` with response topic `<prefix><id>/renew/reply/<random>`; the broker's ACL
 *   makes the topic prove who asks.
 *
 * Replies: `{"ok":true,"certificate":PEM,"not_after":ISO}` or
 * `{"ok":false,"code":"E_...","reason":<EnrolRefusal>,"detail":...}`.
 */
import { DEFAULT_PREFIX } from './names.js';

/** Why the carrier refused an enrolment or renewal. */
export type EnrolRefusal = 'malformed' | 'bad_csr' | 'device_mismatch' | 'not_allowed' | 'bad_token' | 'already_enrolled' | 'revoked' | 'internal';

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
  const extra = Object.keys(body).filter((k) => !['v', 'csr'].includes(k));
  if (extra.length > 0) return `unexpected field ${extra[0]}`;
  return { v: 1, csr: body.csr };
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
