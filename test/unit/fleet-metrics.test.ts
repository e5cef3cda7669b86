/**
 * The fleet exporter's parsing and metrics (carrier/metrics/fleet-message.ts, fleet-metrics.ts):
 * what the kiosks' status, telemetry and events become, on its own Registry, with a fake clock and
 * an in-memory log sink. The exporter over a real broker and Prometheus: fleet-metrics-prometheus.
 */
import t from 'tap';
import { Writable } from 'node:stream';
import type { DaemonEventName } from '../../agent/daemon/events.js';
import type { ReasonCode, Verdict } from '../../agent/session/types.js';
import { createLogger } from '../../base/log.js';
import { listenArg } from '../../carrier/cli/metrics.js';
import { type EVENT_TYPES, MAX_PAYLOAD_BYTES, type REASONS, type VERDICTS, parseFleetMessage } from '../../carrier/metrics/fleet-message.js';
import { FleetMetrics, METRIC } from '../../carrier/metrics/fleet-metrics.js';
import { FakeClock } from '../helpers/fake-clock.js';

// The carrier may not import the agent, so it keeps its own lists: the compiler checks they are the agent's.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const sameReasons: Same<(typeof REASONS)[number], ReasonCode> = true;
const sameEvents: Same<(typeof EVENT_TYPES)[number], DaemonEventName> = true;
const sameVerdicts: Same<(typeof VERDICTS)[number], Verdict> = true;
void [sameReasons, sameEvents, sameVerdicts];

const P = 'kiosk/v1/';
const T0 = Date.parse('2026-12-01T10:00:00Z');

function setup(o: { maxKiosks?: number } = {}) {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      raw.push(String(chunk));
      lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
      done();
    },
  });
  const clock = new FakeClock(T0);
  const metrics = new FleetMetrics({ logger: createLogger({ destination, level: 'debug' }), clock, ...o });
  /** Feeds one message as the exporter does. */
  const feed = (topic: string, payload: unknown): void => {
    const buf = Buffer.isBuffer(payload) ? payload : Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload));
    const m = parseFleetMessage(topic, buf, P);
    if ('malformed' in m) metrics.malformed(m, topic);
    else metrics.apply(m);
  };
  /** One sample's value, by metric name and exact labels (undefined when the series does not exist). */
  const value = async (name: string, labels: Record<string, string> = {}): Promise<number | undefined> => {
    const json = await metrics.registry.getMetricsAsJSON();
    const values = (
      json.find((m) => m.name === name.replace(/_(bucket|count|sum)$/, '')) as
        | { values: { labels: Record<string, unknown>; value: number; metricName?: string }[] }
        | undefined
    )?.values;
    const want = JSON.stringify(Object.entries(labels).sort());
    return values?.find(
      (v) =>
        (v.metricName ?? name) === name &&
        JSON.stringify(
          Object.entries(v.labels)
            .map(([k, x]) => [k, String(x)])
            .sort(),
        ) === want,
    )?.value;
  };
  const event = (kiosk: string, type: string, body: Record<string, unknown> = {}, atMs = T0, eventId: string = `${kiosk}-${type}-${atMs}`) =>
    feed(`${P}${kiosk}/events`, { type, eventId, at: new Date(atMs).toISOString(), ...body });
  return { metrics, feed, value, event, lines, raw, clock };
}

t.test('status: one online gauge per kiosk, from the retained status and the Last Will', async (t) => {
  const s = setup();
  s.feed(`${P}kiosk-001/status`, { state: 'online' });
  s.feed(`${P}kiosk-002/status`, { state: 'online' });
  s.feed(`${P}kiosk-002/status`, { state: 'offline' });
  t.equal(await s.value(METRIC.online, { kiosk: 'kiosk-001' }), 1);
  t.equal(await s.value(METRIC.online, { kiosk: 'kiosk-002' }), 0);
  t.equal(await s.value(METRIC.tamperAlarms, { kiosk: 'kiosk-002' }), 0, 'alarm counter starts at 0 on first sight, so increase() sees the first alarm');
});

