/**
 * The audio devices of a remote-assistance call: the kiosk microphone (`AudioCapture`) and speaker
 * (`AudioPlayback`). The real ones are ffmpeg children on ALSA (ffmpeg-audio.ts), the fakes live in
 * memory (fake-audio.ts); all pass one contract suite (test/contracts/assist-audio.contract.ts).
 * Audio exists only in memory and in the pipes to these children: nothing here records, stores or
 * logs samples; stats carry levels and counts only.
 */
import type { EventEmitter } from 'node:events';
import { KioskError, type ErrorCode } from '../../../base/errors.js';

/** A block of 16-bit mono PCM; a capture delivers exactly 10 ms per frame (`sampleRate / 100` samples). */
export interface AudioFrame {
  samples: Int16Array;
  sampleRate: number;
}

/** Samples in one 10 ms frame (what `RTCAudioSource.onData` takes). */
export function samplesPer10ms(sampleRate: number): number {
  return sampleRate / 100;
}

/** Sample rates a device may be configured with (each a whole number of samples per 10 ms). */
export const AUDIO_SAMPLE_RATES = [8000, 16000, 24000, 32000, 48000] as const;

/**
 * Why an audio device is unusable (`details.reason` of its error): the ALSA device cannot be opened,
 * ffmpeg is not installed, the device opened but gave no audio in time, or the child died mid-call.
 */
export type AudioFailure = 'no_device' | 'ffmpeg_missing' | 'no_audio' | 'exited';

/** Counters and levels since `start()`: never samples. */
export interface AudioStats {
  running: boolean;
  /** Frames delivered (capture) or written (playback) since start. */
  frames: number;
  /** Samples delivered or written since start. */
  samples: number;
  /** Largest absolute sample value since start (0..32768). */
  peak: number;
  /** Root mean square of all samples since start (0..32768). */
  rms: number;
  /** Pid of the child process while it runs (ffmpeg devices only). */
  pid?: number;
}

/** Lifecycle events; payloads carry codes and reasons, never audio. */
export interface AudioDeviceEvents {
  /** A running device stopped working (the child died): the call goes on without it. */
  failed: [{ error: KioskError }];
}

/** The microphone. */
export interface AudioCapture {
  readonly events: EventEmitter<AudioDeviceEvents>;
  readonly sampleRate: number;
  /**
   * Opens the microphone; resolves once the first audio has arrived, rejects with a KioskError whose
   * `details.reason` is an `AudioFailure` when it cannot. Frames go to `onFrame` until `stop()`.
   * Can be started again after `stop()`.
   */
  start(onFrame: (frame: AudioFrame) => void): Promise<void>;
  /** Closes the microphone and waits for its child to exit; no frame is delivered after it resolves. */
  stop(): Promise<void>;
  stats(): AudioStats;
}

/** The speaker. */
export interface AudioPlayback {
  readonly events: EventEmitter<AudioDeviceEvents>;
  readonly sampleRate: number;
  /** Opens the speaker; rejects (reason `ffmpeg_missing`, ...) when it cannot be started at all. */
  start(): Promise<void>;
  /** Plays mono samples at `sampleRate`; dropped (never queued without bound) when not running or behind. */
  write(samples: Int16Array): void;
  /** Closes the speaker and waits for its child to exit. */
  stop(): Promise<void>;
  stats(): AudioStats;
}

/** The microphone and speaker a call uses. */
export interface AudioDevices {
  capture: AudioCapture;
  playback: AudioPlayback;
}

/** The error of an unusable audio device. */
export function audioError(message: string, reason: AudioFailure, subject: string, cause?: unknown, code: ErrorCode = 'E_DEVICE'): KioskError {
  return new KioskError(code, message, { subject, cause, details: { reason } });
}

/** The `AudioFailure` of an error from a device (`exited` for anything else). */
export function audioFailureOf(err: unknown): AudioFailure {
  const reason = err instanceof KioskError ? err.details?.reason : undefined;
  return reason === 'no_device' || reason === 'ffmpeg_missing' || reason === 'no_audio' ? reason : 'exited';
}

/** Running peak and RMS of the samples seen (levels only). */
export class LevelMeter {
  private peakAbs = 0;
  private sumSquares = 0;
  private count = 0;

  add(samples: Int16Array): void {
    let peak = this.peakAbs;
    let sum = 0;
    for (let i = 0; i < samples.length; i++) {
      const v = samples[i];
      const a = v < 0 ? -v : v;
      if (a > peak) peak = a;
      sum += v * v;
    }
    this.peakAbs = peak;
    this.sumSquares += sum;
    this.count += samples.length;
  }

  get samples(): number {
    return this.count;
  }

  get peak(): number {
    return this.peakAbs;
  }

  get rms(): number {
    return this.count ? Math.sqrt(this.sumSquares / this.count) : 0;
  }
}
