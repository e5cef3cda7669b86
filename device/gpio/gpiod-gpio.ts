import { EventEmitter } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { KioskError } from '../../base/errors.js';
import type { ChildProcess } from 'node:child_process';
import { runToEnd, startChild, type Exit } from '../../base/process.js';
import { systemClock, type Clock } from '../../base/clock.js';
import { findChipLine } from './chips.js';
import { DebouncedGpioPort } from './debounced-port.js';
import { SupervisedTool, type GpiodRestartPolicy, type Spawn } from './gpiod-child.js';
import {
  gpiogetArgs,
  gpiomonArgs,
  gpiosetArgs,
  parseDetectOutput,
  parseFindOutput,
  parseGetOutput,
  parseInfoOutput,
  parseMonitorLine,
  parseToolVersion,
  toolsMissing,
  type ChipLine,
  type GpiodTool,
} from './gpiod-tools.js';
import type { PinConfig, PinMap } from './gpio-port.js';

/** What the port reports besides the GpioPort interface. */
export interface GpiodGpioEvents {
  /** A gpiomon or gpioset exited on its own (it is restarted with backoff) or could not be restarted. */
  failed: [KioskError];
  /** A raw (not yet debounced) logical level of an input, from gpiomon or a re-read after a restart. */
  sample: [{ pin: string; value: boolean }];
}

export interface GpiodGpioDeps {
  pins: PinMap;
  clock?: Clock;
  /** Environment of the tools (PATH decides which gpioget/gpioset/gpiomon run); default this process's. */
  env?: NodeJS.ProcessEnv;
  spawn?: Spawn;
  /** Restart delays of gpiomon/gpioset children that exit on their own (default 500 ms doubling to 10 s). */
  restart?: GpiodRestartPolicy;
  /** Real time a started gpiomon/gpioset may take to hold its lines (seen in gpioinfo), ms (default 5000). */
  readyTimeoutMs?: number;
}

/**
 * GPIO through the character device (/dev/gpiochipN) with the libgpiod v1 tools, for kernels without
 * sysfs GPIO (JetPack 6). Inputs: one `gpiomon` per chip for the edges, levels at start (and after a
 * gpiomon restart) from `gpioget`. Outputs: one `gpioset --mode=signal` per line that holds the level
 * while it lives; a new level means stopping it and starting another (the line is released in
 * between, for the few ms that takes). Polarity is applied here, never with the tools' `-l`, so the
 * tools only ever see electrical levels. Debouncing is the shared DebouncedGpioPort's.
 */
export class GpiodGpioPort extends DebouncedGpioPort {
  readonly events = new EventEmitter<GpiodGpioEvents>();
  private lines = new Map<string, ChipLine>();
  private levels = new Map<string, boolean>();
  private monitors: SupervisedTool[] = [];
  private setters = new Map<string, { tool: SupervisedTool; high: boolean }>();
  private writes = new Map<string, Promise<void>>();
  private readonly spawn: Spawn;

  constructor(private readonly deps: GpiodGpioDeps) {
    super(deps.pins, deps.clock ?? systemClock);
    this.spawn = (command, args, options) => startChild(command, args, { ...options, env: deps.env ?? process.env }, deps.spawn).child;
  }

  /** Pids of the running gpiomon children, one per chip with inputs (tests kill them). */
  get monitorPids(): number[] {
    return this.monitors.map((m) => m.pid).filter((p): p is number => p !== undefined);
  }

