import type { CameraFrame } from './frame-source.js';

/** A frame waiting in the buffer, with the clock time it was captured. */
export interface Buffered {
  frame: CameraFrame;
  capturedAt: number;
}

/**
 * The bounded buffer between capture and consumer: at most `capacity` frames; when full, the oldest
 * is dropped (and counted) so the consumer always gets recent frames and memory stays bounded.
 * With the default capacity of 1 the consumer gets the newest frame. One consumer at a time.
 */
export class FrameBuffer {
  private frames: Buffered[] = [];
  private waiter?: (b: Buffered | undefined) => void;
  private roomWaiter?: () => void;
  private closed = false;
  dropped = 0;

  constructor(readonly capacity = 1) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`invalid buffer size ${capacity}`);
  }

  get size(): number {
    return this.frames.length;
  }

  /** Adds a frame, dropping the oldest when full; hands it straight to a waiting consumer. */
  push(b: Buffered): void {
    if (this.closed) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w(b);
      return;
    }
    if (this.frames.length >= this.capacity) {
      this.frames.shift();
      this.dropped++;
    }
    this.frames.push(b);
  }

  /** The oldest buffered frame, or waits for the next push; `undefined` once closed or aborted. */
  take(signal?: AbortSignal): Promise<Buffered | undefined> {
    const b = this.frames.shift();
    if (b) {
      this.wakeRoom();
      return Promise.resolve(b);
    }
    if (this.closed || signal?.aborted) return Promise.resolve(undefined);
    if (this.waiter) throw new Error('FrameBuffer has one consumer at a time');
    return new Promise((resolve) => {
      const onAbort = () => {
        this.waiter = undefined;
        resolve(undefined);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiter = (x) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(x);
      };
      this.wakeRoom();
    });
  }

  /** For sources that must not drop (replay as fast as possible): resolves when a consumer is waiting for a frame. */
  room(): Promise<void> {
    if (this.closed || this.waiter) return Promise.resolve();
    return new Promise((resolve) => (this.roomWaiter = resolve));
  }

  /**
   * Refuses further frames (until `reopen()`) and wakes a waiting consumer with `undefined`.
   * `keep` leaves buffered frames to be taken first (end of a replay); otherwise they are discarded (stop).
   */
  close(keep = false): void {
    this.closed = true;
    if (!keep) this.frames = [];
    const w = this.waiter;
    this.waiter = undefined;
    w?.(undefined);
    this.wakeRoom();
  }

  reopen(): void {
    this.closed = false;
    this.dropped = 0;
  }

  private wakeRoom(): void {
    const r = this.roomWaiter;
    this.roomWaiter = undefined;
    r?.();
  }
}
