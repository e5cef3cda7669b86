/** File and folder replay, at the recording's pace and as fast as the consumer takes frames. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ReplayFrameSource } from '../../device/camera/replay-source.js';
import { frameSourceContract } from './frame-source.contract.js';

const W = 160;
const H = 120;
const dir = mkdtempSync(join(tmpdir(), 'replay-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const video = join(dir, 'bars.mkv');
const folder = join(dir, 'frames');
mkdirSync(folder);
const lavfi = ['-nostdin', '-v', 'error', '-f', 'lavfi', '-i', `smptebars=size=${W}x${H}:rate=30`];
execFileSync('ffmpeg', [...lavfi, '-t', '3', '-c:v', 'ffv1', video]);
execFileSync('ffmpeg', [...lavfi, '-frames:v', '12', join(folder, 'f%d.png')]);

frameSourceContract('replay video, real time', ({ allowVirtual, bufferFrames }) => {
  const source = new ReplayFrameSource({ path: video, pace: 'realtime', loop: true, allowVirtual, bufferFrames });
  return { source, width: W, height: H, live: true, equalRows: [0, 60] };
});

frameSourceContract('replay video, as fast as possible', ({ allowVirtual, bufferFrames }) => {
  const source = new ReplayFrameSource({ path: video, pace: 'asap', allowVirtual, bufferFrames });
  return { source, width: W, height: H, live: false, equalRows: [0, 60] };
});

frameSourceContract('replay image folder, as fast as possible, looping', ({ allowVirtual, bufferFrames }) => {
  const source = new ReplayFrameSource({ path: folder, pace: 'asap', loop: true, allowVirtual, bufferFrames });
  return { source, width: W, height: H, live: false, equalRows: [0, 60] };
});

t.test('replay without loop ends: every frame, then ended and undefined', async (t) => {
  const source = new ReplayFrameSource({ path: folder, pace: 'asap', allowVirtual: true });
  t.teardown(() => source.stop());
  let ended = false;
  source.events.on('ended', () => (ended = true));
  await source.start();
  t.match(source.identity, { kind: 'replay', virtual: true });
  const idx: number[] = [];
  for await (const f of source.frames(AbortSignal.timeout(10_000))) idx.push(f.index);
  t.same(idx, [...Array(12).keys()], 'all 12 frames in order, none dropped');
  t.ok(ended, 'ended event');
  t.equal(await source.next(), undefined);
});
