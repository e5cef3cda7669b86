import { KioskError } from '../../base/errors.js';
import { systemClock, type Clock } from '../../base/clock.js';
import { readGpioChips, resolveLine } from './chips.js';
import { DebouncedGpioPort } from './debounced-port.js';
import type { PinConfig, PinMap } from './gpio-port.js';

/** The part of onoff's `Gpio` class used here. */
export interface OnoffGpio {
  read(): Promise<0 | 1>;
  write(value: 0 | 1): Promise<void>;
  watch(callback: (err: Error | null | undefined, value: 0 | 1) => void): void;
  unwatchAll(): void;
  unexport(): void;
}

/** onoff's module shape: `Gpio` constructor and its `accessible` flag. */
export interface OnoffModule {
  Gpio: {
    new (gpio: number, direction: 'in' | 'out' | 'high' | 'low', edge?: 'none' | 'both', options?: { activeLow?: boolean }): OnoffGpio;
    accessible: boolean;
  };
}

export interface OnoffGpioDeps {
  pins: PinMap;
  clock?: Clock;
  /** Root of sysfs, for the chip bases (default `/sys`; onoff itself always uses /sys/class/gpio). */
  sysfsRoot?: string;
  /** Loads onoff; default a dynamic `import('onoff')` (an optional dependency). */
  loadOnoff?: () => Promise<OnoffModule>;
}

async function importOnoff(): Promise<OnoffModule> {
  const specifier = 'onoff';
  const mod = (await import(specifier)) as { default?: OnoffModule } & Partial<OnoffModule>;
  return (mod.Gpio ? mod : mod.default) as OnoffModule;
}

/**
 * GPIO through the kernel's sysfs interface with `onoff` (edge events by epoll). Line numbers are
 * resolved from the chip labels at start. Debouncing is ours (same code and clock as the fake), not
 * onoff's `debounceTimeout`.
 */
export class OnoffGpioPort extends DebouncedGpioPort {
  private lines = new Map<string, OnoffGpio>();

  constructor(private readonly deps: OnoffGpioDeps) {
    super(deps.pins, deps.clock ?? systemClock);
  }

  protected async openLines(): Promise<void> {
    let onoff: OnoffModule;
    try {
      onoff = await (this.deps.loadOnoff ?? importOnoff)();
    } catch (err) {
      throw new KioskError(
        'E_GPIO',
        'the optional dependency onoff is not installed or failed to build (it needs the epoll addon): reinstall with build tools, or use the fake GPIO',
        { subject: 'onoff', cause: err },
      );
    }
    if (!onoff.Gpio.accessible) {
      throw new KioskError('E_GPIO', 'sysfs GPIO is not accessible: the kernel lacks CONFIG_GPIO_SYSFS or the user is not in group gpio', {
        subject: '/sys/class/gpio',
      });
    }
    const chips = await readGpioChips(this.deps.sysfsRoot);
    try {
      for (const [name, p] of Object.entries(this.pins)) {
        const n = resolveLine(p.line, chips, name);
        const activeLow = p.activeLow ?? false;
        // sysfs "high"/"low" are electrical levels: set the inactive level atomically with the
        // direction, so an active-low dispenser line never pulses while being configured.
        const direction = p.direction === 'in' ? 'in' : (p.initial ?? false) !== activeLow ? 'high' : 'low';
        let gpio: OnoffGpio;
        try {
          gpio = new onoff.Gpio(n, direction, p.direction === 'in' ? 'both' : 'none', { activeLow });
        } catch (err) {
          throw new KioskError('E_GPIO', `cannot claim GPIO ${n}: ${(err as Error).message}`, { subject: name, cause: err });
        }
        this.lines.set(name, gpio);
        if (p.direction === 'in') {
          gpio.watch((err, value) => {
            if (!err) this.rawEdge(name, value === 1);
          });
        }
      }
    } catch (err) {
      await this.closeLines();
      throw err;
    }
  }

  protected async readLine(pin: string): Promise<boolean> {
    return (await this.line(pin).read()) === 1;
  }

  protected async writeLine(pin: string, _config: PinConfig, value: boolean): Promise<void> {
    await this.line(pin).write(value ? 1 : 0);
  }

  protected async closeLines(): Promise<void> {
    for (const g of this.lines.values()) {
      g.unwatchAll();
      g.unexport();
    }
    this.lines.clear();
  }

  private line(pin: string): OnoffGpio {
    const g = this.lines.get(pin);
    if (!g) throw new KioskError('E_GPIO', 'line not claimed', { subject: pin });
    return g;
  }
}
