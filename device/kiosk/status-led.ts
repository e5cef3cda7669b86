import type { Clock, TimerHandle } from '../../base/clock.js';
import type { GpioPort } from '../gpio/gpio-port.js';
import type { StatusPattern } from './config.js';

export interface StatusLedDeps {
  gpio: GpioPort;
  clock: Clock;
  pin: string;
  patterns: Record<StatusPattern, readonly number[]>;
  /** Write failures (the LED is cosmetic: they are reported, never thrown into the timer). */
  onError: (err: unknown) => void;
}

/** Plays a blink pattern on one LED with one timer; `set()` switches patterns, `stop()` clears the timer. */
export class StatusLed {
  private timer?: TimerHandle;
  private current: StatusPattern = 'off';

  constructor(private readonly deps: StatusLedDeps) {}

  get pattern(): StatusPattern {
    return this.current;
  }

  set(pattern: StatusPattern): void {
    this.stop();
    this.current = pattern;
    const steps = this.deps.patterns[pattern];
    if (steps.length === 0) {
      this.write(true);
      return;
    }
    if (steps.length === 1 && steps[0] === 0) {
      this.write(false);
      return;
    }
    this.step(steps, 0);
  }

  stop(): void {
    this.deps.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private step(steps: readonly number[], i: number): void {
    this.write(i % 2 === 0);
    this.timer = this.deps.clock.setTimeout(() => this.step(steps, (i + 1) % steps.length), steps[i]);
  }

  private write(on: boolean): void {
    this.deps.gpio.write(this.deps.pin, on).catch(this.deps.onError);
  }
}
