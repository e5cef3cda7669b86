/**
 * The GPIO port: named lines with polarity and debounce from config. Values are logical everywhere
 * (true = active), so an active-low switch wired to ground reads true when closed.
 */
import { KioskError } from '../../base/errors.js';

/**
 * Where a line is: a GPIO controller's label and the line's offset on it, a BCM number on a Raspberry
 * Pi, or (gpiod driver only) the line's name as the kernel knows it (`gpiofind`, `gpioinfo`).
 */
export type LineRef = { chip: string; offset: number } | { bcm: number } | { name: string };

/** One line in the pin map. */
export interface PinConfig {
  line: LineRef;
  direction: 'in' | 'out';
  /** The line is active when electrically low (switch to ground with a pull-up, open-collector sensors). Default false. */
  activeLow?: boolean;
  /** Input: a level must hold this long before it is reported, in ms (default 20; 0 turns debouncing off). */
  debounceMs?: number;
  /** Output: logical value set when the port starts and restored when it closes (default false). */
  initial?: boolean;
}

/** Pin name (e.g. `presence`, `dispenser_pulse`) to its line. */
export type PinMap = Record<string, PinConfig>;

/** A debounced change of an input line. */
export interface EdgeEvent {
  pin: string;
  /** The new logical value. */
  value: boolean;
  /** `rising` = became active (after polarity), `falling` = became inactive. */
  edge: 'rising' | 'falling';
  /** Clock time the new level was first seen (before the debounce hold). */
  timeMs: number;
}

export type EdgeListener = (event: EdgeEvent) => void;

/** A set of named GPIO lines. */
export interface GpioPort {
  /** Claims every line of the pin map, sets outputs to their initial values. */
  start(): Promise<void>;
  /** An input's debounced value, or an output's last written value. */
  read(pin: string): Promise<boolean>;
  /** Drives an output line (logical value). */
  write(pin: string, value: boolean): Promise<void>;
  /** Calls `listener` on each debounced change of an input; returns the function that removes it. */
  watch(pin: string, listener: EdgeListener): () => void;
  /** Removes every listener and timer, returns outputs to their initial values, releases the lines. */
  close(): Promise<void>;
}

/** Default debounce of mechanical contacts, in ms. */
export const DEFAULT_DEBOUNCE_MS = 20;

const NAME = /^[a-z][a-z0-9_]{0,31}$/;

/** Checks a pin map; throws E_CONFIG_INVALID naming the key (`gpio.pins.<name>.<field>`). */
export function validatePinMap(pins: PinMap): void {
  const seen = new Map<string, string>();
  for (const [name, p] of Object.entries(pins)) {
    const key = `gpio.pins.${name}`;
    const bad = (field: string, why: string) => new KioskError('E_CONFIG_INVALID', why, { subject: `${key}${field}` });
    if (!NAME.test(name)) throw bad('', 'pin names are lower_snake_case');
    if (p.direction !== 'in' && p.direction !== 'out') throw bad('.direction', 'direction must be "in" or "out"');
    const l = p.line as Partial<{ chip: unknown; offset: unknown; bcm: unknown; name: unknown }> | undefined;
    let where: string;
    if (l && typeof l.bcm === 'number') {
      if (!Number.isInteger(l.bcm) || l.bcm < 0 || l.bcm > 27) throw bad('.line.bcm', 'a BCM number is 0..27');
      where = `bcm:${l.bcm}`;
    } else if (l && typeof l.chip === 'string' && l.chip && typeof l.offset === 'number') {
      if (!Number.isInteger(l.offset) || l.offset < 0) throw bad('.line.offset', 'a line offset is an integer >= 0');
      where = `${l.chip}:${l.offset}`;
    } else if (l && typeof l.name === 'string' && l.name && l.chip === undefined && l.offset === undefined) {
      if (l.name.length > 63) throw bad('.line.name', 'a line name is at most 63 characters');
      where = `name:${l.name}`;
    } else {
      throw bad('.line', 'line must be {"bcm": N}, {"chip": "<label>", "offset": N} or {"name": "<line name>"}');
    }
    if (seen.has(where)) throw bad('.line', `line ${where} is also used by pin ${seen.get(where)}`);
    seen.set(where, name);
    if (p.debounceMs !== undefined && !(Number.isFinite(p.debounceMs) && p.debounceMs >= 0)) throw bad('.debounceMs', 'debounceMs is a number of ms >= 0');
    if (p.activeLow !== undefined && typeof p.activeLow !== 'boolean') throw bad('.activeLow', 'activeLow is true or false');
    if (p.initial !== undefined && typeof p.initial !== 'boolean') throw bad('.initial', 'initial is true or false');
  }
}
