/**
 * The kiosk microphone and speaker as ffmpeg children on ALSA. Capture: `ffmpeg -f alsa -i <device>`
 * writing raw s16le mono to its stdout, cut into 10 ms frames; playback: raw s16le mono on ffmpeg's
 * stdin, played with `-f alsa <device>`. The only output of the capture child is its stdout pipe and
 * the only output of the playback child is the ALSA device: neither ever writes a file.
 */
import type { ChildProcess, StdioOptions } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { KioskError } from '../../../base/errors.js';
import { decoderMissing, startChild, stopChild, TailBuffer, type Exit, type MediaTools } from '../../../base/process.js';
import { FrameSplitter } from '../../../device/media/frame-splitter.js';
import {
  audioError,
  LevelMeter,
  samplesPer10ms,
  type AudioCapture,
  type AudioDeviceEvents,
  type AudioDevices,
  type AudioFrame,
  type AudioPlayback,
  type AudioStats,
} from './audio-device.js';
import { int16Of } from './pcm.js';

interface FfmpegCommon {
  /** ALSA PCM name: `default`, `plughw:1,0`, `dsnoop:1`, `null` (silence, for trials). */
  device: string;
  /** Samples per second, mono. */
  sampleRate: number;
  /** ffmpeg executable (default `ffmpeg` from PATH). */
  ffmpegPath?: string;
  spawn?: MediaTools['spawn'];
}

export interface FfmpegCaptureOptions extends FfmpegCommon {
  /** Input arguments instead of `-f alsa -i <device>` (tests: `-re -f lavfi -i sine=...`). */
  input?: string[];
  /** How long `start()` waits for the first audio, ms (default 3000). */
  startTimeoutMs?: number;
}

export interface FfmpegPlaybackOptions extends FfmpegCommon {
  /** Most audio waiting in the pipe before new samples are dropped, ms (default 200). */
  maxQueueMs?: number;
}

/** The capture child's arguments: one input, stdout as the only output. */
export function captureArgs(o: Pick<FfmpegCaptureOptions, 'device' | 'sampleRate' | 'input'>): string[] {
  const rate = String(o.sampleRate);
  const input = o.input ?? ['-f', 'alsa', '-channels', '1', '-sample_rate', rate, '-i', o.device];
  return [
    '-nostdin',
    '-hide_banner',
    '-nostats',
    '-loglevel',
    'error',
    ...input,
    '-vn',
    '-ac',
    '1',
    '-ar',
    rate,
    '-f',
    's16le',
    '-flush_packets',
    '1',
    'pipe:1',
  ];
}

/** The playback child's arguments: stdin as the only input, the ALSA device as the only output. */
export function playbackArgs(o: Pick<FfmpegPlaybackOptions, 'device' | 'sampleRate'>): string[] {
  const rate = String(o.sampleRate);
  // No probing: the format is given, and probing would hold back the first seconds of audio.
  return [
    '-hide_banner',
    '-nostats',
    '-loglevel',
    'error',
    '-probesize',
    '32',
    '-analyzeduration',
    '0',
    '-fflags',
    'nobuffer',
    '-f',
    's16le',
    '-ar',
    rate,
    '-ac',
    '1',
    '-i',
    'pipe:0',
    '-f',
    'alsa',
    o.device,
  ];
}

interface Run {
  child: ChildProcess;
  exited: Promise<Exit>;
  stderr: TailBuffer;
}

/** Spawns ffmpeg; rejects (reason `ffmpeg_missing`) when it cannot be started at all. */
async function launch(o: FfmpegCommon, args: string[], stdio: StdioOptions): Promise<Run> {
  const file = o.ffmpegPath ?? 'ffmpeg';
  const { child, exited, spawned } = startChild(file, args, { stdio }, o.spawn);
  if (!(await spawned)) {
    const exit = await exited;
    throw audioError(decoderMissing(file, exit.spawnError).message, 'ffmpeg_missing', file, exit.spawnError, 'E_DECODER_MISSING');
  }
  const stderr = new TailBuffer();
  child.stderr?.on('data', (c: Buffer) => stderr.push(c));
  return { child, exited, stderr };
}

/** The error for a child that ended: the device could not be opened, or it died. */
function endedError(run: Run, exit: Exit, o: FfmpegCommon, what: string): KioskError {
  const detail = run.stderr.summary() || `ffmpeg exited with ${exit.code ?? exit.signal}`;
  if (/cannot open audio device|Unknown PCM|No such device|Device or resource busy|Invalid argument/i.test(run.stderr.value)) {
    return audioError(`cannot open the ALSA ${what} device: ${detail}`, 'no_device', o.device);
  }
  return audioError(`the ${what} ffmpeg process ended: ${detail}`, 'exited', o.device);
}

/** Copy of the stats the two devices share. */
function statsOf(running: boolean, frames: number, meter: LevelMeter, run?: Run): AudioStats {
  return { running, frames, samples: meter.samples, peak: meter.peak, rms: meter.rms, ...(run?.child.pid ? { pid: run.child.pid } : {}) };
}

/** The microphone through ffmpeg (ALSA). */
export class FfmpegAudioCapture implements AudioCapture {
  readonly events = new EventEmitter<AudioDeviceEvents>();
  readonly sampleRate: number;
  private run?: Run;
  private live = false;
  private frames = 0;
  private meter = new LevelMeter();
  /** Counts `stop()` calls: a start that was overtaken by a stop kills its own child. */
  private stops = 0;

  constructor(private readonly opts: FfmpegCaptureOptions) {
    this.sampleRate = opts.sampleRate;
  }