t.test('telemetry: outbox backlog, service state, certificate seconds left at scrape time', async (t) => {
  const s = setup();
  const notAfter = new Date(T0 + 40 * 86_400_000).toISOString();
  s.feed(`${P}kiosk-001/telemetry`, { outboxDepth: 7, inService: true, certificateNotAfter: notAfter, fps: 14.9, healthy: true });
  t.equal(await s.value(METRIC.outboxPending, { kiosk: 'kiosk-001' }), 7);
  t.equal(await s.value(METRIC.inService, { kiosk: 'kiosk-001' }), 1);
  t.equal(await s.value(METRIC.certificateExpiry, { kiosk: 'kiosk-001' }), 40 * 86_400);
  s.clock.advance(86_400_000);
  t.equal(await s.value(METRIC.certificateExpiry, { kiosk: 'kiosk-001' }), 39 * 86_400, 'computed when scraped, not when reported');
  s.event('kiosk-001', 'certificate_renewed', { serial: 'ab', notAfter: new Date(T0 + 400 * 86_400_000).toISOString() });
  t.equal(await s.value(METRIC.certificateExpiry, { kiosk: 'kiosk-001' }), 399 * 86_400, 'a renewal moves it at once');
  s.feed(`${P}kiosk-001/telemetry`, { outboxDepth: -1, inService: 'yes', certificateNotAfter: 'soon' });
  t.equal(await s.value(METRIC.outboxPending, { kiosk: 'kiosk-001' }), 7, 'invalid figures are ignored, the last valid one stays');
});

t.test('sessions: verdicts, reasons, presentation-attack rejects, time to verdict', async (t) => {
  const s = setup();
  s.event('kiosk-001', 'session_started', { sessionId: 's1', trigger: 'presence', nonceSource: 'carrier', steps: 3 }, T0);
  s.event(
    'kiosk-001',
    'session_finished',
    { sessionId: 's1', jti: 'j1', verdict: 'reject', reasons: ['presentation_attack', 'no_match'], cancelReason: null },
    T0 + 12_000,
  );
  s.event('kiosk-002', 'session_started', { sessionId: 's1' }, T0 + 1000);
  s.event('kiosk-002', 'session_finished', { sessionId: 's1', verdict: 'accept', reasons: [] }, T0 + 4000);
  s.event('kiosk-002', 'session_finished', { sessionId: 's9', verdict: 'retry', reasons: ['brand_new_reason'] }, T0 + 5000);
  t.equal(await s.value(METRIC.sessions, { verdict: 'reject' }), 1);
  t.equal(await s.value(METRIC.sessions, { verdict: 'accept' }), 1);
  t.equal(await s.value(METRIC.sessions, { verdict: 'retry' }), 1);
  t.equal(await s.value(METRIC.sessionReasons, { verdict: 'reject', reason: 'presentation_attack' }), 1);
  t.equal(await s.value(METRIC.sessionReasons, { verdict: 'reject', reason: 'no_match' }), 1);
  t.equal(await s.value(METRIC.sessionReasons, { verdict: 'retry', reason: 'other' }), 1, 'an unknown reason is "other", never a new label value');
  t.equal(await s.value(METRIC.padRejects), 1);
  const h = `${METRIC.timeToVerdict}_bucket`;
  t.equal(await s.value(h, { verdict: 'reject', le: '10' }), 0);
  t.equal(await s.value(h, { verdict: 'reject', le: '15' }), 1, '12 s (same kiosk, same session id)');
  t.equal(await s.value(h, { verdict: 'accept', le: '5' }), 1, '3 s: sessions of two kiosks with the same id are kept apart');
  t.equal(await s.value(`${METRIC.timeToVerdict}_count`, { verdict: 'retry' }), undefined, 'no start seen: no observation');
});

