/**
 * The daemon's health decisions (agent/daemon/health-snapshot.ts) as pure functions: what makes the
 * frame loop and the transport unhealthy (and so stops WATCHDOG), and the systemd STATUS line.
 */
import t from 'tap';
import { frameLoopHealth, statusLine, transportHealth } from '../../agent/daemon/health-snapshot.js';

t.test('frame loop', async (t) => {
  const base = { capture: 'always' as const, sessionBusy: false, running: true, sinceFrameMs: 100, frameStallMs: 10_000 };
  t.same(frameLoopHealth(base), { ok: true, reason: 'capturing' });
  t.same(frameLoopHealth({ ...base, running: false }), { ok: false, reason: 'not capturing' });
  t.same(frameLoopHealth({ ...base, sinceFrameMs: 12_400 }), { ok: false, reason: 'no frame for 12 s' });
  t.same(
    frameLoopHealth({ ...base, capture: 'session', running: false }),
    { ok: true, reason: 'idle (camera runs during sessions)' },
    'a session-only camera is not expected to run when idle',
  );
  t.same(
    frameLoopHealth({ ...base, capture: 'session', sessionBusy: true, running: false }),
    { ok: false, reason: 'not capturing' },
    'but during a session it is',
  );
});

t.test('transport', async (t) => {
  const base = { configured: true, online: false, offlineMs: 0, graceMs: 300_000 };
  t.same(transportHealth({ ...base, configured: false }), { ok: true, reason: 'no broker configured' });
  t.same(transportHealth({ ...base, online: true }), { ok: true, reason: 'online' });
  t.same(transportHealth({ ...base, offlineMs: 300_000 }), { ok: true, reason: 'offline for 300 s' }, 'within the grace period');
  t.same(transportHealth({ ...base, offlineMs: 300_001 }), { ok: false, reason: 'offline for 300 s' }, 'past it');
});

t.test('status line', async (t) => {
  const ok = { ok: true, reason: 'online' };
  const base = { outOfService: null, frameLoop: { ok: true, reason: 'capturing' }, transport: ok, sessionBusy: false };
  t.equal(statusLine(base), 'idle; transport online');
  t.equal(statusLine({ ...base, sessionBusy: true, sessionId: 's-1' }), 'session running (s-1)');
  t.equal(statusLine({ ...base, sessionBusy: true }), 'session running (starting)');
  t.equal(statusLine({ ...base, transport: { ok: false, reason: 'offline for 400 s' } }), 'unhealthy: transport offline for 400 s');
  t.equal(
    statusLine({ ...base, frameLoop: { ok: false, reason: 'not capturing' }, transport: { ok: false, reason: 'x' } }),
    'unhealthy: camera not capturing',
    'the camera first',
  );
  t.equal(
    statusLine({ ...base, outOfService: 'tamper', frameLoop: { ok: false, reason: 'not capturing' } }),
    "out of service (tamper); waiting for the carrier's clear_alarm",
    'out of service first',
  );
});
