import { EventEmitter } from 'node:events';
import { KioskError } from '../../base/errors.js';
import type { RgbImage } from '../../base/rgb-image.js';
import { systemClock, type Clock } from '../../base/clock.js';
import { FrameBuffer } from './frame-buffer.js';
import type { CameraFrame, CameraIdentity, FrameSource, FrameSourceEvents, FrameSourceStats } from './frame-source.js';

/** Options every frame source takes. */
export interface SourceCommonOptions {
  clock?: Clock;
  /** Frames held for a slow consumer before the oldest is dropped (default 1: always the newest). */
  bufferFrames?: number;
  /** Accept virtual cameras and recordings (v4l2loopback, OBS, replays); default false. */
  allowVirtual?: boolean;
}

const FPS_WINDOW_MS = 2000;
const LATENCY_WINDOW = 64;

/**
 * What every source shares: the bounded buffer, counters, fps and latency, `next()`/`frames()`.
 * Subclasses capture and call `deliver()`; they call `finish()` at the end of a replay.
 */
export abstract class BufferedFrameSource implements FrameSource {
  readonly events = new EventEmitter<FrameSourceEvents>();
  identity: CameraIdentity | undefined;
  protected readonly clock: Clock;
  protected readonly buffer: FrameBuffer;
  protected startedAt = 0;
  protected running = false;
  protected restarts = 0;
  private seq = 0;
  private captured = 0;
  private delivered = 0;
  private captureTimes: number[] = [];
  private latencies: number[] = [];
  private latencyMax = 0;

  constructor(protected readonly common: SourceCommonOptions) {
    this.clock = common.clock ?? systemClock;
    this.buffer = new FrameBuffer(common.bufferFrames ?? 1);
  }

  abstract start(): Promise<void>;
  abstract stop(): Promise<void>;

  async next(signal?: AbortSignal): Promise<CameraFrame | undefined> {
    const b = await this.buffer.take(signal);
    if (!b) return undefined;
    this.delivered++;
    const latency = this.clock.now() - b.capturedAt;
    this.latencies.push(latency);
    if (this.latencies.length > LATENCY_WINDOW) this.latencies.shift();
    this.latencyMax = Math.max(this.latencyMax, latency);
    return b.frame;
  }

  async *frames(signal?: AbortSignal): AsyncIterableIterator<CameraFrame> {
    for (;;) {
      const f = await this.next(signal);
      if (!f) return;
      yield f;
    }
  }

  stats(): FrameSourceStats {
    const now = this.clock.now();
    this.trimCaptureTimes(now);
    const t = this.captureTimes;
    const fps = t.length >= 2 ? ((t.length - 1) * 1000) / Math.max(1, t[t.length - 1] - t[0]) : 0;
    const l = this.latencies;
    return {
      captured: this.captured,
      delivered: this.delivered,
      dropped: this.buffer.dropped,
      buffered: this.buffer.size,
      restarts: this.restarts,
      fps: Math.round(fps * 10) / 10,
      latencyMs: { last: l[l.length - 1] ?? 0, mean: l.length ? l.reduce((a, b) => a + b, 0) / l.length : 0, max: this.latencyMax },
      running: this.running,
    };
  }

  /** Resets counters and opens the buffer; call at the top of `start()`. */
  protected resetForStart(): void {
    this.buffer.reopen();
    this.seq = this.captured = this.delivered = this.restarts = this.latencyMax = 0;
    this.captureTimes = [];
    this.latencies = [];
    this.startedAt = this.clock.now();
  }

  /** Hands a captured frame to the buffer; `timeMs` defaults to the time since start. */
  protected deliver(image: RgbImage, timeMs?: number): void {
    const now = this.clock.now();
    this.captured++;
    this.captureTimes.push(now);
    this.trimCaptureTimes(now);
    this.buffer.push({ frame: { index: this.seq++, timeMs: timeMs ?? now - this.startedAt, image }, capturedAt: now });
  }

  /** Refuses a virtual camera unless allowed; records the identity. */
  protected admit(identity: CameraIdentity): void {
    if (identity.virtual && !this.common.allowVirtual) {
      throw new KioskError('E_CAMERA_VIRTUAL', `refusing a virtual camera (${identity.virtualReason ?? 'virtual'}); set camera.allowVirtual to use it`, {
        subject: identity.device,
        details: { identity },
      });
    }
    this.identity = identity;
  }

  private trimCaptureTimes(now: number): void {
    while (this.captureTimes.length && now - this.captureTimes[0] > FPS_WINDOW_MS) this.captureTimes.shift();
  }
}
