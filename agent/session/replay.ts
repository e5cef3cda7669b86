/**
 * Frame sources for running a session on a recording "as if it came from the camera": paced at the
 * recording's own frame times, or a still image shown to the camera for a while (a photo attack).
 */
import type { RgbImage } from '../../base/rgb-image.js';
import type { RunnerFrame } from './runner.js';

export interface PaceOptions {
  /** 1 = real time (default); 2 = twice as fast. */
  speed?: number;
  signal?: AbortSignal;
  /** Wall clock, ms (tests inject one). */
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (ms <= 0 || signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Hands out each frame no earlier than its `timeMs` after the first one (wall clock), like a
 * camera does. Decoding ahead is bounded by the source's own backpressure (one frame here).
 */
export async function* paceFrames(frames: AsyncIterable<RunnerFrame>, opts: PaceOptions = {}): AsyncGenerator<RunnerFrame> {
  const now = opts.now ?? (() => performance.now());
  const wait = opts.sleep ?? sleep;
  const speed = opts.speed ?? 1;
  let start: number | null = null;
  let first = 0;
  for await (const f of frames) {
    if (opts.signal?.aborted) return;
    if (start === null) {
      start = now();
      first = f.timeMs;
    }
    const due = start + (f.timeMs - first) / speed;
    await wait(due - now(), opts.signal);
    if (opts.signal?.aborted) return;
    yield f;
  }
}

/** A still image repeated at `fps` for `durationMs`, as a photo held in front of the camera. */
export async function* loopStill(image: RgbImage, opts: { fps?: number; durationMs?: number } = {}): AsyncGenerator<RunnerFrame> {
  const fps = opts.fps ?? 30;
  const count = Math.max(1, Math.round(((opts.durationMs ?? 10_000) * fps) / 1000));
  for (let index = 0; index < count; index++) yield { index, timeMs: (index * 1000) / fps, image };
}
