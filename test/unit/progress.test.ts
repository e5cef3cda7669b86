import t from 'tap';
import { createProgress, formatDuration, interruptProgress, phasedProgress, progressEnabled, type ProgressStream } from '../../base/progress.js';

/** A fake stderr: records every write; `isTTY` and `columns` as asked. */
function fakeStream(isTTY: boolean, columns?: number): ProgressStream & { writes: string[]; text: () => string } {
  const writes: string[] = [];
  return {
    isTTY,
    columns,
    writes,
    write(s: string) {
      writes.push(s);
      return true;
    },
    text: () => writes.join(''),
  };
}

/** A clock the test moves by hand. */
function fakeClock(start = 0) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

const ERASE = '\r\x1b[K';

t.test('enabled only on a terminal and outside CI', async (t) => {
  t.equal(progressEnabled({ isTTY: true, write() {} }, {}), true);
  t.equal(progressEnabled({ isTTY: false, write() {} }, {}), false, 'a pipe or a file');
  t.equal(progressEnabled({ write() {} }, {}), false, 'a stream that does not say');
  t.equal(progressEnabled({ isTTY: true, write() {} }, { CI: 'true' }), false, 'CI');
  t.equal(progressEnabled({ isTTY: true, write() {} }, { CI: '1' }), false);
  t.equal(progressEnabled({ isTTY: true, write() {} }, { CI: 'false' }), true, 'CI=false is not CI');
  t.equal(progressEnabled({ isTTY: true, write() {} }, { CI: '' }), true);
});

t.test('not a terminal: nothing is written at all', async (t) => {
  const stream = fakeStream(false);
  const p = createProgress({ total: 3, label: 'eval match', stream });
  p.tick('a.jpg');
  p.update(2, 'b.jpg');
  p.clear();
  p.tick('c.jpg');
  p.done();
  t.same(stream.writes, []);
});

t.test('enabled: false on a terminal writes nothing either', async (t) => {
  const stream = fakeStream(true);
  const p = createProgress({ total: 2, label: 'x', stream, enabled: false });
  p.tick();
  p.done();
  t.same(stream.writes, []);
});

t.test('a terminal: one line redrawn with \\r, counts, percent, estimate, detail; erased at done', async (t) => {
  const stream = fakeStream(true);
  const clock = fakeClock(1000);
  const p = createProgress({ total: 4, label: 'eval match', stream, enabled: true, now: clock.now });
  p.update(0, 'first.jpg');
  t.equal(stream.writes.at(-1), `${ERASE}eval match  0/4   0%  first.jpg`, 'no estimate before the first item');
  clock.advance(2000);
  p.tick('a.jpg');
  t.equal(stream.writes.at(-1), `${ERASE}eval match  1/4  25%  eta 6 s  a.jpg`, '2 s an item, 3 to go');
  clock.advance(2000);
  p.tick('b.jpg');
  t.equal(stream.writes.at(-1), `${ERASE}eval match  2/4  50%  eta 4 s  b.jpg`);
  clock.advance(4000);
  p.tick();
  p.tick();
  t.equal(stream.writes.at(-1), `${ERASE}eval match  3/4  75%  eta 3 s`, 'the second tick within 100 ms is not drawn');
  clock.advance(150);
  p.tick();
  t.equal(stream.writes.at(-1), `${ERASE}eval match  5/4  100%`, 'past the total: 100%, no estimate');
  p.done();
  t.equal(stream.writes.at(-1), ERASE, 'the line is erased at the end');
  const n = stream.writes.length;
  p.tick('late');
  p.done();
  t.equal(stream.writes.length, n, 'nothing after done');
  t.notMatch(stream.text(), /\n/, 'never a newline: the line is redrawn in place');
});

