import { EventEmitter } from 'node:events';
import { KioskError } from '../../base/errors.js';
import { systemClock, type Clock } from '../../base/clock.js';
import { DebouncedGpioPort } from './debounced-port.js';
import type { PinConfig, PinMap } from './gpio-port.js';

/** What the fake reports to whoever drives it (tests, the local API, the terminal). */
export interface FakeGpioEvents {
  /** An output line was written. */
  write: [{ pin: string; value: boolean; timeMs: number }];
  /** An input was driven. */
  drive: [{ pin: string; value: boolean; timeMs: number }];
}

export interface FakeGpioDeps {
  pins: PinMap;
  clock?: Clock;
  /** Logical starting value of inputs (default: all inactive). */
  inputs?: Record<string, boolean>;
}

/**
 * GPIO in memory, for tests and machines without GPIO (the simulated kiosk). Same interface and the
 * same debouncing as the sysfs port; inputs are driven with `drive()` (logical) or `drivePhysical()`
 * (electrical level, polarity applied as the hardware would), outputs are observed through `level()`,
 * `history()` and the `write` event.
 */
export class FakeGpioPort extends DebouncedGpioPort {
  readonly events = new EventEmitter<FakeGpioEvents>();
  private levels = new Map<string, boolean>();
  private writes = new Map<string, Array<{ value: boolean; timeMs: number }>>();

  constructor(private readonly deps: FakeGpioDeps) {
    super(deps.pins, deps.clock ?? systemClock);
  }

  /** Sets an input's logical value as a sensor would; bounces are simulated by calling it repeatedly. */
  drive(pin: string, active: boolean): void {
    const p = this.deps.pins[pin];
    if (p?.direction !== 'in') throw new KioskError('E_GPIO', 'only input lines can be driven', { subject: pin });
    this.levels.set(pin, active);
    this.events.emit('drive', { pin, value: active, timeMs: this.clock.now() });
    this.rawEdge(pin, active);
  }

  /** Sets an input's electrical level (true = high); an active-low line reads the inverse. */
  drivePhysical(pin: string, high: boolean): void {
    this.drive(pin, high !== (this.deps.pins[pin]?.activeLow ?? false));
  }

  /** A line's current logical value (inputs: raw, before debouncing). */
  level(pin: string): boolean {
    return this.levels.get(pin) ?? false;
  }

  /** An output's electrical level (true = high). */
  physical(pin: string): boolean {
    return this.level(pin) !== (this.deps.pins[pin]?.activeLow ?? false);
  }

  /** Every write to an output since start, oldest first. */
  history(pin: string): ReadonlyArray<{ value: boolean; timeMs: number }> {
    return this.writes.get(pin) ?? [];
  }

  protected async openLines(): Promise<void> {
    this.writes.clear();
    for (const [name, p] of Object.entries(this.deps.pins)) {
      if (p.direction === 'in' && !this.levels.has(name)) this.levels.set(name, this.deps.inputs?.[name] ?? false);
    }
  }

  protected async readLine(pin: string): Promise<boolean> {
    return this.levels.get(pin) ?? false;
  }

  protected async writeLine(pin: string, _config: PinConfig, value: boolean): Promise<void> {
    this.levels.set(pin, value);
    let list = this.writes.get(pin);
    if (!list) this.writes.set(pin, (list = []));
    const timeMs = this.clock.now();
    list.push({ value, timeMs });
    this.events.emit('write', { pin, value, timeMs });
  }

  protected async closeLines(): Promise<void> {}
}
