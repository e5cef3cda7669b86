import type { ChildProcess } from 'node:child_process';
import { access } from 'node:fs/promises';
import { KioskError, toKioskError } from '../../base/errors.js';
import { decoderMissing, startChild, stopChild, TailBuffer, type Exit, type MediaTools } from '../../base/process.js';
import { FrameSplitter } from '../media/frame-splitter.js';
import type { TimerHandle } from '../../base/clock.js';
import { BufferedFrameSource, type SourceCommonOptions } from './base-source.js';
import type { CaptureCommand } from './commands.js';
import type { CameraIdentity } from './frame-source.js';
import { exponentialDelay, RESTART_BACKOFF, type BackoffOptions } from '../../base/backoff.js';

/** Restart delays: `min(capMs, baseMs * 2^attempt)`; the attempt count resets once a frame arrives. */
/** Restart delays (default RESTART_BACKOFF: 500 ms doubling to 10 s). */
export type RestartPolicy = BackoffOptions;

export interface PipeSourceOptions extends SourceCommonOptions {
  command: CaptureCommand;
  /** Identifies the camera at each (re)start: a replugged device may be another camera. */
  identify: () => Promise<CameraIdentity>;
  /** Device node whose absence means "unplugged" (V4L2); checked after the process dies. */
  deviceNode?: string;
  restart?: RestartPolicy;
  /** No frame for this long kills the process to restart it, ms (default 5000; 0 = never). */
  stallMs?: number;
  spawn?: MediaTools['spawn'];
}

/**
 * A camera read from a child process that writes raw frames to stdout (ffmpeg, rpicam-vid,
 * gst-launch-1.0). The pipe is read continuously and cut into frames by byte count; frames go to the
 * bounded buffer (dropped, never queued, when the consumer is slow). When the process dies, stalls
 * or the camera is unplugged, it is restarted with exponential backoff until `stop()`.
 */
export class PipeFrameSource extends BufferedFrameSource {
  private child?: ChildProcess;
  private exited?: Promise<Exit>;
  private stopping = false;
  private attempt = 0;
  private restartTimer?: TimerHandle;
  private stallTimer?: TimerHandle;
  private unplugged = false;
  private lastStderr = new TailBuffer();

  constructor(private readonly opts: PipeSourceOptions) {
    super(opts);
  }

  /** Pid of the running capture process (tests kill it to check recovery). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    if (this.running || this.child) return;
    this.stopping = false;
    this.attempt = 0;
    this.resetForStart();
    this.admit(await this.opts.identify());
    await this.launch();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.clock.clearTimeout(this.restartTimer);
    this.clock.clearTimeout(this.stallTimer);
    this.restartTimer = this.stallTimer = undefined;
    const child = this.child;
    const exited = this.exited;
    this.child = this.exited = undefined;
    this.running = false;
    this.buffer.close();
    if (child && exited) await stopChild(child, exited);
  }

  /** Spawns the process; resolves once it has started (rejects if it cannot be started at all). */
  private async launch(): Promise<void> {
    const { command } = this.opts;
    const { child, exited, spawned } = startChild(command.file, command.args, { stdio: ['ignore', 'pipe', 'pipe'] }, this.opts.spawn);
    if (!(await spawned)) {
      const exit = await exited;
      throw command.file.endsWith('ffmpeg')
        ? decoderMissing(command.file, exit.spawnError)
        : new KioskError('E_CAMERA', `cannot start ${command.file}: ${(exit.spawnError as Error)?.message}`, { subject: command.file, cause: exit.spawnError });
    }
    if (this.stopping) {
      await stopChild(child, exited); // stop() came while the process was starting
      return;
    }
    this.child = child;
    this.exited = exited;
    this.running = true;
    const stderr = (this.lastStderr = new TailBuffer());
    child.stderr!.on('data', (c: Buffer) => stderr.push(c));
    const splitter = new FrameSplitter(command.layout.frameBytes);
    child.stdout!.on('data', (chunk: Buffer) => {
      for (const bytes of splitter.push(chunk)) {
        this.attempt = 0;
        this.armStall();
        this.deliver(command.layout.toRgb(bytes));
      }
    });
    child.stdout!.on('error', () => {}); // the exit status below says what happened
    this.armStall();
    this.events.emit('started', { attempt: this.restarts, pid: child.pid });
    void exited.then((exit) => this.onExit(child, exit));
  }

  private armStall(): void {
    const ms = this.opts.stallMs ?? 5000;
    if (ms <= 0) return;
    this.clock.clearTimeout(this.stallTimer);
    const child = this.child;
    this.stallTimer = this.clock.setTimeout(() => {
      if (this.child !== child || this.stopping) return;
      this.events.emit('stalled', { sinceMs: ms });
      child?.kill('SIGKILL');
    }, ms);
  }

  private onExit(child: ChildProcess, exit: Exit): void {
    if (this.child !== child || this.stopping) return;
    this.child = this.exited = undefined;
    this.running = false;
    this.clock.clearTimeout(this.stallTimer);
    const reason = this.lastStderr.summary() || `${this.opts.command.file} exited with ${exit.code ?? exit.signal}`;
    this.events.emit('exited', { code: exit.code, signal: exit.signal, reason });
    void this.scheduleRestart(reason);
  }

  private async scheduleRestart(reason: string): Promise<void> {
    const node = this.opts.deviceNode;
    if (node) {
      const present = await access(node).then(
        () => true,
        () => false,
      );
      if (!present && !this.unplugged) this.events.emit('unplugged', { device: node });
      if (present && this.unplugged) this.events.emit('replugged', { device: node });
      this.unplugged = !present;
      if (this.stopping) return;
    }
    const delayMs = exponentialDelay(this.attempt, { ...RESTART_BACKOFF, ...this.opts.restart });
    this.attempt++;
    this.events.emit('restarting', { attempt: this.attempt, delayMs, reason: this.unplugged ? `${node} is gone (unplugged)` : reason });
    this.restartTimer = this.clock.setTimeout(() => void this.restartNow(), delayMs);
  }

  private async restartNow(): Promise<void> {
    this.restartTimer = undefined;
    if (this.stopping) return;
    try {
      if (this.unplugged) throw new KioskError('E_CAMERA', 'camera unplugged', { subject: this.opts.deviceNode });
      this.admit(await this.opts.identify());
      if (this.stopping) return;
      this.restarts++;
      await this.launch();
    } catch (err) {
      if (this.stopping) return;
      const error = toKioskError(err, 'E_CAMERA', this.opts.command.file);
      if (error.code !== 'E_CAMERA' || !this.unplugged) this.events.emit('failed', { error });
      await this.scheduleRestart(error.message);
    }
  }
}
