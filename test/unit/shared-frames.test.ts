import t from 'tap';
import { SharedFrames } from '../../agent/session/shared-frames.js';
import type { RunnerFrame } from '../../agent/session/runner.js';

/** A fake decoder of `count` 2x2 frames (12 bytes each) whose pixels carry the frame index; counts opens and stops. */
function decoder(count: number) {
  const stats = { opened: 0, stopped: 0, decoded: 0 };
  const open = async (): Promise<AsyncIterable<RunnerFrame>> => {
    stats.opened++;
    return (async function* () {
      try {
        for (let index = 0; index < count; index++) {
          stats.decoded++;
          yield { index, timeMs: index * 40, image: { width: 2, height: 2, data: new Uint8Array(12).fill(index) } };
        }
      } finally {
        stats.stopped++;
      }
    })();
  };
  return { open, stats };
}

async function take(frames: AsyncIterable<RunnerFrame>, n = Number.POSITIVE_INFINITY): Promise<RunnerFrame[]> {
  const out: RunnerFrame[] = [];
  for await (const f of frames) {
    out.push(f);
    if (out.length >= n) break;
  }
  return out;
}

const indices = (fs: RunnerFrame[]) => fs.map((f) => `${f.index}:${f.image.data[0]}`);
const expected = (n: number) => Array.from({ length: n }, (_, i) => `${i}:${i}`);

t.test('within the budget every replay gets the same frame objects, decoded once', async (t) => {
  const d = decoder(10);
  const shared = new SharedFrames(d.open, 1000);
  const a = await take(shared.replay(), 4);
  const b = await take(shared.replay());
  const c = await take(shared.replay());
  t.same(indices(b), expected(10));
  t.ok(a.every((f, i) => f === b[i]) && b.every((f, i) => f === c[i]), 'the same objects (the analysis memo is keyed by them)');
  t.same([d.stats.opened, d.stats.decoded], [1, 10]);
  t.same(shared.cached, { frames: 10, bytes: 120 });
  await shared.close();
  t.equal(d.stats.stopped, 1);
});

t.test('past the budget frames are not kept, and every replay still gets every frame in order', async (t) => {
  const d = decoder(10);
  const shared = new SharedFrames(d.open, 12 * 3); // three frames
  t.same(indices(await take(shared.replay(), 2)), expected(2), 'a case that stops early');
  t.same(indices(await take(shared.replay())), expected(10), 'the case that reaches the budget reads on with the decoder');
  t.same(shared.cached, { frames: 3, bytes: 36 }, 'never more than the budget');
  t.same(indices(await take(shared.replay())), expected(10), 'a later case: the kept frames, then its own decoder');
  const partial = await take(shared.replay(), 6);
  t.same(indices(partial), expected(6), 'and one that stops past the kept frames');
  await shared.close();
  t.equal(d.stats.opened, d.stats.stopped, `every decoder opened is stopped (${d.stats.opened})`);
  t.equal(d.stats.opened, 3, 'the shared one, then one per later case that went past the kept frames');
});

t.test('a budget smaller than one frame keeps nothing and still replays everything', async (t) => {
  const d = decoder(5);
  const shared = new SharedFrames(d.open, 1);
  t.same(indices(await take(shared.replay())), expected(5));
  t.same(indices(await take(shared.replay())), expected(5));
  t.same(shared.cached, { frames: 0, bytes: 0 });
  await shared.close();
  t.equal(d.stats.opened, d.stats.stopped);
});

t.test('an input shorter than the budget ends for every replay without a second decoder', async (t) => {
  const d = decoder(3);
  const shared = new SharedFrames(d.open, 36);
  t.same(indices(await take(shared.replay())), expected(3));
  t.same(indices(await take(shared.replay())), expected(3));
  t.equal(d.stats.opened, 1);
  await shared.close();
});
