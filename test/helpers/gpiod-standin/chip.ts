/**
 * STAND-IN FOR HARDWARE THAT DOES NOT EXIST HERE. This machine has no /dev/gpiochip*, no gpio-sim and
 * no gpio-mockup, so the gpiod GPIO port is tested against an emulated chip: this class is the chip
 * (lines, levels, who holds each line), served on a unix socket; `bin/gpio*` are stand-in libgpiod v1
 * tools (gpiodetect, gpiofind, gpioinfo, gpioget, gpioset, gpiomon; see tool.mjs) that the test puts
 * first on PATH. What is emulated, as the kernel and gpiod 1.6.3 behave: a line requested by one
 * process is busy (EBUSY) for others; a process's lines are released when it exits, however it exits;
 * gpiomon prints one line per edge in the --format it was given (block-buffered without
 * --line-buffered); gpioset --mode=signal holds its level until SIGTERM/SIGINT; output texts and exit
 * codes follow the tools' --help and libgpiod's own tool tests. Not emulated: bias, drive modes,
 * -l/--active-low on gpiomon, event timestamps from a real clock source, more than one chip.
 * A released output keeps its last level here (what SoC drivers usually do; the kernel leaves it undefined).
 */
import { rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface Line {
  level: boolean;
  direction: 'input' | 'output';
  consumer: string | null;
  holder?: Socket;
  monitor?: Socket;
}

/** Options of the emulated chip. */
export interface StandInChipOptions {
  /** Chip label as gpiodetect prints it (default `pinctrl-bcm2711`, so BCM numbers resolve). */
  label?: string;
  /** Number of lines (default 58). */
  lines?: number;
  /** Line names by offset (gpiofind, gpioinfo). */
  names?: Record<number, string>;
  /** What `--version` prints as the libgpiod version (default `1.6.3`). */
  version?: string;
}

export const STANDIN_BIN = join(dirname(fileURLToPath(import.meta.url)), 'bin');

/** One emulated gpiochip0 and the environment that makes the stand-in tools talk to it. */
export class StandInChip {
  readonly name = 'gpiochip0';
  private readonly state: Line[];
  private server?: Server;
  private socketPath = '';
  private clients = new Set<Socket>();

  constructor(private readonly options: StandInChipOptions = {}) {
    this.state = Array.from({ length: options.lines ?? 58 }, () => ({ level: false, direction: 'input' as const, consumer: null }));
  }

  /** Starts serving on `<dir>/gpiochip0.sock`. */
  async start(dir: string): Promise<void> {
    this.socketPath = join(dir, 'gpiochip0.sock');
    rmSync(this.socketPath, { force: true });
    this.server = createServer((socket) => this.connection(socket));
    await new Promise<void>((resolve) => this.server!.listen(this.socketPath, resolve));
  }

  /** Environment for the port: stand-ins first on PATH, the socket of this chip. */
  env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return {
      ...process.env,
      PATH: `${STANDIN_BIN}:${process.env.PATH ?? ''}`,
      GPIOD_STANDIN_SOCKET: this.socketPath,
      GPIOD_STANDIN_VERSION: this.options.version ?? '1.6.3',
      ...extra,
    };
  }

  /** Sets an input's electrical level as the outside world would; true when a gpiomon was sent the edge. */
  drive(offset: number, high: boolean): boolean {
    const line = this.state[offset];
    if (line.consumer && line.direction === 'output') throw new Error(`line ${offset} is an output held by ${line.consumer}`);
    if (line.level === high) return false;
    line.level = high;
    if (!line.monitor) return false;
    const ns = process.hrtime.bigint();
    line.monitor.write(JSON.stringify({ event: { offset, rising: high, sec: String(ns / 1_000_000_000n), nsec: String(ns % 1_000_000_000n) } }) + '\n');
    return true;
  }

  /** A line's electrical level. */
  level(offset: number): boolean {
    return this.state[offset].level;
  }

  /** Who holds a line (`gpioset`, `gpiomon`) or null. */
  consumer(offset: number): string | null {
    return this.state[offset].consumer;
  }

  async stop(): Promise<void> {
    for (const c of this.clients) c.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private connection(socket: Socket): void {
    this.clients.add(socket);
    let buffered = '';
    socket.on('data', (chunk) => {
      buffered += chunk.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const request = JSON.parse(buffered.slice(0, nl)) as Record<string, unknown>;
        buffered = buffered.slice(nl + 1);
        socket.write(JSON.stringify(this.handle(socket, request)) + '\n');
      }
    });
    // The kernel releases a process's line requests when its file descriptors close, however it ends.
    socket.on('close', () => {
      this.clients.delete(socket);
      this.release(socket);
    });
    socket.on('error', () => {});
  }

  private release(socket: Socket): void {
    for (const line of this.state) {
      if (line.holder === socket) Object.assign(line, { consumer: null, holder: undefined, monitor: undefined });
    }
  }

  private handle(socket: Socket, r: Record<string, unknown>): Record<string, unknown> {
    if (r.op === 'release') {
      this.release(socket);
      return { ok: true };
    }
    if (r.op === 'detect') return { chips: [{ name: this.name, label: this.options.label ?? 'pinctrl-bcm2711', lines: this.state.length }] };
    if (r.op === 'find') {
      const hit = Object.entries(this.options.names ?? {}).find(([, n]) => n === r.name);
      return hit ? { chip: this.name, offset: Number(hit[0]) } : {};
    }
    if (r.chip !== this.name && r.chip !== '0') return { error: 'ENOENT' };
    if (r.op === 'info') {
      return {
        label: this.options.label ?? 'pinctrl-bcm2711',
        lines: this.state.map((l, i) => ({ offset: i, name: this.options.names?.[i] ?? null, consumer: l.consumer, direction: l.direction })),
      };
    }
    const offsets = r.offsets as number[];
    if (offsets.some((o) => !this.state[o])) return { error: 'EINVAL' };
    if (offsets.some((o) => this.state[o].consumer)) return { error: 'EBUSY' };
    if (r.op === 'get') return { values: offsets.map((o) => (this.state[o].level ? 1 : 0)) };
    if (r.op === 'set') {
      const values = r.values as number[];
      offsets.forEach((o, i) => Object.assign(this.state[o], { level: values[i] === 1, direction: 'output', consumer: 'gpioset', holder: socket }));
      return { ok: true };
    }
    if (r.op === 'monitor') {
      for (const o of offsets) Object.assign(this.state[o], { direction: 'input', consumer: 'gpiomon', holder: socket, monitor: socket });
      return { ok: true };
    }
    return { error: 'EINVAL' };
  }
}