  protected async openLines(): Promise<void> {
    const versionText = await this.exec('gpioset', ['--version']);
    const version = parseToolVersion(versionText);
    if (!version) throw new KioskError('E_GPIO', `cannot tell the libgpiod version from "${versionText.split('\n')[0]}"`, { subject: 'gpiod' });
    if (version.major !== 1) {
      throw new KioskError(
        'E_GPIO',
        `libgpiod v${version.major}.${version.minor} tools are not supported yet (only v1: their flags and output differ); install the distribution's gpiod 1.6 or use another driver`,
        { subject: 'gpiod', details: { version } },
      );
    }
    try {
      await this.resolveLines();
      const byChip = new Map<string, string[]>();
      for (const [name, p] of Object.entries(this.pins)) {
        if (p.direction !== 'in') continue;
        const chip = this.lines.get(name)!.chip;
        byChip.set(chip, [...(byChip.get(chip) ?? []), name]);
      }
      for (const [chip, pins] of byChip) {
        await this.readLevels(chip, pins);
        const offsets = pins.map((n) => this.lines.get(n)!.offset);
        const monitor = this.tool('gpiomon', () => gpiomonArgs(chip, offsets), chip, { pins }, offsets, {
          onLine: (line) => this.onEvent(chip, line),
          // Edges during the restart gap are lost: re-read the levels before monitoring again.
          beforeRestart: () => this.readLevels(chip, pins),
        });
        this.monitors.push(monitor);
        await monitor.start();
      }
    } catch (err) {
      await this.closeLines();
      throw err;
    }
  }

  /** Inputs: the latest level (start reads it right after openLines, so no edge is lost between). */
  protected async readLine(pin: string): Promise<boolean> {
    return this.levels.get(pin) ?? false;
  }

  protected writeLine(pin: string, config: PinConfig, value: boolean): Promise<void> {
    const high = value !== (config.activeLow ?? false);
    // One gpioset per line at a time: writes to a line run in order.
    const next = (this.writes.get(pin) ?? Promise.resolve()).catch(() => {}).then(() => this.drive(pin, high));
    this.writes.set(pin, next);
    return next;
  }

  protected async closeLines(): Promise<void> {
    await Promise.allSettled([...this.writes.values()]);
    const tools = [...this.monitors, ...[...this.setters.values()].map((s) => s.tool)];
    this.monitors = [];
    this.setters.clear();
    this.writes.clear();
    await Promise.all(tools.map((t) => t.stop()));
    this.lines.clear();
    this.levels.clear();
  }

  private async drive(pin: string, high: boolean): Promise<void> {
    const line = this.lines.get(pin);
    if (!line) throw new KioskError('E_GPIO', 'line not claimed', { subject: pin });
    let setter = this.setters.get(pin);
    if (setter?.high === high && setter.tool.pid !== undefined) return;
    if (!setter) {
      const s: { high: boolean; tool?: SupervisedTool } = { high };
      s.tool = this.tool('gpioset', () => gpiosetArgs(line, s.high), `${line.chip}:${line.offset}`, { pin }, [line.offset]);
      setter = s as { high: boolean; tool: SupervisedTool };
      this.setters.set(pin, setter);
    }
    await setter.tool.stop(); // releases the line: the kernel refuses a second request (EBUSY)
    setter.high = high;
    await setter.tool.start();
  }

  private tool(
    tool: 'gpiomon' | 'gpioset',
    args: () => string[],
    subject: string,
    details: Record<string, unknown>,
    offsets: number[],
    extra: { onLine?: (line: string) => void; beforeRestart?: () => Promise<void> } = {},
  ): SupervisedTool {
    const chip = subject.split(':')[0];
    return new SupervisedTool({
      tool,
      args,
      subject,
      details,
      clock: this.clock,
      spawn: this.spawn,
      restart: this.deps.restart,
      ...extra,
      vacant: () => this.vacant(chip, offsets),
      ready: (child, exited) => this.held(chip, offsets, tool, child, exited),
      onError: (error) => this.events.emit('failed', error),
    });
  }

  /** Throws E_GPIO when another process holds one of the lines (the v1 tools all name themselves, so `held` could not tell it from ours). */
  private async vacant(chip: string, offsets: number[]): Promise<void> {
    const info = parseInfoOutput(await this.exec('gpioinfo', [chip]));
    for (const o of offsets) {
      const consumer = info.find((r) => r.offset === o)?.consumer;
      if (consumer)
        throw new KioskError('E_GPIO', `line ${chip}:${o} is busy: held by "${consumer}" (another process; see gpioinfo ${chip})`, { subject: `${chip}:${o}` });
    }
  }

