/**
 * The camera frames of one input, decoded once and replayed to every suite case that uses it: the
 * same image objects each time, so the engine's analysis of a frame is reused (the suite's memo is
 * keyed by image). Decoded lazily, only as far as the cases go.
 *
 * Memory is bounded: decoded frames are kept up to `budgetBytes` of pixels (a 30 s 1080p clip is
 * 5.6 GB of RGB). Past the budget the frames are not kept: the case that reaches it goes on with
 * the decoder, and a later case that gets past the kept frames opens its own decoder, skips them
 * and reads on. Those frames are decoded (and analysed) again per case; the frames, and so every
 * case's result, are the same either way.
 */
import type { RunnerFrame } from './runner.js';

/** Pixels kept per input by default: 1 GiB. */
export const DEFAULT_FRAME_CACHE_BYTES = 1024 * 1024 * 1024;

export class SharedFrames {
  private readonly kept: RunnerFrame[] = [];
  private bytes = 0;
  /** The budget was reached: no more frames are kept, and the shared decoder went to the case that reached it. */
  private full = false;
  private source: AsyncIterator<RunnerFrame> | null = null;
  private ended = false;

  constructor(
    private readonly open: () => Promise<AsyncIterable<RunnerFrame>>,
    private readonly budgetBytes = DEFAULT_FRAME_CACHE_BYTES,
  ) {}

  /** Frames kept now, and their pixel bytes (for tests and progress). */
  get cached(): { frames: number; bytes: number } {
    return { frames: this.kept.length, bytes: this.bytes };
  }

  /** Every frame of the input, in order. One replay at a time (cases run one after another). */
  async *replay(): AsyncGenerator<RunnerFrame> {
    let i = 0;
    for (; i < this.kept.length || (!this.full && !this.ended); i++) {
      if (i < this.kept.length) {
        yield this.kept[i];
        continue;
      }
      this.source ??= (await this.open())[Symbol.asyncIterator]();
      const n = await this.source.next();
      if (n.done) {
        this.ended = true;
        return;
      }
      if (this.bytes + n.value.image.data.byteLength > this.budgetBytes) {
        this.full = true;
        const own = this.source;
        this.source = null;
        yield* drain(own, n.value);
        return;
      }
      this.kept.push(n.value);
      this.bytes += n.value.image.data.byteLength;
      yield n.value;
    }
    if (this.ended) return;
    // past the kept frames of a full cache: a decoder of this replay's own, skipping what is kept
    const own = (await this.open())[Symbol.asyncIterator]();
    try {
      for (let k = 0; k < i; k++) if ((await own.next()).done) return;
    } catch (err) {
      await own.return?.();
      throw err;
    }
    yield* drain(own);
  }

  /** Stops the decoder (ffmpeg) and drops the frames. */
  async close(): Promise<void> {
    this.kept.length = 0;
    this.bytes = 0;
    await this.source?.return?.();
    this.source = null;
  }
}

/** `first` (when given), then the rest of `it`; the decoder is stopped however the reader stops. */
async function* drain(it: AsyncIterator<RunnerFrame>, first?: RunnerFrame): AsyncGenerator<RunnerFrame> {
  try {
    if (first) yield first;
    for (;;) {
      const n = await it.next();
      if (n.done) return;
      yield n.value;
    }
  } finally {
    await it.return?.();
  }
}
