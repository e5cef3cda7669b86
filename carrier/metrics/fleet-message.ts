/**
 * What the exporter reads from the kiosks' status, telemetry and events topics, parsed into a few
 * typed messages. Only the fields the metrics need are copied out; everything else in a payload is
 * ignored (and never logged), so nothing a kiosk adds by mistake can reach a label or a log line.
 * The kiosk's side of these payloads: agent/daemon/events.ts, agent/daemon/health-snapshot.ts.
 */
import { DEVICE_ID_PATTERN } from '../../protocol/names.js';
import { UPDATE_STATES, type UpdateState } from '../../protocol/update.js';
import { VERDICTS, type Verdict } from '../../protocol/verdict.js';

export { REASON_CODES as REASONS, VERDICTS } from '../../protocol/verdict.js';
export type FleetVerdict = Verdict;

/** Daemon event names (agent/daemon/events.ts `DaemonEventName`); anything else is counted as `other`. */
export const EVENT_TYPES = [
  'arrived',
  'left',
  'session_started',
  'session_finished',
  'dispense_started',
  'dispensed',
  'dispense_failed',
  'tamper',
  'out_of_service',
  'in_service',
  'key_destroyed',
  'camera',
  'cassette',
  'jam',
  'assist_started',
  'assist_connected',
  'assist_audio',
  'assist_decided',
  'assist_ended',
  'certificate_renewed',
  'certificate_renewal_failed',
  'update',
] as const;

/** Why a message was not used: the `code` label of `kiosk_fleet_malformed_messages_total`. */
export type MalformedCode = 'bad_topic' | 'too_large' | 'not_json' | 'bad_shape' | 'kiosk_limit';

/** The largest payload read, bytes: telemetry and events are a few hundred bytes. */
export const MAX_PAYLOAD_BYTES = 16 * 1024;

/** The part of an event the metrics use; `at` is the kiosk's wall time (ms) when it was raised. */
export type FleetEvent =
  | { type: 'session_started'; sessionId: string }
  | { type: 'session_finished'; sessionId: string; verdict: FleetVerdict; reasons: string[] }
  | { type: 'dispensed' }
  | { type: 'dispense_failed' }
  | { type: 'tamper'; open: boolean }
  | { type: 'out_of_service' }
  | { type: 'in_service' }
  | { type: 'certificate_renewed'; notAfterMs: number }
  | { type: 'update'; kind: 'agent' | 'models'; state: UpdateState }
  | { type: 'other'; name: string };

/** One parsed message of one kiosk. */
export type FleetMessage = { kiosk: string } & (
  | { kind: 'status'; online: boolean }
  | { kind: 'telemetry'; outboxPending?: number; inService?: boolean; certificateNotAfterMs?: number }
  | { kind: 'event'; eventId?: string; atMs?: number; event: FleetEvent }
);

/** A message that was not used, with the kiosk when the topic named one. */
export interface Malformed {
  malformed: MalformedCode;
  kiosk?: string;
  topicKind: 'status' | 'telemetry' | 'events' | 'unknown';
}

type Json = Record<string, unknown>;
const str = (v: unknown, max = 128): string | undefined => (typeof v === 'string' && v.length > 0 && v.length <= max ? v : undefined);
const time = (v: unknown): number | undefined => {
  const t = typeof v === 'string' && v.length <= 40 ? Date.parse(v) : Number.NaN;
  return Number.isFinite(t) ? t : undefined;
};
const count = (v: unknown): number | undefined => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : undefined);
const bool = (v: unknown): boolean | undefined => (typeof v === 'boolean' ? v : undefined);

/** Parses one message from `<prefix><kiosk>/{status,telemetry,events}`. */
export function parseFleetMessage(topic: string, payload: Buffer, prefix: string): FleetMessage | Malformed {
  const rest = topic.startsWith(prefix) ? topic.slice(prefix.length).split('/') : [];
  const topicKind = rest.length === 2 && ['status', 'telemetry', 'events'].includes(rest[1]) ? (rest[1] as Malformed['topicKind']) : 'unknown';
  if (topicKind === 'unknown' || !DEVICE_ID_PATTERN.test(rest[0])) return { malformed: 'bad_topic', topicKind };
  const kiosk = rest[0];
  const bad = (malformed: MalformedCode): Malformed => ({ malformed, kiosk, topicKind });
  if (payload.length > MAX_PAYLOAD_BYTES) return bad('too_large');
  let body: unknown;
  try {
    body = JSON.parse(payload.toString('utf8'));
  } catch {
    return bad('not_json');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return bad('bad_shape');
  const b = body as Json;
  if (topicKind === 'status') {
    if (b.state !== 'online' && b.state !== 'offline') return bad('bad_shape');
    return { kiosk, kind: 'status', online: b.state === 'online' };
  }
  if (topicKind === 'telemetry') {
    const m: FleetMessage = { kiosk, kind: 'telemetry' };
    const pending = count(b.outboxDepth);
    const inService = bool(b.inService);
    const notAfter = time(b.certificateNotAfter);
    if (pending !== undefined) m.outboxPending = pending;
    if (inService !== undefined) m.inService = inService;
    if (notAfter !== undefined) m.certificateNotAfterMs = notAfter;
    return m;
  }
  const event = parseEvent(b);
  if (!event) return bad('bad_shape');
  return { kiosk, kind: 'event', eventId: str(b.eventId), atMs: time(b.at), event };
}

/** The event's typed part, or undefined when a known event lacks a field the metrics need. */
function parseEvent(b: Json): FleetEvent | undefined {
  const type = str(b.type, 64);
  if (!type) return undefined;
  switch (type) {
    case 'session_started': {
      const sessionId = str(b.sessionId);
      return sessionId ? { type, sessionId } : undefined;
    }
    case 'session_finished': {
      const sessionId = str(b.sessionId);
      const verdict = VERDICTS.find((v) => v === b.verdict);
      if (!sessionId || !verdict || !Array.isArray(b.reasons) || b.reasons.length > 32) return undefined;
      return { type, sessionId, verdict, reasons: b.reasons.filter((r): r is string => typeof r === 'string') };
    }
    case 'dispensed':
    case 'dispense_failed':
    case 'out_of_service':
    case 'in_service':
      return { type };
    case 'tamper': {
      const open = bool(b.open);
      return open === undefined ? undefined : { type, open };
    }
    case 'certificate_renewed': {
      const notAfterMs = time(b.notAfter);
      return notAfterMs === undefined ? undefined : { type, notAfterMs };
    }
    case 'update': {
      const state = UPDATE_STATES.find((s) => s === b.state);
      const kind = b.kind === 'agent' || b.kind === 'models' ? b.kind : undefined;
      return state && kind ? { type, kind, state } : undefined;
    }
    default:
      return { type: 'other', name: type };
  }
}
