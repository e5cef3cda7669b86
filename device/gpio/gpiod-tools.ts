/**
 * The libgpiod v1 command-line tools (Debian/Ubuntu package `gpiod`, v1.6 on bookworm and on
 * Ubuntu 22.04 / JetPack 6): the arguments we give them and the text they print, as pure functions.
 * Syntax from `gpioset --help` etc. of gpiod 1.6.3 and libgpiod's own tool tests. The v2 tools
 * (different flags and output) are detected and refused, not driven.
 */
import { KioskError } from '../../base/errors.js';

/** The tools this port runs. */
export const GPIOD_TOOLS = ['gpiodetect', 'gpiofind', 'gpioinfo', 'gpioget', 'gpioset', 'gpiomon'] as const;
export type GpiodTool = (typeof GPIOD_TOOLS)[number];

/** A line on a character-device chip: `gpiochipN` and the line's offset on it. */
export interface ChipLine {
  chip: string;
  offset: number;
}

/** `gpiomon --format`: event type (1 rising, 0 falling), offset, seconds, nanoseconds of the timestamp. */
export const MONITOR_FORMAT = '%e %o %s %n';

/** The major and minor version from `gpioset --version` (`gpioset (libgpiod) v1.6.3`). */
export function parseToolVersion(text: string): { major: number; minor: number } | undefined {
  const m = /\(libgpiod\)\s+v(\d+)\.(\d+)/.exec(text);
  return m ? { major: Number(m[1]), minor: Number(m[2]) } : undefined;
}

/** `gpioget CHIP OFFSET...`: physical levels (no `--active-low`: polarity is applied by the port). */
export function gpiogetArgs(chip: string, offsets: readonly number[]): string[] {
  return [chip, ...offsets.map(String)];
}

/**
 * `gpioset --mode=signal CHIP OFFSET=LEVEL`: sets the physical level and keeps the line requested
 * (driven) until SIGTERM/SIGINT; the line is released when the process exits.
 */
export function gpiosetArgs(line: ChipLine, high: boolean): string[] {
  return ['--mode=signal', line.chip, `${line.offset}=${high ? 1 : 0}`];
}

/**
 * `gpiomon --line-buffered --format=... CHIP OFFSET...`: both edges of the physical level, one line
 * per event. `--line-buffered` matters: without it stdout to a pipe is block-buffered and events
 * arrive in 4 KiB bursts.
 */
export function gpiomonArgs(chip: string, offsets: readonly number[]): string[] {
  return ['--line-buffered', `--format=${MONITOR_FORMAT}`, chip, ...offsets.map(String)];
}

/** One edge from gpiomon. `rising` is the physical edge. */
export interface MonitorEvent {
  offset: number;
  rising: boolean;
  /** The kernel's event timestamp (CLOCK_MONOTONIC on kernels >= 5.7), ns. */
  timestampNs: bigint;
}

/** Parses one line printed with `MONITOR_FORMAT` (`1 17 1234 567890123`); undefined when it is not one. */
export function parseMonitorLine(line: string): MonitorEvent | undefined {
  const m = /^([01]) (\d+) (\d+) (\d+)$/.exec(line.trim());
  if (!m) return undefined;
  return { rising: m[1] === '1', offset: Number(m[2]), timestampNs: BigInt(m[3]) * 1_000_000_000n + BigInt(m[4]) };
}

/** Parses gpioget's output (`0 1 1`) into physical levels, one per requested offset. */
export function parseGetOutput(text: string, count: number): boolean[] {
  const values = text.trim().split(/\s+/);
  if (values.length !== count || values.some((v) => v !== '0' && v !== '1')) {
    throw new KioskError('E_GPIO', `gpioget printed "${text.trim().slice(0, 80)}", expected ${count} values of 0 or 1`, { subject: 'gpioget' });
  }
  return values.map((v) => v === '1');
}

/** One chip from gpiodetect (`gpiochip0 [pinctrl-bcm2711] (58 lines)`). */
export interface DetectedChip {
  name: string;
  label: string;
  lines: number;
}

/** Parses gpiodetect's output; lines that are not a chip are skipped. */
export function parseDetectOutput(text: string): DetectedChip[] {
  const chips: DetectedChip[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\S+) \[(.*)\] \((\d+) lines\)$/.exec(line.trim());
    if (m) chips.push({ name: m[1], label: m[2], lines: Number(m[3]) });
  }
  return chips;
}

/** Parses gpiofind's output (`gpiochip1 7`). */
export function parseFindOutput(text: string): ChipLine | undefined {
  const m = /^(\S+) (\d+)$/.exec(text.trim());
  return m ? { chip: m[1], offset: Number(m[2]) } : undefined;
}

/** One line from gpioinfo: who holds it and in which direction. */
export interface LineInfo {
  offset: number;
  /** null: `unnamed`. */
  name: string | null;
  /** null: `unused`. */
  consumer: string | null;
  direction: 'input' | 'output';
}

/** Parses gpioinfo's per-line rows (`\tline  17:  "GPIO17"  "gpioset"  output  active-high [used]`). */
export function parseInfoOutput(text: string): LineInfo[] {
  const rows: LineInfo[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*line\s+(\d+):\s+(unnamed|"[^"]*")\s+(unused|"[^"]*")\s+(input|output)\b/.exec(line);
    if (!m) continue;
    const unquote = (s: string) => (s.startsWith('"') ? s.slice(1, -1) : null);
    rows.push({ offset: Number(m[1]), name: unquote(m[2]), consumer: unquote(m[3]), direction: m[4] as 'input' | 'output' });
  }
  return rows;
}

/** The error for a tool that cannot be run: names the Debian package. */
export function toolsMissing(tool: string, cause: unknown): KioskError {
  const code = (cause as NodeJS.ErrnoException)?.code;
  const why = code === 'ENOENT' ? 'not found' : code === 'EACCES' ? 'not executable' : `cannot be started (${(cause as Error)?.message ?? String(cause)})`;
  return new KioskError('E_GPIO', `${tool} ${why}: the gpiod driver needs the libgpiod tools, install the Debian package gpiod (apt-get install gpiod)`, {
    subject: 'gpiod',
    cause,
    details: { package: 'gpiod', tool },
  });
}
