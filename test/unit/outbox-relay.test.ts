/**
 * OutboxRelay (agent/outbox/relay.ts) at shutdown, with a stand-in transport whose publish never
 * settles (a broker connection that died without the socket closing): `stop()` gives up after its
 * bound on a fake clock, says so in the log, and the result stays in outbox.db, where a relay of the
 * next start finds and sends it.
 */
import t from 'tap';
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createLogger } from '../../base/log.js';
import { OutboxRelay, type RelayTransport } from '../../agent/outbox/relay.js';
import { SqliteOutbox } from '../../agent/outbox/sqlite-outbox.js';
import { FakeClock, flush } from '../helpers/fake-clock.js';

/** Online; `hang` publishes never settle (no PUBACK, no close), the others are acknowledged at once. */
class StandInTransport implements RelayTransport {
  readonly online = true;
  readonly events = new EventEmitter<{ online: [] }>();
  readonly published: string[] = [];
  constructor(private readonly hang: boolean) {}
  async publish(_topic: string, payload: Buffer): Promise<void> {
    this.published.push(payload.toString());
    if (this.hang) await new Promise<never>(() => {});
  }
}

const TOPIC = 'kiosk/v1/k-1/result';

t.test('stop() does not wait past its bound for a PUBACK that never comes; the result stays stored and goes after the next start', async (t) => {
  const path = join(t.testdir({}), 'state', 'outbox.db');
  const lines: string[] = [];
  const logger = createLogger({
    level: 'warn',
    destination: new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    }),
  });
  const outbox = new SqliteOutbox({ path });
  await outbox.start();
  const clock = new FakeClock();
  const dead = new StandInTransport(true);
  const relay = new OutboxRelay({ outbox, transport: dead, logger, timers: clock, stopWaitMs: 3000 });
  await relay.start();
  await outbox.put({ jti: 'j-1', topic: TOPIC, payload: Buffer.from('result-1') });
  await flush();
  t.same(dead.published, ['result-1'], 'published, waiting for its PUBACK');

  let stopped = false;
  const stopping = relay.stop().then(() => {
    stopped = true;
  });
  await clock.advanceAsync(2999, 2999);
  t.notOk(stopped, 'stop() waits for the publish in flight…');
  await clock.advanceAsync(1, 1);
  await stopping;
  t.ok(stopped, '…for 3 s, not longer');
  t.equal(clock.pending, 0, 'no timer left behind');
  t.match(lines.join(''), /"jtis":\["j-1"\].*publish abandoned, the result stays in the outbox/, 'the abandoned publish is logged with its jti');
  t.match(await outbox.stats(), { pending: 1, parked: 0, expired: 0 }, 'still pending in the outbox');
  await outbox.stop();

  // The next start: the same file, a live connection.
  const again = new SqliteOutbox({ path });
  await again.start();
  t.teardown(() => again.stop());
  const live = new StandInTransport(false);
  const next = new OutboxRelay({ outbox: again, transport: live, logger, timers: new FakeClock() });
  const delivered: string[] = [];
  next.events.on('delivered', (e) => delivered.push(e.jti));
  await next.start();
  await next.idle();
  t.same(live.published, ['result-1'], 'sent by the next relay');
  t.same(delivered, ['j-1']);
  t.match(await again.stats(), { pending: 0 }, 'removed after its PUBACK');
  await next.stop();
});

t.test('stop() with nothing in flight returns at once and sets no timer', async (t) => {
  const outbox = new SqliteOutbox({ path: join(t.testdir({}), 'outbox.db') });
  await outbox.start();
  t.teardown(() => outbox.stop());
  const clock = new FakeClock();
  const relay = new OutboxRelay({ outbox, transport: new StandInTransport(false), logger: createLogger({ level: 'silent' }), timers: clock });
  await relay.start();
  await outbox.put({ jti: 'j-2', topic: TOPIC, payload: Buffer.from('result-2') });
  await relay.idle();
  await relay.stop();
  t.equal(clock.pending, 0);
  t.match(await outbox.stats(), { pending: 0 });
});
