import t from 'tap';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { MemoryOutbox } from '../../agent/outbox/memory-outbox.js';
import type { Outbox, OutboxLimits } from '../../agent/outbox/outbox.js';
import { SqliteOutbox } from '../../agent/outbox/sqlite-outbox.js';
import { rejectsWithCode } from '../helpers/errors.js';

type Factory = (limits?: OutboxLimits, clock?: () => number) => Outbox;
const msg = (i: number, size = 10) => ({ jti: `j-${i}`, topic: 'kiosk/v1/kiosk-001/result', payload: Buffer.alloc(size, i) });

function outboxContract(name: string, make: Factory): void {
  t.test(`${name}: stores, lists oldest first, acks, idempotent by jti`, async (t) => {
    const o = make();
    await o.start();
    t.teardown(() => o.stop());
    const stored: string[] = [];
    o.events.on('stored', (e) => stored.push(e.jti));
    for (let i = 0; i < 5; i++) t.match(await o.put(msg(i)), { inserted: true });
    t.match(await o.put(msg(2)), { inserted: false }, 'same jti stored once');
    t.same(stored, ['j-0', 'j-1', 'j-2', 'j-3', 'j-4']);
    const p = await o.pending(3);
    t.same(
      p.map((m) => m.jti),
      ['j-0', 'j-1', 'j-2'],
    );
    t.same(p[1].payload, Buffer.alloc(10, 1));
    await o.attempted(p[0].id);
    await o.ack(p[1].id);
    t.same(
      (await o.pending(10)).map((m) => [m.jti, m.attempts]),
      [
        ['j-0', 1],
        ['j-2', 0],
        ['j-3', 0],
        ['j-4', 0],
      ],
    );
    t.match(await o.stats(), { pending: 4, parked: 0, expired: 0, pendingBytes: 40 });
  });

  t.test(`${name}: limits refuse loudly, park and expire keep the message`, async (t) => {
    let now = 1_000_000;
    const o = make({ maxMessages: 3, maxBytes: 1000, maxAgeMs: 60_000 }, () => now);
    await o.start();
    t.teardown(() => o.stop());
    const full: unknown[] = [];
    o.events.on('full', (e) => full.push(e));
    for (let i = 0; i < 3; i++) await o.put(msg(i));
    await rejectsWithCode(t, o.put(msg(3)), 'E_OUTBOX_FULL', 'messages');
    t.match(full, [{ limit: 'messages', pending: 3 }]);
    const [first] = await o.pending(1);
    const parked: unknown[] = [];
    o.events.on('parked', (e) => parked.push(e));
    await o.park(first.id, 'PUBACK 0x87 not authorised');
    t.match(parked, [{ id: first.id, jti: 'j-0', reason: /0x87/ }]);
    t.match(await o.list('parked'), [{ jti: 'j-0', state: 'parked', reason: /0x87/ }], 'parked message kept for the operator');
    await rejectsWithCode(t, o.put(msg(9, 995)), 'E_OUTBOX_FULL', 'bytes');
    now += 61_000;
    await o.put(msg(4));
    const expiredEvents: unknown[] = [];
    o.events.on('expired', (e) => expiredEvents.push(e));
    const expired = await o.expireOld(now);
    t.same(
      expired.map((m) => m.jti),
      ['j-1', 'j-2'],
    );
    t.match(expiredEvents, [{ jtis: ['j-1', 'j-2'] }]);
    t.same(
      (await o.pending(10)).map((m) => m.jti),
      ['j-4'],
      'the young message stays pending',
    );
    t.match(await o.stats(), { pending: 1, parked: 1, expired: 2 });
  });
}

outboxContract('memory', (limits, clock) => new MemoryOutbox({ limits, clock }));
let n = 0;
const dir = t.testdir({});
outboxContract('sqlite', (limits, clock) => new SqliteOutbox({ path: join(dir, `o${n++}`, 'outbox.db'), limits, clock }));

t.test('sqlite: a stored message survives reopening; WAL mode; a full disk is E_STORAGE, not a silent drop', async (t) => {
  const tdir = t.testdir({ file: 'x' });
  const path = join(tdir, 'outbox.db');
  const a = new SqliteOutbox({ path });
  await a.start();
  await a.put(msg(1));
  await a.stop();
  const b = new SqliteOutbox({ path });
  await b.start();
  t.teardown(() => b.stop());
  t.same(
    (await b.pending(5)).map((m) => m.jti),
    ['j-1'],
  );
  const db = (b as unknown as { db: Database.Database }).db;
  t.equal(db.pragma('journal_mode', { simple: true }), 'wal');
  // Simulate a full disk at the SQLite level: the database may not grow past its current pages.
  db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`);
  await rejectsWithCode(t, b.put(msg(2, 200_000)), 'E_STORAGE', 'outbox.db');
  t.same(
    (await b.pending(5)).map((m) => m.jti),
    ['j-1'],
    'what was stored is still there',
  );
  const notADir = join(tdir, 'file', 'outbox.db');
  await rejectsWithCode(t, new SqliteOutbox({ path: notADir }).start(), 'E_STORAGE', notADir);
});