t.test('throttled to about 10 draws a second', async (t) => {
  const stream = fakeStream(true);
  const clock = fakeClock();
  const p = createProgress({ total: 1000, label: 'analyze', stream, enabled: true, now: clock.now });
  for (let i = 0; i < 1000; i++) {
    p.tick(`f${i}`);
    clock.advance(1); // 1000 items in one second
  }
  p.done();
  const draws = stream.writes.filter((w) => w.length > ERASE.length).length;
  t.ok(draws >= 9 && draws <= 11, `${draws} draws for 1000 ticks in 1 s`);
});

t.test('clear erases the line; the next tick draws it again at once', async (t) => {
  const stream = fakeStream(true);
  const clock = fakeClock();
  const p = createProgress({ total: 10, label: 'quantize', stream, enabled: true, now: clock.now });
  p.tick('a');
  p.clear();
  t.equal(stream.writes.at(-1), ERASE);
  p.clear();
  t.equal(stream.writes.filter((w) => w === ERASE).length, 1, 'a second clear writes nothing');
  p.tick('b');
  t.ok(stream.writes.at(-1)?.startsWith(`${ERASE}quantize  2/10`), 'redrawn without waiting for the interval');
  interruptProgress();
  t.equal(stream.writes.at(-1), ERASE, 'interruptProgress (before a log line) erases every live line');
  p.done();
  interruptProgress();
  t.equal(stream.writes.at(-1), ERASE);
  t.equal(stream.writes.filter((w) => w === ERASE).length, 2, 'a finished line is no longer interrupted');
});

t.test('cut to the terminal width, keeping the end of the detail', async (t) => {
  const stream = fakeStream(true, 50);
  const p = createProgress({ total: 10, label: 'eval pad', stream, enabled: true, now: () => 0 });
  p.update(0, 'NUAA/ClientFace/0001/some/very/long/path/to/the/image_0042.jpg');
  const line = stream.writes.at(-1)!.slice(ERASE.length);
  t.ok(line.length < 50, `fits in 50 columns (${line.length})`);
  t.match(line, /^eval pad {2}0\/10 {3}0% {2}….*image_0042\.jpg$/);
});

t.test('a custom format draws the whole line', async (t) => {
  const stream = fakeStream(true);
  const p = createProgress({
    total: 2,
    label: 'analyze',
    stream,
    enabled: true,
    now: () => 0,
    format: (s) => `[${s.done}/${s.total}] ${s.detail}`,
  });
  p.update(0.5, 'half');
  t.equal(stream.writes.at(-1), `${ERASE}[0.5/2] half`);
});

t.test('phases: a line per phase, erased when it completes; done() erases a phase cut short', async (t) => {
  const stream = fakeStream(true);
  const clock = fakeClock();
  const p = phasedProgress('eval pad', { stream, enabled: true, now: clock.now });
  for (let i = 1; i <= 3; i++) {
    clock.advance(200);
    p.report(i, 3, `img${i}.jpg`);
  }
  t.equal(stream.writes.at(-1), ERASE, 'the images phase is erased at 3/3');
  t.ok(stream.writes.includes(`${ERASE}eval pad  1/3  33%  eta 0 s  img1.jpg`));
  t.ok(stream.writes.includes(`${ERASE}eval pad  3/3  100%  img3.jpg`), 'the last item is drawn before the line is erased');
  clock.advance(500);
  p.report(1, 2, 'vid1.mp4');
  t.equal(stream.writes.at(-1), `${ERASE}eval pad  1/2  50%  eta 1 s  vid1.mp4`, 'the second phase counts from the end of the first');
  p.done();
  t.equal(stream.writes.at(-1), ERASE);
  t.notMatch(stream.text(), /\n/);
});

t.test('durations', async (t) => {
  t.equal(formatDuration(0), '0 s');
  t.equal(formatDuration(12_400), '12 s');
  t.equal(formatDuration(59_600), '1 min 00 s');
  t.equal(formatDuration(185_000), '3 min 05 s');
  t.equal(formatDuration(7_620_000), '2 h 07 min');
  t.equal(formatDuration(-5), '0 s');
});
