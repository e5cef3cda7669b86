/**
 * The EventQueue contract (agent/daemon/event-queue.ts), run against the memory queue and the SQLite
 * queue; then what only the SQLite queue promises: events and the drop count survive reopening, and
 * a file it cannot use is E_STORAGE naming it.
 */
import t from 'tap';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { MemoryEventQueue, type EventQueue } from '../../agent/daemon/event-queue.js';
import { SqliteEventQueue } from '../../agent/daemon/sqlite-event-queue.js';
import { rejectsWithCode } from '../helpers/errors.js';

type Factory = (maxEvents?: number) => EventQueue;
const ev = (i: number) => JSON.stringify({ type: 'tamper', n: i });
const ns = (q: EventQueue, limit = 100) => q.peek(limit).map((e) => (JSON.parse(e.payload) as { n: number }).n);

function eventQueueContract(name: string, make: Factory): void {
  t.test(`${name}: first in, first out; removed only when told`, async (t) => {
    const q = make();
    await q.start();
    t.teardown(() => q.stop());
    t.equal(q.size, 0);
    t.same(q.peek(5), []);
    const ids = [0, 1, 2, 3].map((i) => q.append(ev(i)).id);
    t.ok(
      ids.every((id, i) => i === 0 || id > ids[i - 1]),
      'ids rise with every append',
    );
    t.equal(q.size, 4);
    t.same(ns(q, 2), [0, 1], 'peek gives the oldest, oldest first');
    t.same(ns(q), [0, 1, 2, 3], 'peek removes nothing');
    q.remove(ids[0]);
    q.remove(ids[2]);
    t.same(ns(q), [1, 3]);
    q.remove(ids[0]);
    q.remove(12345);
    t.same(ns(q), [1, 3], 'removing an id no longer there changes nothing');
    t.equal(q.append(ev(4)).id > ids[3], true, 'a later append still sorts last');
    t.same(ns(q), [1, 3, 4]);
    t.equal(q.dropped, 0);
  });

  t.test(`${name}: past the bound the oldest are dropped and counted`, async (t) => {
    const q = make(3);
    await q.start();
    t.teardown(() => q.stop());
    for (let i = 0; i < 3; i++) t.same(q.append(ev(i)).dropped, 0);
    t.same(q.append(ev(3)).dropped, 1);
    t.same(q.append(ev(4)).dropped, 1);
    t.same(ns(q), [2, 3, 4], 'the newest three kept, in order');
    t.equal(q.size, 3);
    t.equal(q.dropped, 2);
    const [head] = q.peek(1);
    q.discard(head.id);
    t.same(ns(q), [3, 4], 'a discarded event is gone');
    t.equal(q.dropped, 3, 'and counted as dropped');
    q.discard(head.id);
    t.equal(q.dropped, 3, 'discarding it again counts nothing');
    q.remove(q.peek(1)[0].id);
    t.equal(q.dropped, 3, 'a removed (acknowledged) event is not a drop');
  });

  t.test(`${name}: at the bound, events kept as alarms go last`, async (t) => {
    const q = make(3);
    await q.start();
    t.teardown(() => q.stop());
    q.append(ev(0), { keep: true }); // the tamper alarm
    for (let i = 1; i <= 4; i++) q.append(ev(i)); // a camera restarting, over and over
    t.same(ns(q), [0, 3, 4], 'the alarm stays; the oldest ordinary events go');
    t.equal(q.dropped, 2);
    q.append(ev(5), { keep: true });
    q.append(ev(6), { keep: true });
    t.same(ns(q), [0, 5, 6], 'ordinary events go first even when newer');
    q.append(ev(7), { keep: true });
    t.same(ns(q), [5, 6, 7], 'only alarms left: the oldest alarm goes');
    t.equal(q.dropped, 5);
  });

  t.test(`${name}: a limit that is not a positive integer is refused at construction`, async (t) => {
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      await rejectsWithCode(t, (async () => make(bad))(), 'E_CONFIG_INVALID', 'maxEvents');
    }
  });
}

eventQueueContract('memory', (maxEvents) => new MemoryEventQueue({ maxEvents }));
let n = 0;
const dir = t.testdir({});
eventQueueContract('sqlite', (maxEvents) => new SqliteEventQueue({ path: join(dir, `q${n++}`, 'events.db'), maxEvents }));

t.test('sqlite: events, their order and the drop count survive reopening; WAL, synchronous=FULL', async (t) => {
  const path = join(t.testdir({}), 'state', 'events.db');
  const a = new SqliteEventQueue({ path, maxEvents: 3 });
  await a.start();
  for (let i = 0; i < 5; i++) a.append(ev(i));
  a.remove(a.peek(1)[0].id);
  // No stop(): a crash leaves the connection open; what was committed is on disk.
  const b = new SqliteEventQueue({ path, maxEvents: 3 });
  await b.start();
  t.teardown(async () => {
    await a.stop();
    await b.stop();
  });
  t.same(ns(b), [3, 4], 'what was left, in order');
  t.equal(b.dropped, 2, 'the drop count too');
  const id = b.append(ev(5)).id;
  t.ok(id > b.peek(1)[0].id, 'ids keep rising after a reopen');
  t.same(ns(b), [3, 4, 5]);
  const db = (b as unknown as { db: Database.Database }).db;
  t.equal(db.pragma('journal_mode', { simple: true }), 'wal');
  t.equal(db.pragma('synchronous', { simple: true }), 2, 'synchronous=FULL: an append survives power loss');
});

t.test('sqlite: a file it cannot use is E_STORAGE naming it; what was stored stays', async (t) => {
  const tdir = t.testdir({ file: 'x', 'corrupt.db': 'this is not an SQLite database, it is a text file long enough to have a header'.repeat(20) });
  const notADir = join(tdir, 'file', 'events.db');
  await rejectsWithCode(t, new SqliteEventQueue({ path: notADir }).start(), 'E_STORAGE', notADir);
  const corrupt = join(tdir, 'corrupt.db');
  await rejectsWithCode(t, new SqliteEventQueue({ path: corrupt }).start(), 'E_STORAGE', corrupt);
  const unstarted = new SqliteEventQueue({ path: join(tdir, 'never.db') });
  await rejectsWithCode(t, (async () => unstarted.append(ev(0)))(), 'E_STORAGE', 'never.db');

  const path = join(tdir, 'full', 'events.db');
  const q = new SqliteEventQueue({ path });
  await q.start();
  t.teardown(() => q.stop());
  q.append(ev(1));
  // A full disk at the SQLite level: the database may not grow past its current pages.
  const db = (q as unknown as { db: Database.Database }).db;
  db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`);
  await rejectsWithCode(t, (async () => q.append(JSON.stringify({ type: 'camera', reason: 'x'.repeat(200_000) })))(), 'E_STORAGE', path);
  t.same(ns(q), [1], 'what was stored is still there');
});
