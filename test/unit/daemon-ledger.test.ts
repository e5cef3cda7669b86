import t from 'tap';
import { join } from 'node:path';
import { Ledger } from '../../agent/daemon/ledger.js';
import { prometheusText, type HealthSnapshot } from '../../agent/daemon/health.js';

t.test('a result dispenses at most once, only if accepted and authorised in time, across restarts', async (t) => {
  const path = join(t.testdir({}), 'results.db');
  let now = 1_000_000;
  const ledger = new Ledger({ path, now: () => now });
  await ledger.start();
  ledger.record('ok-1', 'accept');
  ledger.record('rej-1', 'reject');
  ledger.record('old-1', 'accept');
  t.equal(ledger.verdict('ok-1'), 'accept');
  t.equal(ledger.verdict('nope'), undefined);
  t.match(ledger.claim('nope', 60_000), { ok: false, reason: 'unknown_result' });
  t.match(ledger.claim('rej-1', 60_000), { ok: false, reason: 'not_accepted' });
  now += 61_000;
  t.match(ledger.claim('old-1', 60_000), { ok: false, reason: 'expired' }, 'authorisation after the time limit');
  ledger.record('ok-2', 'accept');
  t.match(ledger.claim('ok-2', 60_000), { ok: true });
  t.match(ledger.claim('ok-2', 60_000), { ok: false, reason: 'already_used' }, 'claimed once');
  ledger.finish('ok-2', 'failed', 'E_DISPENSE_TIMEOUT');
  t.match(ledger.claim('ok-2', 60_000), { ok: false, reason: 'already_used' }, 'a failed dispense is not retried on the same result');
  ledger.setState('out_of_service', 'tamper');
  await ledger.stop();

  const again = new Ledger({ path, now: () => now });
  await again.start();
  t.match(again.claim('ok-2', 60_000), { ok: false, reason: 'already_used' }, 'still claimed after a restart');
  t.equal(again.getState('out_of_service'), 'tamper', 'out of service survives a restart');
  again.setState('out_of_service', undefined);
  t.equal(again.getState('out_of_service'), undefined);
  await again.stop();
});

t.test('Prometheus text: HELP, TYPE, labelled samples; absent figures left out', async (t) => {
  const s: HealthSnapshot = {
    healthy: true,
    frameLoop: { ok: true, reason: 'capturing' },
    transport: { ok: true, reason: 'online', configured: true, online: true },
    inService: true,
    outOfServiceReason: null,
    session: { running: false, id: null },
    camera: { running: true, fps: 29.5, captured: 100, dropped: 3, restarts: 1, latencyMs: 4.2, identity: 'v4l2:cam' },
    inference: { analyzeMedianMs: 7, analyzeP95Ms: 28, decisionsFailed: 1 },
    sessions: { accept: 2, reject: 1, retry: 0 },
    dispenses: { dispensed: 1, failed: 0 },
    outbox: { pending: 0, parked: 0, expired: 0, pendingBytes: 0 },
    eventsQueued: 0,
    eventsDropped: 2,
    cpuTemperatureC: null,
    memory: { rssBytes: 1, heapUsedBytes: 1 },
    disk: { freeBytes: 10 },
    uptimeS: 5,
    certificate: { serial: '01ab', notAfter: '2027-01-01T00:00:00.000Z' },
  };
  const text = prometheusText(s);
  t.match(text, /# TYPE kiosk_camera_fps gauge\nkiosk_camera_fps 29.5\n/);
  t.match(text, /kiosk_sessions_total\{verdict="accept"\} 2/);
  t.match(text, /kiosk_inference_analyze_ms\{quantile="0.95"\} 28/);
  t.match(text, /kiosk_decisions_failed_total 1/, 'failed decisions are counted');
  t.match(text, /# TYPE kiosk_events_dropped_total counter\nkiosk_events_dropped_total 2\n/);
  t.notMatch(text, /kiosk_cpu_temperature_celsius/, 'no thermal zone: no sample');
  t.match(text, /\nkiosk_certificate_expiry_timestamp_seconds 1798761600\n/, 'certificate notAfter as Unix seconds');
  for (const line of text.trim().split('\n')) if (!line.startsWith('#') && !/^[a-z_]+(\{[^}]*\})? -?[\d.e+]+$/.test(line)) t.fail(`bad line ${line}`);
});
