import { EventEmitter } from 'node:events';
import { KioskError, type ErrorCode } from '../../base/errors.js';
import { systemClock, type Clock } from '../../base/clock.js';
import { Debouncer } from '../gpio/debounce.js';
import type { GpioPort, PinMap } from '../gpio/gpio-port.js';
import { DEFAULT_LED_PATTERNS, resolveTimings, validateKioskPins, type KioskTimings, type StatusPattern } from './config.js';
import { Dispenser, type DispenseResult } from './dispenser.js';
import { StatusLed } from './status-led.js';

/** Events of the kiosk hardware; times are clock ms. */
export interface KioskEvents {
  /** Presence held for `arriveMs`. */
  arrived: [{ timeMs: number }];
  /** Presence gone for `leaveMs`; `presentMs` from arrival to the first moment of absence. */
  left: [{ timeMs: number; presentMs: number }];
  /** Enclosure opened (at once) or closed again (after `tamperCloseMs`). */
  tamper: [{ open: boolean; timeMs: number }];
  cassette: [{ empty: boolean; timeMs: number }];
  jam: [{ active: boolean; timeMs: number }];
  dispense_started: [{ id: number; timeMs: number }];
  dispensed: [{ id: number; confirmMs: number; timeMs: number }];
  dispense_failed: [{ id?: number; code: ErrorCode; message: string; timeMs: number }];
  status: [{ pattern: StatusPattern }];
  ring_light: [{ on: boolean }];
  /** A cosmetic output (LED, ring light) failed; the kiosk keeps running. */
  fault: [{ error: KioskError }];
}

export interface KioskHardwareDeps {
  gpio: GpioPort;
  /** The pin map the GPIO port was built with (checked for the kiosk's pins). */
  pins: PinMap;
  clock?: Clock;
  timings?: Partial<KioskTimings>;
  ledPatterns?: Partial<Record<StatusPattern, readonly number[]>>;
}

/**
 * The kiosk's sensors and actuators on top of a GpioPort: presence with hold times, tamper switch,
 * SIM dispenser, ring light and status LED. `start()` starts the port and reads the initial state
 * (an enclosure already open is reported at once); `stop()` aborts a dispense, clears every timer
 * and listener, turns the outputs off and closes the port.
 */
export class KioskHardware {
  readonly events = new EventEmitter<KioskEvents>();
  private readonly clock: Clock;
  private readonly timings: KioskTimings;
  private presence?: Debouncer;
  private tamper?: Debouncer;
  private arrivedAt?: number;
  private unwatch: Array<() => void> = [];
  private led?: StatusLed;
  private dispenser?: Dispenser;
  private ringLightOn = false;

  constructor(private readonly deps: KioskHardwareDeps) {
    this.clock = deps.clock ?? systemClock;
    this.timings = resolveTimings(deps.timings);
  }

  async start(): Promise<void> {
    const { gpio, pins } = this.deps;
    validateKioskPins(pins);
    await gpio.start();
    const now = this.clock.now();
    this.led = new StatusLed({
      gpio,
      clock: this.clock,
      pin: 'status_led',
      patterns: { ...DEFAULT_LED_PATTERNS, ...this.deps.ledPatterns },
      onError: (e) => this.cosmetic(e, 'status_led'),
    });
    this.dispenser = new Dispenser({
      gpio,
      clock: this.clock,
      timings: this.timings,
      hasCassetteSensor: 'cassette_empty' in pins,
      hasJamSensor: 'dispenser_jam' in pins,
      tampered: () => this.tamper?.value ?? false,
      onStarted: (id) => this.events.emit('dispense_started', { id, timeMs: this.clock.now() }),
      onError: (e) => this.cosmetic(e, 'dispense_pulse'),
    });
    this.presence = new Debouncer({
      clock: this.clock,
      times: { activeMs: this.timings.arriveMs, inactiveMs: this.timings.leaveMs },
      initial: false,
      onChange: (present, since) => {
        if (present) {
          this.arrivedAt = since;
          this.events.emit('arrived', { timeMs: this.clock.now() });
        } else {
          this.events.emit('left', { timeMs: this.clock.now(), presentMs: since - (this.arrivedAt ?? since) });
          this.arrivedAt = undefined;
        }
      },
    });
    this.tamper = new Debouncer({
      clock: this.clock,
      times: { activeMs: 0, inactiveMs: this.timings.tamperCloseMs },
      initial: false,
      onChange: (open) => {
        if (open)
          this.dispenser?.abort(
            new KioskError('E_TAMPERED', 'the enclosure was opened during a dispense', { subject: 'dispenser', details: { reason: 'tamper' } }),
          );
        this.events.emit('tamper', { open, timeMs: this.clock.now() });
      },
    });
    this.unwatch.push(gpio.watch('presence', (e) => this.presence!.sample(e.value)));
    this.unwatch.push(gpio.watch('tamper', (e) => this.tamper!.sample(e.value)));
    for (const [pin, event] of [
      ['cassette_empty', 'cassette'],
      ['dispenser_jam', 'jam'],
    ] as const) {
      if (!(pin in pins)) continue;
      this.unwatch.push(
        gpio.watch(pin, (e) => {
          if (event === 'cassette') this.events.emit('cassette', { empty: e.value, timeMs: this.clock.now() });
          else this.events.emit('jam', { active: e.value, timeMs: this.clock.now() });
        }),
      );
    }
    // Initial state: an open enclosure is an alarm now; a customer already there counts after arriveMs.
    this.tamper.sample(await gpio.read('tamper'));
    this.presence.sample(await gpio.read('presence'));
    if ('cassette_empty' in pins && (await gpio.read('cassette_empty'))) this.events.emit('cassette', { empty: true, timeMs: now });
    this.setStatus('idle');
  }

