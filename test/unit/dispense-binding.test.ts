import t from 'tap';
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { pino } from 'pino';
import { DispenseBinding } from '../../agent/daemon/dispense-binding.js';
import type { DaemonEvents } from '../../agent/daemon/events.js';
import { Ledger } from '../../agent/daemon/ledger.js';

const logger = pino({ level: 'silent' });

/** A binding on a ledger file, as the daemon composes it; `present` is the presence sensor. */
async function open(path: string, present = { now: true }) {
  const ledger = new Ledger({ path });
  await ledger.start();
  const bus = new EventEmitter<DaemonEvents>();
  const binding = new DispenseBinding({ bus, ledger, present: () => present.now, logger });
  binding.listen();
  const accept = (sessionId: string, jti: string) => bus.emit('session_finished', { sessionId, jti, verdict: 'accept', reasons: [], cancelReason: null });
  return { ledger, bus, binding, accept, present };
}

t.test('each voiding event closes the window, and what is bound or void survives a restart', async (t) => {
  const dir = t.testdir({});
  const path = join(dir, 'results.db');
  const k = await open(path);
  t.match(k.binding.check('j1', 's1'), { ok: false }, 'nothing before a session');
  k.accept('s1', 'j1');
  t.same(k.binding.check('j1', 's1'), { ok: true }, 'the last accepted result of the customer present');
  t.match(k.binding.check('j1', 's0'), { ok: false, detail: /last finished session/ }, 'named with another session');
  k.present.now = false;
  t.match(k.binding.check('j1', 's1'), { ok: false, detail: /no longer in front/ }, 'the customer is not there now');
  k.present.now = true;
  await k.ledger.stop();

  const r = await open(path);
  t.same(r.binding.check('j1', 's1'), { ok: true }, 'still bound after a restart');
  const voiding: [string, () => void][] = [
    ['left', () => r.bus.emit('left', {})],
    ['a new session', () => r.bus.emit('session_started', { sessionId: 's2', trigger: 'presence', nonceSource: 'device', steps: 2 })],
    ['a call', () => r.bus.emit('assist_started', { assistId: 'a1', reason: 'command', failedChecks: [] })],
    ['tamper', () => r.bus.emit('tamper', { open: true })],
    ['out of service', () => r.bus.emit('out_of_service', { reason: 'tamper' })],
    ['a rejected session', () => r.bus.emit('session_finished', { sessionId: 's3', jti: 'j3', verdict: 'reject', reasons: [], cancelReason: null })],
  ];
  for (const [name, fire] of voiding) {
    r.accept('s1', 'j1');
    fire();
    t.match(r.binding.check('j1', 's1'), { ok: false }, `void after ${name}`);
  }
  r.bus.emit('tamper', { open: false });
  await r.ledger.stop();
  const again = await open(path);
  t.match(again.binding.check('j1', 's1'), { ok: false }, 'a void survives a restart');
  again.bus.emit('assist_decided', { assistId: 'a9', jti: 'op-1', decision: 'approve', operatorId: 'carrier-op-alice', sessionId: 's9' });
  t.same(again.binding.check('op-1', 'a9'), { ok: true }, "an operator's approval, by its assist id");
  t.same(again.binding.check('op-1', 's9'), { ok: true }, '... or by the session it followed');
  again.binding.unlisten();
  again.bus.emit('left', {});
  t.same(again.binding.check('op-1', 'a9'), { ok: true }, 'unlisten stops following events');
  await again.ledger.stop();
});
