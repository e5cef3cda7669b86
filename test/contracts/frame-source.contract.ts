/**
 * The FrameSource contract: every implementation that can run here (ffmpeg with lavfi standing in
 * for V4L2, the rpicam-vid pipe format from ffmpeg, GStreamer videotestsrc, file and folder replay,
 * the fake) passes this suite. Real processes and the real clock: waits here are for frames from a
 * real child, not timing logic under test.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import t from 'tap';
import type { FrameSource, CameraFrame } from '../../device/camera/frame-source.js';
import { isKioskError } from '../../base/errors.js';
import { processState } from '../helpers/wait.js';

export interface Subject {
  source: FrameSource;
  width: number;
  height: number;
  /** Live sources drop frames for a slow consumer; `asap` replays deliver every frame instead. */
  live: boolean;
  /** Kills the capture process mid-stream (undefined when the source has none). */
  crash?: () => void;
  /** Rows that must be identical in every frame (vertical bars): a frame cut at the wrong byte shears them. */
  equalRows?: [number, number];
  /** Checks one frame's exact content, when the source's content is known. */
  check?: (frame: CameraFrame) => boolean;
  /** Process id of the capture child, to prove stop() reaped it. */
  pid?: () => number | undefined;
}

export type SubjectFactory = (opts: { allowVirtual: boolean; bufferFrames?: number }) => Subject | Promise<Subject>;

/** Waits for the next frame, failing after `ms` instead of hanging the suite. */
async function nextWithin(source: FrameSource, ms = 8000): Promise<CameraFrame | undefined> {
  return source.next(AbortSignal.timeout(ms));
}

function rowsEqual(f: CameraFrame, [a, b]: [number, number]): boolean {
  const row = f.image.width * 3;
  const d = f.image.data;
  for (let i = 0; i < row; i++) if (Math.abs(d[a * row + i] - d[b * row + i]) > 2) return false;
  return true;
}

let gcFn: (() => void) | undefined;
function gc(): void {
  if (!gcFn) {
    setFlagsFromString('--expose_gc');
    gcFn = runInNewContext('gc') as () => void;
  }
  gcFn();
}

/**
 * Array-buffer bytes after garbage collection has settled: V8 frees the backing stores of collected
 * ArrayBuffers on a background sweeper, so right after gc() the count can still include freed frames
 * (under load it lagged by ~7 MB and failed the bound once). Collect, let the sweeper run, repeat;
 * the lowest reading is the live memory.
 */
async function settledArrayBuffers(): Promise<number> {
  let low = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 25));
    low = Math.min(low, process.memoryUsage().arrayBuffers);
  }
  return low;
}

