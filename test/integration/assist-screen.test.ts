/**
 * What the customer screen says about a remote-assistance call: the daemon's wiring turns the
 * service's `started`, `connected` and `ended` into `assist` screen events (joining, connected,
 * gone), and the screen server keeps the call's state for pages that connect later, across a reset,
 * until the call ends. A real CustomerScreen on a loopback socket; a fake AssistService.
 */
import t from 'tap';
import { EventEmitter } from 'node:events';
import { pino } from 'pino';
import { WebSocket } from 'ws';
import type { AssistEvents } from '../../agent/assist/service.js';
import { AssistWiring, type AssistLike } from '../../agent/daemon/assist-wiring.js';
import type { DaemonEvents } from '../../agent/daemon/events.js';
import { CustomerScreen, type ScreenEvent } from '../../agent/screen/server.js';

const logger = pino({ level: 'silent' });

function wiringWith(screen: { show(e: ScreenEvent): void } | undefined, bus = new EventEmitter<DaemonEvents>()) {
  return new AssistWiring({
    config: { camera: { capture: 'always' } } as never,
    camera: { start: async () => {}, stop: async () => {}, stats: () => ({ running: true }) } as never,
    sessions: { busy: false, abort: () => {}, idle: async () => {} },
    ledger: { record: () => {} },
    bus,
    inService: () => true,
    logger,
    screen,
  });
}

function fakeAssist(): AssistLike {
  return {
    events: new EventEmitter<AssistEvents>(),
    busy: false,
    start: async () => {},
    stop: async () => {},
    reconnect: async () => {},
    request: async () => ({ assistId: 'a-1' }),
    assistStart: async () => ({ ok: true }),
  };
}

t.test('the wiring tells the screen: joining, connected, ended; nothing after stop or without a screen', async (t) => {
  const shown: ScreenEvent[] = [];
  const wiring = wiringWith({ show: (e) => shown.push(e) });
  const assist = fakeAssist();
  wiring.use(assist);
  assist.events.emit('started', { assistId: 'a-1', failedChecks: [] });
  assist.events.emit('connected', { assistId: 'a-1' });
  assist.events.emit('ended', { assistId: 'a-1', outcome: 'ended', reason: 'hangup', framesSent: 3 });
  t.same(shown, [
    { type: 'assist', state: 'joining' },
    { type: 'assist', state: 'connected' },
    { type: 'assist', state: 'ended' },
  ]);
  await wiring.stop();
  assist.events.emit('started', { assistId: 'a-2', failedChecks: [] });
  t.equal(shown.length, 3, 'listeners removed by stop()');
  t.equal(assist.events.listenerCount('connected'), 0);
  const bare = wiringWith(undefined);
  const other = fakeAssist();
  bare.use(other);
  other.events.emit('started', { assistId: 'a-3', failedChecks: [] });
  t.pass('no screen: nothing to tell, nothing thrown');
});

t.test('the screen server keeps the call state for late pages and across a reset, until the call ends', async (t) => {
  const screen = new CustomerScreen({ logger, port: 0 });
  await screen.start();
  t.teardown(() => screen.stop());
  const launch = new URL(screen.launchUrl);
  const connect = async () => {
    // As the kiosk browser does: with the socket's secret from the launch URL's fragment.
    const ws = new WebSocket(`ws://${launch.host}/ws?k=${launch.hash.replace(/^#k=/, '')}`, { origin: launch.origin });
    const got: Array<Record<string, unknown>> = [];
    ws.on('message', (d) => got.push(JSON.parse(String(d)) as Record<string, unknown>));
    await new Promise<void>((ok, fail) => {
      ws.once('open', () => ok());
      ws.once('error', fail);
    });
    t.teardown(() => ws.terminate());
    await new Promise((r) => setTimeout(r, 100));
    return got;
  };
  screen.show({ type: 'assist', state: 'joining' });
  t.same((await connect()).slice(1), [{ type: 'assist', state: 'joining' }], 'a page that connects while an operator joins is told');
  screen.show({ type: 'assist', state: 'connected' });
  screen.show({ type: 'reset' });
  t.same((await connect()).slice(1), [{ type: 'assist', state: 'connected' }], 'the call outlives a reset of the session view');
  screen.show({ type: 'assist', state: 'ended' });
  t.same((await connect()).slice(1), [], 'after the call: nothing');
});

t.test('connected and audio status become daemon events (published to the carrier), without samples', async (t) => {
  const bus = new EventEmitter<DaemonEvents>();
  const got: Array<[string, unknown]> = [];
  bus.on('assist_connected', (e) => got.push(['assist_connected', e]));
  bus.on('assist_audio', (e) => got.push(['assist_audio', e]));
  const wiring = wiringWith(undefined, bus);
  const assist = fakeAssist();
  wiring.use(assist);
  assist.events.emit('connected', { assistId: 'a-1' });
  assist.events.emit('audio', {
    assistId: 'a-1',
    direction: 'capture',
    state: 'unavailable',
    code: 'E_DEVICE',
    reason: 'no_device',
    message: 'ALSA device "default" not found',
    pid: 42,
  });
  assist.events.emit('audio', { assistId: 'a-1', direction: 'playback', state: 'stopped', frames: 120 });
  t.same(
    got,
    [
      ['assist_connected', { assistId: 'a-1' }],
      ['assist_audio', { assistId: 'a-1', direction: 'capture', state: 'unavailable', code: 'E_DEVICE', reason: 'no_device' }],
      ['assist_audio', { assistId: 'a-1', direction: 'playback', state: 'stopped', frames: 120 }],
    ],
    'state, code and counts only (no message text, no pid)',
  );
  await wiring.stop();
  assist.events.emit('connected', { assistId: 'a-1' });
  t.equal(got.length, 3, 'nothing after stop()');
});
