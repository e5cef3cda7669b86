/**
 * Remote assistance wired into the daemon, with a fake AssistService (the real call over WebRTC is
 * tested in test/integration/assist-webrtc.test.ts): `assist_start` is a command only when assistance
 * is enabled; an operator's `decided` result is recorded so that `authorize_dispense` accepts it;
 * a quality failure and the Help button ask for an operator; no session starts during a call.
 */
import { waitFor } from '../helpers/wait.js';
import t, { type Test } from 'tap';
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { pino } from 'pino';
import type { AssistEvents, AssistRequest } from '../../agent/assist/service.js';
import { validateConfig } from '../../agent/config/load.js';
import { buildDaemonDeps } from '../../agent/daemon/build.js';
import type { AssistLike } from '../../agent/daemon/daemon.js';
import { composeDaemon, type DaemonDeps } from '../../agent/daemon/compose.js';
import { Ledger } from '../../agent/daemon/ledger.js';
import { autoConfirm } from '../../agent/daemon/sim.js';
import type { SessionResult } from '../../agent/session/types.js';
import type { AssistStart, CommandOutcome } from '../../agent/transport/commands.js';
import { FakeGpioPort } from '../../device/gpio/fake-gpio.js';

class FakeAssist implements AssistLike {
  readonly events = new EventEmitter<AssistEvents>();
  busy = false;
  requests: AssistRequest[] = [];
  commands: AssistStart[] = [];
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  async reconnect(): Promise<void> {}
  async request(req: AssistRequest): Promise<{ assistId: string }> {
    this.requests.push(req);
    this.busy = true;
    return { assistId: `a-${this.requests.length}` };
  }
  async assistStart(cmd: AssistStart): Promise<CommandOutcome> {
    this.commands.push(cmd);
    this.busy = true;
    return { ok: true, body: { assist_id: 'a-cmd' } };
  }
}

const logger = pino({ level: 'silent' });

async function daemonWith(t: Test) {
  const config = validateConfig({ simulate: true, gpio: { driver: 'fake' }, screen: { enabled: false }, sim: { terminal: false } });
  const gpio = new FakeGpioPort({ pins: config.gpio.pins });
  const ledger = new Ledger({ path: join(t.testdir({}), 'results.db') });
  await ledger.start();
  t.teardown(() => ledger.stop());
  const unused = {} as never;
  const deps: DaemonDeps = {
    config,
    logger,
    gpio,
    ledger,
    engine: unused,
    camera: unused,
    keyStore: unused,
    certificate: unused,
    outbox: unused,
    notifier: unused,
  };
  return { daemon: composeDaemon(deps), gpio, ledger };
}

const nonce = 'ab'.repeat(16);

t.test('assist_start is a command only when remote assistance is enabled', async (t) => {
  const { daemon } = await daemonWith(t);
  t.equal(daemon.commandHandlers().assist_start, undefined, 'without assistance: unknown command');
  const assist = new FakeAssist();
  daemon.useAssist(assist);
  const handlers = daemon.commandHandlers();
  t.type(handlers.assist_start, 'function', 'with assistance: handled');
  const started: unknown[] = [];
  daemon.events.on('assist_started', (e) => started.push(e));
  t.same(await handlers.assist_start!({ nonce, failed_checks: ['liveness'] } as AssistStart), { ok: true, body: { assist_id: 'a-cmd' } });
  t.same(assist.commands, [{ nonce, failed_checks: ['liveness'] }], 'passed to the service');
  t.same(started, [{ assistId: 'a-cmd', reason: 'command', failedChecks: ['liveness'] }], 'assist_started event');
  t.match(await handlers.assist_start!({ nonce } as AssistStart), { ok: false, reason: 'busy' }, 'one call at a time');
  t.match(
    await daemon.sessions.request({ trigger: 'command', nonce }),
    { ok: false, reason: 'busy', detail: /remote-assistance call/ },
    'no session reads the camera during a call',
  );
});