t.test('dispenses, tamper, service state, updates, other events; repeats counted once', async (t) => {
  const s = setup();
  s.event('kiosk-001', 'dispensed', { jti: 'j', confirmMs: 800 });
  s.event('kiosk-001', 'dispensed', { jti: 'j', confirmMs: 800 }, T0, 'kiosk-001-dispensed-' + T0);
  s.event('kiosk-001', 'dispense_failed', { jti: 'k', code: 'E_DISPENSE_JAM', message: 'jam' });
  s.event('kiosk-003', 'tamper', { open: true });
  s.event('kiosk-003', 'out_of_service', { reason: 'tamper' });
  s.event('kiosk-001', 'update', { jobId: 'job-12345678', kind: 'agent', version: 3, state: 'rolled_back', reason: 'self_test' });
  s.event('kiosk-001', 'camera', { state: 'stalled' });
  s.event('kiosk-001', 'from_the_future', { x: 1 });
  t.equal(await s.value(METRIC.dispenses, { outcome: 'dispensed' }), 1, 'the same eventId twice counts once');
  t.equal(await s.value(METRIC.duplicates), 1);
  t.equal(await s.value(METRIC.dispenses, { outcome: 'failed' }), 1);
  t.equal(await s.value(METRIC.tamperOpen, { kiosk: 'kiosk-003' }), 1);
  t.equal(await s.value(METRIC.tamperAlarms, { kiosk: 'kiosk-003' }), 1);
  t.equal(await s.value(METRIC.inService, { kiosk: 'kiosk-003' }), 0);
  t.equal(await s.value(METRIC.updateReports, { kind: 'agent', state: 'rolled_back' }), 1);
  t.equal(await s.value(METRIC.updateReports, { kind: 'models', state: 'committed' }), 0, 'every kind x state exists from the start');
  t.equal(await s.value(METRIC.events, { type: 'camera' }), 1);
  t.equal(await s.value(METRIC.events, { type: 'other' }), 1, 'an unknown event type is "other"');
  s.event('kiosk-003', 'tamper', { open: false }, T0 + 1);
  s.event('kiosk-003', 'in_service', {}, T0 + 2);
  t.equal(await s.value(METRIC.tamperOpen, { kiosk: 'kiosk-003' }), 0);
  t.equal(await s.value(METRIC.tamperAlarms, { kiosk: 'kiosk-003' }), 1, 'closing is not an alarm');
  t.equal(await s.value(METRIC.inService, { kiosk: 'kiosk-003' }), 1);
});

t.test('malformed messages are counted by code and logged with a code, rate-limited, never crash, payload never logged', async (t) => {
  const s = setup();
  s.feed(`${P}kiosk-001/events`, '{"type":"tamper","open":tr');
  s.feed(`${P}kiosk-001/events`, '{"type":"tamper","open":"yes, SECRET-PAYLOAD"}');
  s.feed(`${P}kiosk-001/events`, '[1,2,3]');
  s.feed(`${P}kiosk-001/status`, { state: 'maybe' });
  s.feed(`${P}kiosk-001/events`, { type: 'session_finished', sessionId: 's', verdict: 'great', reasons: [] });
  s.feed(`${P}kiosk-001/events`, { type: 'update', kind: 'agent', state: 'exploded' });
  s.feed(`${P}Kiosk_001/status`, { state: 'online' });
  s.feed(`${P}kiosk-001/result`, 'x');
  s.feed(`${P}kiosk-001/events`, Buffer.alloc(MAX_PAYLOAD_BYTES + 1, 0x20));
  s.feed(`${P}kiosk-001/telemetry`, 'null');
  s.feed(`${P}kiosk-001/events`, '\u0000\u00ff');
  t.equal(await s.value(METRIC.malformed, { topic_kind: 'events', code: 'not_json' }), 2);
  t.equal(await s.value(METRIC.malformed, { topic_kind: 'events', code: 'bad_shape' }), 4);
  t.equal(await s.value(METRIC.malformed, { topic_kind: 'status', code: 'bad_shape' }), 1);
  t.equal(await s.value(METRIC.malformed, { topic_kind: 'status', code: 'bad_topic' }), 1, 'a kiosk id that is not one');
  t.equal(await s.value(METRIC.malformed, { topic_kind: 'unknown', code: 'bad_topic' }), 1);
  t.equal(await s.value(METRIC.malformed, { topic_kind: 'events', code: 'too_large' }), 1);
  t.equal(await s.value(METRIC.malformed, { topic_kind: 'telemetry', code: 'bad_shape' }), 1);
  t.equal(await s.value(METRIC.events, { type: 'tamper' }), undefined, 'nothing of them was counted as an event');
  const warned = s.lines.filter((l) => l.level === 40);
  t.ok(warned.length >= 4 && warned.length < 11, `rate-limited per kiosk and code (${warned.length} lines for 11 messages)`);
  t.ok(
    warned.every(
      (l) =>
        (l.err as { code: string; details: { reason: string } }).code === 'E_INPUT_UNREADABLE' &&
        typeof (l.err as { details: { reason: string } }).details.reason === 'string',
    ),
    'each line has the error code and the reason code',
  );
  t.notMatch(s.raw.join(''), /SECRET-PAYLOAD/, 'the payload is never logged');
  s.clock.advance(61_000);
  s.feed(`${P}kiosk-001/events`, 'nope');
  t.equal(s.lines.filter((l) => l.level === 40).length, warned.length + 1, 'logged again after a minute');
});