  /** Pid of the running ffmpeg child. */
  get pid(): number | undefined {
    return this.run?.child.pid;
  }

  async start(onFrame: (frame: AudioFrame) => void): Promise<void> {
    if (this.run) return;
    this.frames = 0;
    this.meter = new LevelMeter();
    const stops = this.stops;
    const run = await launch(this.opts, captureArgs(this.opts), ['ignore', 'pipe', 'pipe']);
    if (stops !== this.stops) {
      await stopChild(run.child, run.exited);
      throw new KioskError('E_ABORTED', 'the microphone was closed while it was opening', { subject: this.opts.device });
    }
    this.run = run;
    const splitter = new FrameSplitter(samplesPer10ms(this.sampleRate) * 2);
    let heard: () => void = () => undefined;
    const firstAudio = new Promise<'audio'>((resolve) => {
      heard = () => resolve('audio');
    });
    run.child.stdout!.on('data', (chunk: Buffer) => {
      for (const bytes of splitter.push(chunk)) {
        if (this.run !== run) return;
        const samples = int16Of(bytes);
        this.frames += 1;
        this.meter.add(samples);
        heard();
        onFrame({ samples, sampleRate: this.sampleRate });
      }
    });
    run.child.stdout!.on('error', () => {}); // the exit status says what happened
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.opts.startTimeoutMs ?? 3000);
    });
    const outcome = await Promise.race([firstAudio, run.exited.then(() => 'exited' as const), timeout]);
    clearTimeout(timer);
    if (outcome === 'audio' && this.run === run) {
      this.live = true;
      void run.exited.then((exit) => this.onExit(run, exit));
      return;
    }
    const stoppedMeanwhile = this.run !== run;
    this.run = undefined;
    await stopChild(run.child, run.exited);
    if (stoppedMeanwhile) throw new KioskError('E_ABORTED', 'the microphone was closed while it was opening', { subject: this.opts.device });
    if (outcome === 'timeout')
      throw audioError(`no audio from the ALSA capture device within ${this.opts.startTimeoutMs ?? 3000} ms`, 'no_audio', this.opts.device);
    throw endedError(run, await run.exited, this.opts, 'capture');
  }

  async stop(): Promise<void> {
    this.stops += 1;
    const run = this.run;
    this.run = undefined;
    this.live = false;
    if (run) await stopChild(run.child, run.exited);
  }

  stats(): AudioStats {
    return statsOf(this.live, this.frames, this.meter, this.run);
  }

  private onExit(run: Run, exit: Exit): void {
    if (this.run !== run) return;
    this.run = undefined;
    this.live = false;
    this.events.emit('failed', { error: endedError(run, exit, this.opts, 'capture') });
  }
}

/** The speaker through ffmpeg (ALSA). */
export class FfmpegAudioPlayback implements AudioPlayback {
  readonly events = new EventEmitter<AudioDeviceEvents>();
  readonly sampleRate: number;
  private run?: Run;
  private frames = 0;
  private meter = new LevelMeter();
  private readonly maxQueueBytes: number;
  private stops = 0;

  constructor(private readonly opts: FfmpegPlaybackOptions) {
    this.sampleRate = opts.sampleRate;
    this.maxQueueBytes = Math.round(((opts.maxQueueMs ?? 200) / 1000) * opts.sampleRate) * 2;
  }

  /** Pid of the running ffmpeg child. */
  get pid(): number | undefined {
    return this.run?.child.pid;
  }

  async start(): Promise<void> {
    if (this.run) return;
    this.frames = 0;
    this.meter = new LevelMeter();
    const stops = this.stops;
    const run = await launch(this.opts, playbackArgs(this.opts), ['pipe', 'ignore', 'pipe']);
    run.child.stdin!.on('error', () => {}); // EPIPE when the child died: its exit is reported below
    if (stops !== this.stops) {
      run.child.stdin!.destroy();
      await stopChild(run.child, run.exited);
      throw new KioskError('E_ABORTED', 'the speaker was closed while it was opening', { subject: this.opts.device });
    }
    this.run = run;
    void run.exited.then((exit) => this.onExit(run, exit));
  }

  write(samples: Int16Array): void {
    const stdin = this.run?.child.stdin;
    if (!stdin?.writable || stdin.writableLength > this.maxQueueBytes) return;
    this.frames += 1;
    this.meter.add(samples);
    // A copy: the caller (wrtc's sink) may reuse its buffer.
    stdin.write(Buffer.from(new Uint8Array(samples.buffer, samples.byteOffset, samples.byteLength)));
  }

  async stop(): Promise<void> {
    this.stops += 1;
    const run = this.run;
    this.run = undefined;
    if (!run) return;
    run.child.stdin?.destroy();
    await stopChild(run.child, run.exited);
  }

  stats(): AudioStats {
    return statsOf(this.run !== undefined, this.frames, this.meter, this.run);
  }

  private onExit(run: Run, exit: Exit): void {
    if (this.run !== run) return;
    this.run = undefined;
    this.events.emit('failed', { error: endedError(run, exit, this.opts, 'playback') });
  }
}

/** The kiosk's microphone and speaker on ALSA (`assist.audio*` config keys). */
export function alsaAudio(o: { captureDevice: string; playbackDevice: string; sampleRate: number }): AudioDevices {
  return {
    capture: new FfmpegAudioCapture({ device: o.captureDevice, sampleRate: o.sampleRate }),
    playback: new FfmpegAudioPlayback({ device: o.playbackDevice, sampleRate: o.sampleRate }),
  };
}