t.test('build: no assist factory unless assist.enabled (agent/assist is not imported)', async (t) => {
  const dir = t.testdir({});
  const deps = await buildDaemonDeps(
    validateConfig({ simulate: true, stateDir: join(dir, 'state'), gpio: { driver: 'fake' }, camera: { kind: 'replay', path: 'x.mp4' } }),
    logger,
  );
  t.equal(deps.assist, undefined);
});

t.test('a decided event makes authorize_dispense accept that jti (approve only)', async (t) => {
  const { daemon, gpio } = await daemonWith(t);
  const assist = new FakeAssist();
  daemon.useAssist(assist);
  await daemon.kiosk.start();
  t.teardown(() => daemon.kiosk.stop());
  t.teardown(autoConfirm(gpio, 20, logger));
  const decided: unknown[] = [];
  daemon.events.on('assist_decided', (e) => decided.push(e));
  const handlers = daemon.commandHandlers();
  t.match(await handlers.authorize_dispense({ jti: 'op-approved', session_id: 'a-1' }), { ok: false, reason: 'not_current' }, 'not before the decision');
  gpio.drive('presence', true);
  await waitFor('the customer present', () => daemon.kiosk.present, 5000);
  assist.events.emit('decided', { assistId: 'a-1', jti: 'op-approved', decision: 'approve', operatorId: 'carrier-op-alice' });
  t.match(
    await handlers.authorize_dispense({ jti: 'op-approved', session_id: 'a-1' }),
    { ok: true, body: { state: 'dispensed' } },
    'an operator-approved result dispenses',
  );
  t.match(await handlers.authorize_dispense({ jti: 'op-approved', session_id: 'a-1' }), { ok: false, reason: 'not_current' }, 'once');
  assist.events.emit('decided', { assistId: 'a-2', jti: 'op-rejected', decision: 'reject', operatorId: 'carrier-op-alice' });
  t.equal(decided.length, 2, 'assist_decided events');
  t.match(
    await handlers.authorize_dispense({ jti: 'op-rejected', session_id: 'a-2' }),
    { ok: false, reason: 'not_current' },
    'an operator-rejected result does not',
  );
});

t.test('a quality failure and the Help button call an operator', async (t) => {
  const { daemon } = await daemonWith(t);
  const assist = new FakeAssist();
  daemon.useAssist(assist);
  // What the session controller and the screen call back.
  const internals = {
    onSessionFinished: (r: SessionResult, s: { sessionId: string; nonce: string }) => daemon.wiring.sessionFinished(r, null, s),
    onScreenAction: (m: { type: 'help' | 'cancel' }) => daemon.wiring.screenAction(m),
  };
  const result = (verdict: SessionResult['verdict'], reasons: string[]) => ({ verdict, reasons }) as unknown as SessionResult;
  t.equal(internals.onSessionFinished(result('retry', ['no_face']), { sessionId: 's-0', nonce }), undefined, 'other retries: no call');
  t.equal(internals.onSessionFinished(result('retry', ['quality']), { sessionId: 's-1', nonce }), 'see_staff', 'the screen says staff will help');
  await new Promise((r) => setTimeout(r, 20));
  t.same(assist.requests, [{ nonce, sessionId: 's-1', failedChecks: ['quality'], reason: 'quality' }], "requested with the session's nonce and failed checks");
  assist.busy = false;
  internals.onScreenAction({ type: 'help' });
  await new Promise((r) => setTimeout(r, 20));
  t.equal(assist.requests.length, 2, 'Help while idle calls an operator');
  t.match(assist.requests[1], { reason: 'customer_button', nonce: /^[0-9a-f]{32}$/ });
  internals.onScreenAction({ type: 'help' });
  await new Promise((r) => setTimeout(r, 20));
  t.equal(assist.requests.length, 2, 'not while a call is open');
});
