import { KioskError } from '../../base/errors.js';
import type { Clock } from '../../base/clock.js';
import { Debouncer } from './debounce.js';
import { DEFAULT_DEBOUNCE_MS, validatePinMap, type EdgeListener, type GpioPort, type PinConfig, type PinMap } from './gpio-port.js';

/**
 * What the real and fake ports share: pin lookup, direction checks, one debouncer per input and
 * listener bookkeeping. A backend only claims, reads, writes and releases lines (logical values)
 * and reports raw level changes through `rawEdge()`.
 */
export abstract class DebouncedGpioPort implements GpioPort {
  private debouncers = new Map<string, Debouncer>();
  private listeners = new Map<string, Set<EdgeListener>>();
  private outputs = new Map<string, boolean>();
  private started = false;

  constructor(
    protected readonly pins: PinMap,
    protected readonly clock: Clock,
  ) {}

  protected abstract openLines(): Promise<void>;
  protected abstract readLine(pin: string, config: PinConfig): Promise<boolean>;
  protected abstract writeLine(pin: string, config: PinConfig, value: boolean): Promise<void>;
  protected abstract closeLines(): Promise<void>;

  async start(): Promise<void> {
    if (this.started) return;
    validatePinMap(this.pins);
    await this.openLines();
    this.started = true;
    try {
      for (const [name, p] of Object.entries(this.pins)) {
        if (p.direction === 'out') {
          await this.write(name, p.initial ?? false);
          continue;
        }
        const ms = p.debounceMs ?? DEFAULT_DEBOUNCE_MS;
        const initial = await this.readLine(name, p);
        this.debouncers.set(
          name,
          new Debouncer({
            clock: this.clock,
            times: { activeMs: ms, inactiveMs: ms },
            initial,
            onChange: (value, timeMs) => {
              for (const l of [...(this.listeners.get(name) ?? [])]) l({ pin: name, value, edge: value ? 'rising' : 'falling', timeMs });
            },
          }),
        );
      }
    } catch (err) {
      // A line that cannot be set (busy, gone) fails the start: release what was claimed, as close() would.
      this.started = false;
      for (const d of this.debouncers.values()) d.stop();
      this.debouncers.clear();
      this.outputs.clear();
      await this.closeLines().catch(() => {});
      throw err;
    }
  }

  async read(pin: string): Promise<boolean> {
    const p = this.pin(pin);
    return p.direction === 'in' ? this.debouncers.get(pin)!.value : (this.outputs.get(pin) ?? false);
  }

  async write(pin: string, value: boolean): Promise<void> {
    const p = this.pin(pin);
    if (p.direction !== 'out') throw new KioskError('E_GPIO', 'cannot write an input line', { subject: pin });
    await this.writeLine(pin, p, value);
    this.outputs.set(pin, value);
  }

  watch(pin: string, listener: EdgeListener): () => void {
    const p = this.pin(pin);
    if (p.direction !== 'in') throw new KioskError('E_GPIO', 'only input lines can be watched', { subject: pin });
    let set = this.listeners.get(pin);
    if (!set) this.listeners.set(pin, (set = new Set()));
    set.add(listener);
    return () => void set.delete(listener);
  }

  async close(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    for (const d of this.debouncers.values()) d.stop();
    this.debouncers.clear();
    this.listeners.clear();
    try {
      for (const [name, p] of Object.entries(this.pins)) {
        if (p.direction === 'out') await this.writeLine(name, p, p.initial ?? false);
      }
    } finally {
      this.outputs.clear();
      await this.closeLines();
    }
  }

  /** Backends call this on every raw level change of an input (logical value). */
  protected rawEdge(pin: string, value: boolean): void {
    this.debouncers.get(pin)?.sample(value);
  }

  private pin(name: string): PinConfig {
    if (!this.started) throw new KioskError('E_GPIO', 'GPIO port not started', { subject: name });
    const p = this.pins[name];
    if (!p) throw new KioskError('E_GPIO', 'no such pin in the pin map', { subject: name });
    return p;
  }
}