export function frameSourceContract(name: string, make: SubjectFactory): void {
  t.test(`${name}: frames of the right size, in order, cut exactly; stop ends consumers and reaps the child`, async (t) => {
    const s = await make({ allowVirtual: true });
    t.teardown(() => s.source.stop());
    await s.source.start();
    t.ok(s.source.identity, 'identity recorded at start');
    t.equal(typeof s.source.identity!.virtual, 'boolean');
    const frames: CameraFrame[] = [];
    for (let i = 0; i < 6; i++) {
      const f = await nextWithin(s.source);
      if (!f) break;
      frames.push(f);
    }
    t.equal(frames.length, 6, 'six frames');
    const sizeOk = (f: CameraFrame) => f.image.width === s.width && f.image.height === s.height && f.image.data.length === s.width * s.height * 3;
    t.ok(frames.every(sizeOk), `every frame ${s.width}x${s.height} packed RGB`);
    t.ok(
      frames.every((f, i) => i === 0 || (f.index > frames[i - 1].index && f.timeMs >= frames[i - 1].timeMs)),
      'index increasing, time not going back',
    );
    if (s.equalRows)
      t.ok(
        frames.every((f) => rowsEqual(f, s.equalRows!)),
        `rows ${s.equalRows.join(' and ')} identical in every frame (no shear)`,
      );
    if (s.check)
      t.ok(
        frames.every((f) => s.check!(f)),
        'exact frame content',
      );
    const st = s.source.stats();
    t.ok(st.running, 'running');
    t.ok(st.captured >= st.delivered && st.delivered >= 6, `captured ${st.captured} >= delivered ${st.delivered}`);
    if (s.live) t.ok(st.fps > 0, `fps reported (${st.fps})`);
    t.ok(st.latencyMs.mean >= 0 && st.latencyMs.max >= st.latencyMs.last, 'latency reported');
    const pid = s.pid?.();
    const waiting = s.source.next();
    await s.source.stop();
    // A frame may have been buffered before stop; the one after must be undefined.
    const after = (await waiting) && (await s.source.next());
    t.equal(after, undefined, 'next() gives undefined after stop');
    t.notOk(s.source.stats().running, 'not running after stop');
    if (pid) t.equal(processState(pid), 'gone', 'capture process reaped');
  });

  t.test(`${name}: a slow consumer loses old frames, counted, with memory bounded`, async (t) => {
    const s = await make({ allowVirtual: true, bufferFrames: 2 });
    t.teardown(() => s.source.stop());
    await s.source.start();
    t.ok(await nextWithin(s.source), 'first frame');
    const before = await settledArrayBuffers();
    let maxBuffered = 0;
    // Take one frame every ~150 ms for ~1.2 s: a 30 fps source makes ~36 frames meanwhile.
    let got = 1;
    for (let i = 0; i < 8; i++) {
      await new Promise((r) => setTimeout(r, 150));
      maxBuffered = Math.max(maxBuffered, s.source.stats().buffered);
      if (await nextWithin(s.source)) got++;
    }
    const st = s.source.stats();
    const grown = (await settledArrayBuffers()) - before;
    t.ok(maxBuffered <= 2, `never more than 2 frames buffered (max ${maxBuffered})`);
    if (s.live) {
      t.ok(st.dropped > 5, `old frames dropped and counted (${st.dropped})`);
      t.ok(st.captured >= st.delivered + st.dropped, `captured ${st.captured} = delivered ${st.delivered} + dropped ${st.dropped} + buffered ${st.buffered}`);
      t.ok(st.captured - (st.delivered + st.dropped + st.buffered) <= 0, 'every captured frame is accounted for');
    } else {
      t.equal(st.dropped, 0, 'nothing dropped when pacing to the consumer');
    }
    const frameBytes = s.width * s.height * 3;
    // The buffer (2 frames) plus one being assembled and pipe chunks: well under the ~36-frame backlog
    // (8 MB at 320x240) a source that kept what it dropped would hold.
    t.ok(grown < 8 * frameBytes + 1024 * 1024, `array buffers grew ${(grown / 1e6).toFixed(1)} MB, bounded by the buffer, not by the backlog`);
    t.equal(got, 9);
  });

  t.test(`${name}: refuses to start as a virtual camera unless allowed`, async (t) => {
    const s = await make({ allowVirtual: false });
    t.teardown(() => s.source.stop());
    try {
      await s.source.start();
      t.notOk(s.source.identity?.virtual, 'started: a real camera identity');
    } catch (err) {
      t.ok(isKioskError(err, 'E_CAMERA_VIRTUAL'), `refused with E_CAMERA_VIRTUAL (${(err as Error).message})`);
      t.notOk(s.pid?.(), 'no capture process left behind');
    }
  });

  t.test(`${name}: the capture process killed mid-stream is restarted and frames continue`, { skip: false }, async (t) => {
    const s = await make({ allowVirtual: true });
    if (!s.crash) {
      t.pass('no capture process to kill (replay ends or is replaced by the daemon)');
      return;
    }
    t.teardown(() => s.source.stop());
    const events: string[] = [];
    for (const e of ['exited', 'restarting', 'started'] as const) s.source.events.on(e, () => events.push(e));
    await s.source.start();
    const first = await nextWithin(s.source);
    t.ok(first, 'frames before the crash');
    const restarted = new Promise<void>((resolve) => s.source.events.on('started', () => resolve()));
    s.crash();
    let guard: NodeJS.Timeout | undefined;
    await Promise.race([restarted, new Promise((_, reject) => (guard = setTimeout(() => reject(new Error('no restart within 8 s')), 8000)))]);
    clearTimeout(guard);
    let after: CameraFrame | undefined;
    for (let i = 0; i < 3; i++) after = await nextWithin(s.source);
    t.ok(after, 'frames after the restart');
    t.ok(after!.index > first!.index, 'frame numbers continue across the restart');
    t.match(events, ['started', 'exited', 'restarting', 'started'], 'exited, restarting and started events');
    t.ok(s.source.stats().restarts >= 1, 'restart counted');
  });
}