  async stop(): Promise<void> {
    this.dispenser?.abort(new KioskError('E_ABORTED', 'the kiosk hardware stopped during a dispense', { subject: 'dispenser' }));
    for (const u of this.unwatch) u();
    this.unwatch = [];
    this.presence?.stop();
    this.tamper?.stop();
    this.led?.stop();
    this.presence = this.tamper = this.led = this.dispenser = undefined;
    this.arrivedAt = undefined;
    this.ringLightOn = false;
    await this.deps.gpio.close(); // returns outputs (pulse, ring light, LED) to their initial values
  }

  /** Is a customer there (after the hold times)? */
  get present(): boolean {
    return this.presence?.value ?? false;
  }

  /** Is the enclosure open? */
  get tampered(): boolean {
    return this.tamper?.value ?? false;
  }

  get status(): StatusPattern {
    return this.led?.pattern ?? 'off';
  }

  setStatus(pattern: StatusPattern): void {
    this.started().led!.set(pattern);
    this.events.emit('status', { pattern });
  }

  /** Dispenses one SIM; resolves when confirmed, rejects with E_DISPENSE_TIMEOUT, E_DISPENSE_JAM, E_DISPENSER_EMPTY, E_DISPENSER_BUSY or E_TAMPERED. */
  async dispense(): Promise<DispenseResult> {
    const d = this.started().dispenser!;
    try {
      const r = await d.dispense();
      this.events.emit('dispensed', { ...r, timeMs: this.clock.now() });
      return r;
    } catch (err) {
      const e = err instanceof KioskError ? err : new KioskError('E_INTERNAL', String(err), { cause: err });
      this.events.emit('dispense_failed', { id: e.details?.id as number | undefined, code: e.code, message: e.message, timeMs: this.clock.now() });
      throw e;
    }
  }

  /** Turns the ring light on or off (no-op without a ring_light pin). */
  async setRingLight(on: boolean): Promise<void> {
    this.started();
    if (!('ring_light' in this.deps.pins) || this.ringLightOn === on) return;
    this.ringLightOn = on;
    await this.deps.gpio.write('ring_light', on);
    this.events.emit('ring_light', { on });
  }

  /** Runs `capture` with the ring light on, and turns it off afterwards whatever happens. */
  async withRingLight<T>(capture: () => Promise<T>): Promise<T> {
    await this.setRingLight(true);
    try {
      return await capture();
    } finally {
      await this.setRingLight(false).catch((e) => this.cosmetic(e, 'ring_light'));
    }
  }

  private started(): this {
    if (!this.led) throw new KioskError('E_DEVICE', 'kiosk hardware not started', { subject: 'kiosk' });
    return this;
  }

  private cosmetic(err: unknown, pin: string): void {
    const error = err instanceof KioskError ? err : new KioskError('E_GPIO', (err as Error)?.message ?? String(err), { subject: pin, cause: err });
    this.events.emit('fault', { error });
  }
}
