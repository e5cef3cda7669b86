import type { RgbImage } from '../../base/rgb-image.js';
import type { TimerHandle } from '../../base/clock.js';
import { BufferedFrameSource, type SourceCommonOptions } from './base-source.js';
import type { CameraIdentity } from './frame-source.js';

export interface FakeSourceOptions extends SourceCommonOptions {
  width: number;
  height: number;
  /** Produce frames on the clock at this rate; 0 = only when `emit()` is called. Default 30. */
  fps?: number;
  /** Frames to cycle through; default a generated pattern whose first bytes encode the frame number. */
  images?: readonly RgbImage[];
  /** Delay of the simulated restart after `crash()`, ms (default 50). */
  restartMs?: number;
  identity?: CameraIdentity;
}

/** The pattern of generated frame `n`: byte i is (i + n) mod 251, so a misplaced or stale frame shows. */
export function fakeFrame(width: number, height: number, n: number): RgbImage {
  const size = width * height * 3;
  let ramp = ramps.get(size);
  if (!ramp) {
    ramp = Uint8Array.from({ length: size + 251 }, (_, i) => i % 251);
    ramps.set(size, ramp);
  }
  const k = n % 251;
  return { width, height, data: ramp.slice(k, k + size) }; // a copy: consumers may keep or modify frames
}

const ramps = new Map<number, Uint8Array>();

/**
 * A camera in memory with the same behaviour as the real ones (bounded buffer, drops, restart
 * events), for tests and the simulated kiosk. `crash()` simulates the capture process dying.
 */
export class FakeFrameSource extends BufferedFrameSource {
  private timer?: TimerHandle;
  private n = 0;
  private started = false;

  constructor(private readonly opts: FakeSourceOptions) {
    super(opts);
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.resetForStart();
    this.admit(this.opts.identity ?? { kind: 'fake', device: 'fake:0', driver: 'fake', virtual: true, virtualReason: 'in-memory fake camera' });
    this.started = true;
    this.running = true;
    this.events.emit('started', { attempt: 0 });
    this.schedule();
  }

  async stop(): Promise<void> {
    this.started = this.running = false;
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.buffer.close();
  }

  /** Captures one frame now (the next of `images`, or the generated pattern). */
  emit(image?: RgbImage): void {
    if (!this.running) return;
    const imgs = this.opts.images;
    const img = image ?? (imgs?.length ? imgs[this.n % imgs.length] : fakeFrame(this.opts.width, this.opts.height, this.n));
    this.n++;
    this.deliver(img);
  }

  /** Simulates the capture process dying: `exited`, `restarting`, then `started` again after `restartMs`. */
  crash(): void {
    if (!this.running) return;
    this.running = false;
    this.clock.clearTimeout(this.timer);
    const delayMs = this.opts.restartMs ?? 50;
    this.events.emit('exited', { code: null, signal: 'SIGKILL', reason: 'simulated crash' });
    this.events.emit('restarting', { attempt: 1, delayMs, reason: 'simulated crash' });
    this.timer = this.clock.setTimeout(() => {
      if (!this.started) return;
      this.restarts++;
      this.running = true;
      this.events.emit('started', { attempt: this.restarts });
      this.schedule();
    }, delayMs);
  }

  private schedule(): void {
    const fps = this.opts.fps ?? 30;
    if (fps <= 0) return;
    this.timer = this.clock.setTimeout(() => {
      this.emit();
      this.schedule();
    }, 1000 / fps);
  }
}
