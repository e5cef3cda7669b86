/**
 * EventPublisher (agent/daemon/events.ts) with a stand-in transport whose PUBACKs the test gives or
 * withholds, on the memory queue and on a real SQLite file (the "crash" case: a second publisher on
 * the same file, the first never stopped). Retries run on a fake clock.
 */
import t, { type Test } from 'tap';
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type Database from 'better-sqlite3';
import { MemoryEventQueue, type EventQueue } from '../../agent/daemon/event-queue.js';
import { EventPublisher, type DaemonEvents, type EventTransport } from '../../agent/daemon/events.js';
import { SqliteEventQueue } from '../../agent/daemon/sqlite-event-queue.js';
import { KioskError } from '../../base/errors.js';
import { createLogger } from '../../base/log.js';
import { FakeClock, flush } from '../helpers/fake-clock.js';

/** A publish the test settles: resolve = the broker's PUBACK, reject = a failure. */
interface Attempt {
  payload: string;
  options?: { qos?: 0 | 1; requireSubscriber?: boolean };
  resolve: () => void;
  reject: (e: Error) => void;
}

/** The broker connection as the publisher sees it; PUBACKs come automatically (`autoAck`) or from the test. */
class StandInTransport implements EventTransport {
  online = false;
  readonly topics = { events: 'kiosk/v1/k-1/events' };
  readonly events = new EventEmitter<{ online: [] }>();
  readonly attempts: Attempt[] = [];
  /** Payloads whose PUBACK came, in order. */
  readonly acked: string[] = [];
  constructor(public autoAck = true) {}
  async publish(topic: string, payload: string, options?: Attempt['options']): Promise<void> {
    if (topic !== this.topics.events) throw new Error(`unexpected topic ${topic}`);
    if (!this.online) throw new KioskError('E_TRANSPORT', 'not connected to the broker', { subject: topic, details: { permanent: false } });
    await new Promise<void>((resolve, reject) => {
      this.attempts.push({ payload, options, resolve, reject });
      if (this.autoAck) resolve();
    });
    this.acked.push(payload);
  }
  connect(): void {
    this.online = true;
    this.events.emit('online');
  }
  get last(): Attempt {
    return this.attempts[this.attempts.length - 1];
  }
}

const silent = createLogger({ level: 'silent' });
const types = (payloads: Array<string | { payload: string }>) =>
  payloads.map((p) => (JSON.parse(typeof p === 'string' ? p : p.payload) as { type: string }).type);

function setup(t: Test, queue: EventQueue, opts: { transport?: StandInTransport | null; logger?: typeof silent } = {}) {
  const bus = new EventEmitter<DaemonEvents>();
  const transport = opts.transport === null ? undefined : (opts.transport ?? new StandInTransport());
  const clock = new FakeClock(Date.UTC(2026, 0, 1));
  const pub = new EventPublisher({
    bus,
    transport,
    queue,
    logger: opts.logger ?? silent,
    clock,
    random: () => 0.5,
    backoff: { baseMs: 1000, capMs: 8000 },
  });
  t.teardown(() => pub.stop());
  return { bus, transport: transport!, clock, pub };
}

t.test('offline: events are stored in order; a publisher on the same file after a crash sends them first, once online', async (t) => {
  const path = join(t.testdir({}), 'state', 'events.db');
  const before = new SqliteEventQueue({ path });
  await before.start();
  t.teardown(() => before.stop());
  const a = setup(t, before);
  a.pub.start();
  a.bus.emit('tamper', { open: true });
  a.bus.emit('out_of_service', { reason: 'tamper' });
  a.bus.emit('camera', { state: 'unplugged' });
  await flush();
  t.equal(a.pub.queued, 3, 'three events wait');
  t.equal(a.transport.attempts.length, 0, 'nothing was sent offline');
  const stored = JSON.parse(before.peek(1)[0].payload) as Record<string, unknown>;
  t.match(stored.eventId, /^[0-9a-f-]{36}$/, 'each event has an id the carrier can drop repeats by (delivery is at least once)');
  t.same(
    { ...stored, eventId: undefined },
    { type: 'tamper', eventId: undefined, at: '2026-01-01T00:00:00.000Z', open: true },
    'stored as published: type, eventId, at, payload',
  );
  t.not(JSON.parse(before.peek(2)[1].payload).eventId, stored.eventId, 'ids differ');
  // The crash: the first publisher and its queue are never stopped; the process is "gone".

  const after = new SqliteEventQueue({ path });
  await after.start();
  t.teardown(() => after.stop());
  const b = setup(t, after);
  b.pub.start();
  t.equal(b.pub.queued, 3, 'the restarted publisher finds them');
  b.bus.emit('in_service', {});
  await flush();
  t.equal(b.transport.attempts.length, 0, 'still offline: nothing sent');
  b.transport.connect();
  await b.pub.idle();
  t.same(types(b.transport.acked), ['tamper', 'out_of_service', 'camera', 'in_service'], 'the old events first, in order, then the new one');
  t.equal(b.pub.queued, 0, 'each removed after its PUBACK');
  t.ok(
    b.transport.attempts.every((x) => x.options?.qos === 1 && x.options.requireSubscriber === true),
    'QoS 1, a PUBACK without subscriber is not a delivery',
  );
});

