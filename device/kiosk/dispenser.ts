import { KioskError, type ErrorCode } from '../../base/errors.js';
import type { Clock, TimerHandle } from '../../base/clock.js';
import type { GpioPort } from '../gpio/gpio-port.js';
import type { KioskTimings } from './config.js';

/** A confirmed dispense. */
export interface DispenseResult {
  id: number;
  /** From the start of the pulse to the confirm sensor, in ms. */
  confirmMs: number;
}

export interface DispenserDeps {
  gpio: GpioPort;
  clock: Clock;
  timings: Pick<KioskTimings, 'pulseMs' | 'confirmTimeoutMs'>;
  /** Optional sensors present in the pin map. */
  hasCassetteSensor: boolean;
  hasJamSensor: boolean;
  /** Says whether the enclosure is open (a dispense is refused then). */
  tampered: () => boolean;
  onStarted: (id: number) => void;
  /** A failure to reset the pulse line after another failure (reported, not thrown: the dispense already failed). */
  onError: (err: unknown) => void;
}

interface InFlight {
  id: number;
  startedAt: number;
  pulseDone: boolean;
  confirmedAt?: number;
  timers: TimerHandle[];
  unwatch: Array<() => void>;
  resolve: (r: DispenseResult) => void;
  reject: (e: KioskError) => void;
}

/**
 * The SIM dispenser: one pulse on `dispense_pulse`, then the `dispense_confirm` sensor must fire
 * within the timeout. Refuses before pulsing when the cassette is empty, the jam line is active, the
 * exit is still blocked by a card, the enclosure is open, or another dispense is in flight: the line
 * is never pulsed twice concurrently. Resolves only once the pulse has ended and the card was seen.
 */
export class Dispenser {
  private inFlight?: InFlight;
  private seq = 0;

  constructor(private readonly deps: DispenserDeps) {}

  get busy(): boolean {
    return this.inFlight !== undefined;
  }

  async dispense(): Promise<DispenseResult> {
    const { gpio } = this.deps;
    if (this.inFlight)
      throw new KioskError('E_DISPENSER_BUSY', 'a dispense is already in progress', { subject: 'dispenser', details: { inFlight: this.inFlight.id } });
    // Claimed synchronously, before any await, so a second call in the same tick is refused.
    const f: InFlight = { id: ++this.seq, startedAt: 0, pulseDone: false, timers: [], unwatch: [], resolve: () => {}, reject: () => {} };
    this.inFlight = f;
    const done = new Promise<DispenseResult>((resolve, reject) => Object.assign(f, { resolve, reject }));
    try {
      if (this.deps.tampered()) throw this.error('E_TAMPERED', 'the enclosure is open', { reason: 'tamper' });
      if (this.deps.hasCassetteSensor && (await gpio.read('cassette_empty'))) throw this.error('E_DISPENSER_EMPTY', 'the card cassette is empty');
      if (this.deps.hasJamSensor && (await gpio.read('dispenser_jam')))
        throw this.error('E_DISPENSE_JAM', 'the dispenser reports a jam', { reason: 'jam_line' });
      if (await gpio.read('dispense_confirm')) throw this.error('E_DISPENSE_JAM', 'a card is still at the exit', { reason: 'exit_blocked' });
    } catch (err) {
      this.inFlight = undefined;
      throw err;
    }
    f.unwatch.push(
      gpio.watch('dispense_confirm', (e) => {
        if (e.value && f.confirmedAt === undefined) {
          f.confirmedAt = e.timeMs; // when the card was first seen, before the sensor's debounce
          this.settleIfDone(f);
        }
      }),
    );
    if (this.deps.hasJamSensor) {
      f.unwatch.push(
        gpio.watch('dispenser_jam', (e) => {
          if (e.value) this.fail(f, this.error('E_DISPENSE_JAM', 'the dispenser reported a jam while dispensing', { reason: 'jam_line' }));
        }),
      );
    }
    f.startedAt = this.deps.clock.now();
    this.deps.onStarted(f.id);
    try {
      await gpio.write('dispense_pulse', true);
    } catch (err) {
      this.fail(f, new KioskError('E_GPIO', `cannot drive the dispense line: ${(err as Error).message}`, { subject: 'dispense_pulse', cause: err }));
      return done;
    }
    f.timers.push(
      this.deps.clock.setTimeout(() => {
        gpio.write('dispense_pulse', false).then(
          () => {
            f.pulseDone = true;
            this.settleIfDone(f);
          },
          (err) =>
            this.fail(f, new KioskError('E_GPIO', `cannot end the dispense pulse: ${(err as Error).message}`, { subject: 'dispense_pulse', cause: err })),
        );
      }, this.deps.timings.pulseMs),
    );
    f.timers.push(
      this.deps.clock.setTimeout(() => {
        if (f.confirmedAt === undefined)
          this.fail(f, this.error('E_DISPENSE_TIMEOUT', `no card seen at the exit within ${this.deps.timings.confirmTimeoutMs} ms`));
      }, this.deps.timings.confirmTimeoutMs),
    );
    return done;
  }

  /** Aborts a dispense in flight (stop, tamper): ends the pulse, rejects with `reason`. */
  abort(reason: KioskError): void {
    if (this.inFlight) this.fail(this.inFlight, reason);
  }

  private settleIfDone(f: InFlight): void {
    if (this.inFlight !== f || !f.pulseDone || f.confirmedAt === undefined) return;
    this.release(f);
    f.resolve({ id: f.id, confirmMs: f.confirmedAt - f.startedAt });
  }

  private fail(f: InFlight, err: KioskError): void {
    if (this.inFlight !== f) return;
    this.release(f);
    if (!f.pulseDone) this.deps.gpio.write('dispense_pulse', false).catch(this.deps.onError);
    f.reject(err);
  }

  private release(f: InFlight): void {
    for (const t of f.timers) this.deps.clock.clearTimeout(t);
    for (const u of f.unwatch) u();
    this.inFlight = undefined;
  }

  private error(code: ErrorCode, message: string, details: Record<string, unknown> = {}): KioskError {
    return new KioskError(code, message, { subject: 'dispenser', details: { ...details, id: this.inFlight?.id } });
  }
}
