import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { KioskError } from '../../base/errors.js';
import { startChild, stopChild, TailBuffer, type Exit, type Spawn } from '../../base/process.js';
import type { Clock, TimerHandle } from '../../base/clock.js';
import { toolsMissing } from './gpiod-tools.js';
import { exponentialDelay, RESTART_BACKOFF, type BackoffOptions } from '../../base/backoff.js';

export type { Spawn } from '../../base/process.js';

/** Restart delays (default RESTART_BACKOFF: 500 ms doubling to 10 s). */
export type GpiodRestartPolicy = BackoffOptions;

export interface SupervisedToolDeps {
  tool: string;
  /** Arguments of the next (re)start (an output's gpioset carries the last written level). */
  args: () => string[];
  /** What the error names: `gpiochip0` (a gpiomon) or `gpiochip0:22` (a gpioset). */
  subject: string;
  details: Record<string, unknown>;
  clock: Clock;
  spawn: Spawn;
  env?: NodeJS.ProcessEnv;
  restart?: GpiodRestartPolicy;
  /** Each stdout line. */
  onLine?: (line: string) => void;
  /** Runs before a restart spawns (a monitor re-reads levels it may have missed); a throw counts as a failed restart. */
  beforeRestart?: () => Promise<void>;
  /** Runs before each spawn (the lines must be free, so that `ready` sees this process hold them); a throw fails the (re)start. */
  vacant?: () => Promise<void>;
  /** Waits until the new process holds its lines; a throw counts as a failed start. */
  ready: (child: ChildProcess, exited: Promise<Exit>) => Promise<void>;
  /** An unexpected exit or a failed restart (E_GPIO, subject naming the chip or line). */
  onError: (error: KioskError) => void;
}

/**
 * One long-running gpiod tool (gpiomon, or gpioset --mode=signal): started, watched, restarted with
 * backoff when it exits on its own, stopped on request. The backoff attempt count resets when a
 * restart reaches `ready`.
 */
export class SupervisedTool {
  private child?: ChildProcess;
  private exited?: Promise<Exit>;
  private stopping = true;
  /**
   * Bumped by every start() and stop(): a restart that was in flight when they came is stale and
   * must not touch the process they started (it would stop a write's new gpioset).
   */
  private generation = 0;
  /** The current child reached `ready`: from then on its exit is supervised (before, the start fails). */
  private live = false;
  private attempt = 0;
  private timer?: TimerHandle;
  private stderr = new TailBuffer(1024);

  constructor(private readonly deps: SupervisedToolDeps) {}

  /** Pid of the running process (tests kill it to check recovery). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Spawns and waits for `ready`; rejects (and leaves nothing running) when that fails. */
  async start(): Promise<void> {
    this.stopping = false;
    this.attempt = 0;
    const generation = ++this.generation;
    try {
      await this.launch(generation);
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /** Stops the process (SIGTERM: gpioset releases its line, gpiomon its event request) and any pending restart. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.generation++;
    this.deps.clock.clearTimeout(this.timer);
    this.timer = undefined;
    const { child, exited } = this;
    this.child = this.exited = undefined;
    if (child && exited) await stopChild(child, exited);
  }

  private async launch(generation: number): Promise<void> {
    await this.deps.vacant?.();
    const { child, exited, spawned } = startChild(this.deps.tool, this.deps.args(), { stdio: ['ignore', 'pipe', 'pipe'], env: this.deps.env }, this.deps.spawn);
    if (!(await spawned)) throw toolsMissing(this.deps.tool, (await exited).spawnError);
    // stop() (or a stop and a new start) came while it was starting: this process is not wanted any more.
    if (this.stopping || generation !== this.generation) return stopChild(child, exited);
    this.child = child;
    this.exited = exited;
    this.live = false;
    const stderr = (this.stderr = new TailBuffer(1024));
    child.stderr!.on('data', (c: Buffer) => stderr.push(c));
    child.stdout!.on('error', () => {});
    if (this.deps.onLine) createInterface({ input: child.stdout! }).on('line', (l) => this.child === child && this.deps.onLine!(l));
    void exited.then((exit) => this.onExit(child, exit));
    try {
      await this.deps.ready(child, exited);
    } catch (err) {
      const why = stderr.summary();
      throw why
        ? new KioskError('E_GPIO', `${this.deps.tool} for ${this.deps.subject} did not start: ${why}`, {
            subject: this.deps.subject,
            cause: err,
            details: this.deps.details,
          })
        : err;
    }
    this.live = true;
  }

  private onExit(child: ChildProcess, exit: Exit): void {
    if (this.child !== child || this.stopping || !this.live) return;
    this.child = this.exited = undefined;
    const why = this.stderr.summary() || `exit ${exit.code ?? exit.signal}`;
    this.fail(
      new KioskError('E_GPIO', `${this.deps.tool} for ${this.deps.subject} exited unexpectedly (${why}); restarting`, {
        subject: this.deps.subject,
        details: { ...this.deps.details, code: exit.code, signal: exit.signal },
      }),
    );
  }

  private fail(error: KioskError): void {
    this.deps.onError(error);
    if (this.stopping) return;
    const delayMs = exponentialDelay(this.attempt, { ...RESTART_BACKOFF, ...this.deps.restart });
    this.attempt++;
    this.timer = this.deps.clock.setTimeout(() => void this.restart(), delayMs);
  }

  private async restart(): Promise<void> {
    this.timer = undefined;
    if (this.stopping) return;
    const generation = this.generation;
    const stale = () => this.stopping || generation !== this.generation;
    try {
      await this.deps.beforeRestart?.();
      if (stale()) return;
      await this.launch(generation);
      this.attempt = 0;
    } catch (err) {
      if (stale()) return;
      const { child, exited } = this;
      this.child = this.exited = undefined;
      if (child && exited) await stopChild(child, exited);
      const error =
        err instanceof KioskError
          ? err
          : new KioskError('E_GPIO', `restarting ${this.deps.tool} for ${this.deps.subject} failed: ${(err as Error)?.message}`, {
              subject: this.deps.subject,
              cause: err,
              details: this.deps.details,
            });
      this.fail(error);
    }
  }
}