t.test('nothing is removed without its PUBACK; a transient failure keeps the event at the head', async (t) => {
  const queue = new MemoryEventQueue();
  const { bus, transport, clock, pub } = setup(t, queue, { transport: new StandInTransport(false) });
  pub.start();
  transport.connect();
  bus.emit('tamper', { open: true });
  bus.emit('dispensed', { jti: 'j-1', confirmMs: 400 });
  await flush();
  t.equal(transport.attempts.length, 1, 'one at a time: the second waits for the first PUBACK');
  t.equal(queue.size, 2, 'both still stored while the PUBACK is outstanding');

  // PUBACK 0x10: nobody subscribed, the broker dropped it. Kept; retried with backoff while online.
  transport.last.reject(new KioskError('E_TRANSPORT', 'no subscriber (PUBACK 0x10)', { details: { reasonCode: 0x10, permanent: false } }));
  await flush();
  t.same(types(queue.peek(5)), ['tamper', 'dispensed'], 'the refused event stays first');
  t.equal(clock.pending, 1, 'a retry is scheduled');
  bus.emit('cassette', { empty: true });
  await flush();
  t.equal(transport.attempts.length, 1, 'a new event does not jump the backoff');
  await clock.advanceAsync(499, 499);
  t.equal(transport.attempts.length, 1, 'not before the backoff delay (0.5 x 1000 ms)');
  await clock.advanceAsync(1, 1);
  t.equal(transport.attempts.length, 2, 'retried');
  t.equal(types([transport.last])[0], 'tamper', 'the same event again');

  // The connection drops mid-publish: kept; the next `online` sends it, no timer.
  transport.online = false;
  transport.last.reject(new KioskError('E_TRANSPORT', 'connection closed', { details: { permanent: false } }));
  await flush();
  t.equal(clock.pending, 0, 'offline: no retry timer, the next online does it');
  t.equal(queue.size, 3);
  transport.autoAck = true;
  transport.connect();
  await pub.idle();
  t.same(types(transport.acked), ['tamper', 'dispensed', 'cassette'], 'all three, in order, once each');
  t.equal(queue.size, 0);
});

t.test('a permanent refusal (0x87) drops that event, counted, and does not block the rest', async (t) => {
  const queue = new MemoryEventQueue();
  const { bus, transport, pub } = setup(t, queue, { transport: new StandInTransport(false) });
  pub.start();
  transport.connect();
  bus.emit('key_destroyed', { path: '/var/lib/kiosk-agent/device.key' });
  bus.emit('tamper', { open: true });
  await flush();
  transport.last.reject(new KioskError('E_NOT_AUTHORIZED', 'not authorised (PUBACK 0x87)', { details: { reasonCode: 0x87, permanent: true } }));
  await flush();
  t.equal(pub.dropped, 1, 'counted as dropped');
  t.same(types([transport.last]), ['tamper'], 'the next event goes out');
  transport.last.resolve();
  await pub.idle();
  t.equal(queue.size, 0);
});

t.test('the bound: the oldest are dropped and counted, with a warning', async (t) => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  const logger = createLogger({ level: 'warn', destination: sink });
  const queue = new MemoryEventQueue({ maxEvents: 2 });
  const { bus, transport, pub } = setup(t, queue, { logger });
  pub.start();
  bus.emit('arrived', {});
  bus.emit('tamper', { open: true });
  bus.emit('left', {});
  t.equal(pub.queued, 2);
  t.equal(pub.dropped, 1);
  t.match(lines.join(''), /"dropped":1,"droppedTotal":1.*oldest events were dropped/);
  transport.connect();
  await pub.idle();
  t.same(types(transport.acked), ['tamper', 'left']);
});

