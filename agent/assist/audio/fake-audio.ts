/**
 * In-memory audio devices with the real ones' behaviour (same contract suite): a tone generator as
 * the microphone and a speaker that keeps what it is given, for tests and trials without ALSA.
 * The fake speaker keeps samples in memory (bounded) so that tests can analyse them; the real
 * devices keep nothing.
 */
import { EventEmitter } from 'node:events';
import {
  audioError,
  LevelMeter,
  samplesPer10ms,
  type AudioCapture,
  type AudioDeviceEvents,
  type AudioFailure,
  type AudioFrame,
  type AudioPlayback,
  type AudioStats,
} from './audio-device.js';

export interface ToneCaptureOptions {
  sampleRate: number;
  /** Tone frequency, Hz (default 440). */
  frequency?: number;
  /** Peak amplitude (default 8000 of 32767). */
  amplitude?: number;
  /** `start()` rejects with this reason, like a missing device. */
  fail?: AudioFailure;
}

/** A sine tone in 10 ms frames on the real clock (paced: frames due since start are delivered each tick). */
export class ToneAudioCapture implements AudioCapture {
  readonly events = new EventEmitter<AudioDeviceEvents>();
  readonly sampleRate: number;
  private timer?: NodeJS.Timeout;
  private n = 0;
  private t0 = 0;
  private onFrame?: (f: AudioFrame) => void;
  private meter = new LevelMeter();

  constructor(private readonly opts: ToneCaptureOptions) {
    this.sampleRate = opts.sampleRate;
  }

  async start(onFrame: (frame: AudioFrame) => void): Promise<void> {
    if (this.timer) return;
    if (this.opts.fail) throw audioError(`fake microphone: ${this.opts.fail}`, this.opts.fail, 'fake:tone');
    this.onFrame = onFrame;
    this.n = 0;
    this.meter = new LevelMeter();
    this.t0 = performance.now();
    this.timer = setInterval(() => this.tick(), 10);
    this.tick();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    this.onFrame = undefined;
  }

  /** Makes the running fake fail like a device unplugged mid-call. */
  crash(): void {
    if (!this.timer) return;
    void this.stop();
    this.events.emit('failed', { error: audioError('fake microphone stopped', 'exited', 'fake:tone') });
  }

  stats(): AudioStats {
    return { running: this.timer !== undefined, frames: this.n, samples: this.meter.samples, peak: this.meter.peak, rms: this.meter.rms };
  }

  private tick(): void {
    const due = Math.floor((performance.now() - this.t0) / 10) + 1;
    // After a stall (a blocked event loop) at most 0.5 s is caught up.
    if (due - this.n > 50) this.n = due - 50;
    while (this.n < due && this.onFrame) this.onFrame(this.frame(this.n++));
  }

  private frame(n: number): AudioFrame {
    const len = samplesPer10ms(this.sampleRate);
    const samples = new Int16Array(len);
    const w = (2 * Math.PI * (this.opts.frequency ?? 440)) / this.sampleRate;
    const a = this.opts.amplitude ?? 8000;
    for (let i = 0; i < len; i++) samples[i] = Math.round(a * Math.sin(w * (n * len + i)));
    this.meter.add(samples);
    return { samples, sampleRate: this.sampleRate };
  }
}

export interface MemoryPlaybackOptions {
  sampleRate: number;
  /** Most samples kept (the oldest are dropped beyond it); default 30 s. */
  keepSamples?: number;
  /** `start()` rejects with this reason. */
  fail?: AudioFailure;
}

/** A speaker that keeps the last samples written to it (in memory only). */
export class MemoryAudioPlayback implements AudioPlayback {
  readonly events = new EventEmitter<AudioDeviceEvents>();
  readonly sampleRate: number;
  private running = false;
  private frames = 0;
  private meter = new LevelMeter();
  private chunks: Int16Array[] = [];
  private kept = 0;

  constructor(private readonly opts: MemoryPlaybackOptions) {
    this.sampleRate = opts.sampleRate;
  }

  async start(): Promise<void> {
    if (this.running) return;
    if (this.opts.fail) throw audioError(`fake speaker: ${this.opts.fail}`, this.opts.fail, 'fake:speaker');
    this.running = true;
    this.frames = 0;
    this.meter = new LevelMeter();
    this.chunks = [];
    this.kept = 0;
  }

  write(samples: Int16Array): void {
    if (!this.running) return;
    this.frames += 1;
    this.meter.add(samples);
    this.chunks.push(samples.slice());
    this.kept += samples.length;
    const keep = this.opts.keepSamples ?? this.sampleRate * 30;
    while (this.kept - this.chunks[0].length >= keep) this.kept -= this.chunks.shift()!.length;
  }

  async stop(): Promise<void> {
    this.running = false;
  }

  /** The samples kept since the last start (tests analyse them). */
  received(): Int16Array {
    const out = new Int16Array(this.kept);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }

  stats(): AudioStats {
    return { running: this.running, frames: this.frames, samples: this.meter.samples, peak: this.meter.peak, rms: this.meter.rms };
  }
}