t.test('no biometric data can reach a label, a value or the log: unknown fields are ignored', async (t) => {
  const s = setup();
  const biometric = {
    embedding: [0.11, 0.22, 0.33],
    image: 'BIOMETRIC-IMAGE-BYTES',
    portrait: 'BIOMETRIC-PORTRAIT',
    name: 'JOHN BIOMETRIC DOE',
    scores: { liveness: 0.97 },
  };
  s.feed(`${P}kiosk-001/status`, { state: 'online', ...biometric });
  s.feed(`${P}kiosk-001/telemetry`, { outboxDepth: 1, ...biometric });
  s.event('kiosk-001', 'session_started', { sessionId: 's1', ...biometric });
  s.event('kiosk-001', 'session_finished', { sessionId: 's1', verdict: 'accept', reasons: [], ...biometric }, T0 + 2000);
  s.event('kiosk-001', 'BIOMETRIC-TYPE', { ...biometric });
  s.feed(`${P}kiosk-001/events`, { type: 'tamper', open: 'BIOMETRIC-NOT-BOOL', ...biometric });
  const text = await s.metrics.registry.metrics();
  t.equal(await s.value(METRIC.sessions, { verdict: 'accept' }), 1, 'the known fields were used');
  t.notMatch(text, /BIOMETRIC|0\.11|0\.22|0\.97/, 'none of it is in /metrics');
  t.notMatch(s.raw.join(''), /BIOMETRIC|0\.11|0\.97/, 'none of it is in the log');
});

t.test('per-kiosk series are bounded by maxKiosks', async (t) => {
  const s = setup({ maxKiosks: 2 });
  for (const k of ['kiosk-001', 'kiosk-002', 'kiosk-003']) s.feed(`${P}${k}/status`, { state: 'online' });
  t.equal(await s.value(METRIC.online, { kiosk: 'kiosk-003' }), undefined);
  t.equal(await s.value(METRIC.malformed, { topic_kind: 'status', code: 'kiosk_limit' }), 1);
  t.throws(() => setup({ maxKiosks: 0 }), { code: 'E_CONFIG_INVALID' });
});

t.test('--listen host:port', async (t) => {
  t.same(listenArg('127.0.0.1:9466'), { host: '127.0.0.1', port: 9466 });
  t.same(listenArg('[::1]:0'), { host: '::1', port: 0 });
  for (const bad of ['9466', '127.0.0.1', 'host:99999', ':80', 'a:b']) t.throws(() => listenArg(bad), `${bad} refused`);
});
