/**
 * Child processes, one way for the whole agent: `startChild` spawns (through an injectable spawner)
 * and gives the exit and start promises; `stopChild` stops; `runToEnd` runs a short command.
 */
import { spawn as nodeSpawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { KioskError } from './errors.js';

/** Spawns a process (default `child_process.spawn`); tests pass stand-ins. */
export type Spawn = (command: string, args: readonly string[], options: SpawnOptions) => ChildProcess;

/** The external decoders; passed in so that tests and odd installs can point elsewhere. */
export interface MediaTools {
  /** ffmpeg executable; default `ffmpeg` from PATH (Debian package `ffmpeg`). */
  ffmpegPath?: string;
  /** ffprobe executable; default `ffprobe` from PATH. */
  ffprobePath?: string;
  /** Process spawner; default `child_process.spawn`. */
  spawn?: Spawn;
}

/** Keeps the last `limit` characters of a stream (ffmpeg's stderr can be long; we only need the end). */
export class TailBuffer {
  private text = '';
  constructor(private readonly limit = 4096) {}
  push(chunk: Buffer | string): void {
    this.text = (this.text + chunk.toString()).slice(-this.limit);
  }
  get value(): string {
    return this.text;
  }
  /**
   * The last distinct messages (at most `count`), without ffmpeg's `[demuxer @ 0x...]` prefixes and
   * without the `file:/abs/path: ` the input name adds (the error names the file already).
   */
  summary(count = 2): string {
    const lines = this.text
      .split('\n')
      .map((l) =>
        l
          .replace(/^\[[^\]]*@ 0x[0-9a-f]+\]\s*/, '')
          .replace(/^file:.*?: (?=[A-Z])/, '')
          .trim(),
      )
      .filter(Boolean);
    const distinct = lines.filter((l, i) => lines.indexOf(l) === i);
    return distinct.slice(-count).join('; ').slice(0, 300);
  }
}

/** The error for a decoder that could not be started. */
export function decoderMissing(command: string, err: unknown): KioskError {
  const code = (err as NodeJS.ErrnoException)?.code;
  const reason = code === 'ENOENT' ? 'not found' : code === 'EACCES' ? 'not executable' : `failed to start (${(err as Error)?.message ?? String(err)})`;
  return new KioskError('E_DECODER_MISSING', `${command} ${reason}; install the Debian package ffmpeg`, { subject: command, cause: err });
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not be started at all. */
  spawnError?: unknown;
}

/** Resolves once the child has exited and its pipes closed (or failed to start). Never rejects. */
export function exitOf(child: ChildProcess): Promise<Exit> {
  return new Promise((resolve) => {
    let spawnError: unknown;
    child.once('error', (err) => {
      spawnError = err;
      // A child that never started emits 'close' too, but not on every Node version: resolve here as well.
      if (child.pid === undefined) resolve({ code: null, signal: null, spawnError: err });
    });
    child.once('close', (code, signal) => resolve({ code, signal, spawnError }));
  });
}

/** True once the child has started, false when it could not be started at all (see exitOf for why). */
export function spawned(child: ChildProcess): Promise<boolean> {
  return new Promise((resolve) => {
    child.once('spawn', () => resolve(true));
    child.once('error', () => resolve(false));
  });
}

/** A started child: its exit (never rejects) and whether it started at all. */
export interface Child {
  child: ChildProcess;
  exited: Promise<Exit>;
  /** True once running, false when it could not be started (ENOENT, EACCES: see `exited.spawnError`). */
  spawned: Promise<boolean>;
}

/** Spawns `command` with `spawn` (default `child_process.spawn`). */
export function startChild(command: string, args: readonly string[], options: SpawnOptions, spawn: Spawn = nodeSpawn): Child {
  const child = spawn(command, args, options);
  return { child, exited: exitOf(child), spawned: spawned(child) };
}

/**
 * Stops a child and waits for it: SIGTERM, then SIGKILL after `graceMs`. Safe to call on a child
 * that already exited. ffmpeg exits 255 on SIGTERM.
 */
export async function stopChild(child: ChildProcess, exited: Promise<Exit>, graceMs = 2000): Promise<void> {
  child.stdout?.destroy();
  child.stderr?.destroy();
  if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    timer.unref();
    await exited;
    clearTimeout(timer);
  } else {
    await exited;
  }
}

/** Runs a short command to completion, collecting stdout (bounded) and the stderr tail. */
export async function runToEnd(
  tools: MediaTools,
  command: string,
  args: readonly string[],
  maxStdout = 1 << 20,
): Promise<{ exit: Exit; stdout: string; stderr: TailBuffer }> {
  const { child, exited } = startChild(command, args, { stdio: ['ignore', 'pipe', 'pipe'] }, tools.spawn);
  const out: Buffer[] = [];
  let outBytes = 0;
  const stderr = new TailBuffer();
  child.stdout?.on('data', (c: Buffer) => {
    outBytes += c.length;
    if (outBytes <= maxStdout) out.push(c);
    else child.kill('SIGKILL');
  });
  child.stderr?.on('data', (c: Buffer) => stderr.push(c));
  const exit = await exited;
  if (outBytes > maxStdout) throw new KioskError('E_INTERNAL', `${command} wrote more than ${maxStdout} bytes`, { subject: command });
  return { exit, stdout: Buffer.concat(out).toString('utf8'), stderr };
}
