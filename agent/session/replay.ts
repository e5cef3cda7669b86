/**
 * Frame sources for running a session on a recording "as if it came from the camera": paced at the
 * recording's own frame times, or a still image shown to the camera for a while (a photo attack).
 */
import { sleep, systemClock, type Clock } from '../../base/clock.js';
import type { RgbImage } from '../../base/rgb-image.js';
import type { RunnerFrame } from './runner.js';

export interface PaceOptions {
  /** 1 = real time (default); 2 = twice as fast. */
  speed?: number;
  /** Ends the frames when aborted (also while waiting for the next frame's time). */
  signal?: AbortSignal;
  /** Default the system clock (tests inject one). */
  clock?: Clock;
}

/**
 * Hands out each frame no earlier than its `timeMs` after the first one (wall clock), like a
 * camera does. Decoding ahead is bounded by the source's own backpressure (one frame here).
 */
export async function* paceFrames(frames: AsyncIterable<RunnerFrame>, opts: PaceOptions = {}): AsyncGenerator<RunnerFrame> {
  const clock = opts.clock ?? systemClock;
  const speed = opts.speed ?? 1;
  let start: number | null = null;
  let first = 0;
  for await (const f of frames) {
    if (opts.signal?.aborted) return;
    if (start === null) {
      start = clock.now();
      first = f.timeMs;
    }
    const due = start + (f.timeMs - first) / speed;
    const aborted = await sleep(clock, due - clock.now(), opts.signal).then(
      () => false,
      () => true,
    );
    if (aborted) return;
    yield f;
  }
}

/** A still image repeated at `fps` for `durationMs`, as a photo held in front of the camera. */
export async function* loopStill(image: RgbImage, opts: { fps?: number; durationMs?: number } = {}): AsyncGenerator<RunnerFrame> {
  const fps = opts.fps ?? 30;
  const count = Math.max(1, Math.round(((opts.durationMs ?? 10_000) * fps) / 1000));
  for (let index = 0; index < count; index++) yield { index, timeMs: (index * 1000) / fps, image };
}