t.test('without a broker events are only logged; stop() removes every listener and timer', async (t) => {
  const queue = new MemoryEventQueue();
  const { bus, pub } = setup(t, queue, { transport: null });
  pub.start();
  bus.emit('tamper', { open: true });
  t.equal(queue.size, 0, 'nothing stored without a transport');
  pub.stop();
  t.equal(bus.listenerCount('tamper'), 0);

  const second = setup(t, new MemoryEventQueue(), { transport: new StandInTransport(false) });
  second.pub.start();
  second.transport.connect();
  second.bus.emit('jam', { active: true });
  await flush();
  second.transport.last.reject(new KioskError('E_TRANSPORT', 'no subscriber (PUBACK 0x10)', { details: { permanent: false } }));
  await flush();
  t.equal(second.clock.pending, 1);
  second.pub.stop();
  t.equal(second.clock.pending, 0, 'the retry timer is cancelled');
  t.equal(second.transport.events.listenerCount('online'), 0);
  t.equal(second.bus.listenerCount('jam'), 0);
});

t.test('an event the queue cannot store is still published once if online; the emitter never sees the error', async (t) => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  const queue = new SqliteEventQueue({ path: join(t.testdir({}), 'events.db') });
  await queue.start();
  t.teardown(() => queue.stop());
  const { bus, transport, pub } = setup(t, queue, { logger: createLogger({ level: 'error', destination: sink }) });
  pub.start();
  transport.connect();
  (queue as unknown as { db: Database.Database }).db.close(); // the storage fails under the running daemon
  t.doesNotThrow(() => bus.emit('tamper', { open: true }), 'the tamper handler is not disturbed');
  await flush();
  t.same(types(transport.acked), ['tamper'], 'sent without being stored');
  t.match(lines.join(''), /"code":"E_STORAGE".*events\.db.*event not stored/);
  transport.online = false;
  bus.emit('tamper', { open: false });
  await flush();
  t.equal(transport.attempts.length, 1, 'offline and not stored: lost, and the log says so');
  t.equal(lines.filter((l) => l.includes('event not stored; published once if online, else lost')).length, 2, 'each unstored event is logged as an error');
});

t.test('a long outage full of camera restarts does not push the tamper alarm out of the queue', async (t) => {
  const queue = new MemoryEventQueue({ maxEvents: 3 });
  await queue.start();
  const a = setup(t, queue);
  a.pub.start();
  a.bus.emit('tamper', { open: true });
  for (let i = 0; i < 10; i++) a.bus.emit('camera', { state: 'restarting' });
  await flush();
  t.same(types(queue.peek(5)), ['tamper', 'camera', 'camera'], 'the alarm is kept, the oldest camera events dropped');
  t.equal(a.pub.dropped, 8);
  a.transport.connect();
  await flush();
  t.same(types(a.transport.acked), ['tamper', 'camera', 'camera'], 'and it goes out first once the broker is back');
});

t.test('stop() gives up on a PUBACK that never comes after its bound; the event stays queued for the next start', async (t) => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  const path = join(t.testdir({}), 'events.db');
  const queue = new SqliteEventQueue({ path });
  await queue.start();
  // A connection that died without closing: the publish is never settled.
  const { bus, transport, clock, pub } = setup(t, queue, {
    transport: new StandInTransport(false),
    logger: createLogger({ level: 'warn', destination: sink }),
  });
  pub.start();
  transport.connect();
  bus.emit('tamper', { open: true });
  await flush();
  t.equal(transport.attempts.length, 1, 'published, waiting for its PUBACK');
  let stopped = false;
  const stopping = pub.stop().then(() => {
    stopped = true;
  });
  t.equal(bus.listenerCount('tamper'), 0, 'stops listening at once');
  await clock.advanceAsync(2999, 2999);
  t.notOk(stopped, 'waits for the publish in flight…');
  await clock.advanceAsync(1, 1);
  await stopping;
  t.ok(stopped, '…for 3 s, not longer');
  t.equal(clock.pending, 0);
  t.match(lines.join(''), /"queued":1.*event publish abandoned, the event stays queued/);
  await queue.stop();

  const again = new SqliteEventQueue({ path });
  await again.start();
  t.teardown(() => again.stop());
  const next = setup(t, again);
  next.pub.start();
  next.transport.connect();
  await next.pub.idle();
  t.same(types(next.transport.acked), ['tamper'], 'sent after the next start');
  t.equal(again.size, 0);
});