  /**
   * Resolves once gpioinfo shows every offset held by `consumer` (the v1 tools name themselves as
   * consumer): only then is a gpioset's level driven or a gpiomon's edge request in place. The v1
   * tools print nothing when they are ready, so this is the one acknowledgement there is.
   */
  private async held(chip: string, offsets: number[], consumer: string, child: ChildProcess, exited: Promise<Exit>): Promise<void> {
    let gone = false;
    void exited.then(() => (gone = true));
    const deadline = performance.now() + (this.deps.readyTimeoutMs ?? 5000);
    for (let i = 0; ; i++) {
      if (gone) throw new KioskError('E_GPIO', `${consumer} exited before it held ${chip} ${offsets.join(',')}`, { subject: chip });
      const info = parseInfoOutput(await this.exec('gpioinfo', [chip]));
      if (offsets.every((o) => info.find((r) => r.offset === o)?.consumer === consumer) && !gone) return;
      if (performance.now() > deadline)
        throw new KioskError(
          'E_GPIO',
          `${consumer} (pid ${child.pid}) did not hold ${chip} ${offsets.join(',')} within ${this.deps.readyTimeoutMs ?? 5000} ms`,
          { subject: chip },
        );
      await delay(Math.min(50, 2 ** i)); // waiting for another process, not timing logic: real time
    }
  }

  private onEvent(chip: string, text: string): void {
    const e = parseMonitorLine(text);
    if (!e) return;
    for (const [pin, line] of this.lines) {
      if (line.chip === chip && line.offset === e.offset) this.sample(pin, e.rising !== (this.pins[pin].activeLow ?? false));
    }
  }

  private sample(pin: string, value: boolean): void {
    this.levels.set(pin, value);
    this.rawEdge(pin, value);
    this.events.emit('sample', { pin, value });
  }

  private async readLevels(chip: string, pins: string[]): Promise<void> {
    const offsets = pins.map((n) => this.lines.get(n)!.offset);
    const levels = parseGetOutput(await this.exec('gpioget', gpiogetArgs(chip, offsets)), offsets.length);
    pins.forEach((pin, i) => {
      const value = levels[i] !== (this.pins[pin].activeLow ?? false);
      if (this.levels.get(pin) !== value) this.sample(pin, value);
    });
  }

  /** Chip and offset of every pin: chips from gpiodetect (labels, as the sysfs port), names from gpiofind. */
  private async resolveLines(): Promise<void> {
    let chips: Array<{ name: string; label: string; ngpio: number }> | undefined;
    const seen = new Map<string, string>();
    for (const [pin, p] of Object.entries(this.pins)) {
      let line: ChipLine;
      if ('name' in p.line) {
        const found = await runToEnd({ spawn: this.spawn }, 'gpiofind', [p.line.name]);
        if (found.exit.spawnError) throw toolsMissing('gpiofind', found.exit.spawnError);
        const where = found.exit.code === 0 ? parseFindOutput(found.stdout) : undefined;
        if (!where) throw new KioskError('E_GPIO', `no GPIO line is named "${p.line.name}" (gpioinfo lists the names)`, { subject: pin });
        line = where;
      } else {
        chips ??= parseDetectOutput(await this.exec('gpiodetect', [])).map((c) => ({ name: c.name, label: c.label, ngpio: c.lines }));
        const { chip, offset } = findChipLine(p.line, chips, pin);
        line = { chip: chip.name, offset };
      }
      const key = `${line.chip}:${line.offset}`;
      if (seen.has(key)) throw new KioskError('E_CONFIG_INVALID', `line ${key} is also used by pin ${seen.get(key)}`, { subject: `gpio.pins.${pin}.line` });
      seen.set(key, pin);
      this.lines.set(pin, line);
    }
  }

  /** Runs a short tool to its end; its stdout, or E_GPIO with its stderr. */
  private async exec(tool: GpiodTool, args: string[]): Promise<string> {
    const { exit, stdout, stderr } = await runToEnd({ spawn: this.spawn }, tool, args);
    if (exit.spawnError) throw toolsMissing(tool, exit.spawnError);
    if (exit.code !== 0)
      throw new KioskError('E_GPIO', `${tool} ${args.join(' ')} failed: ${stderr.summary() || `exit ${exit.code ?? exit.signal}`}`, { subject: tool });
    return stdout;
  }
}
