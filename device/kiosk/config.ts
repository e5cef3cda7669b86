import { KioskError } from '../../base/errors.js';
import type { PinMap } from '../gpio/gpio-port.js';

/**
 * The pin names the kiosk model uses; the pin map in config gives each a line and a polarity.
 * Optional pins may be left out of the map (the feature is then off).
 */
export const KIOSK_PINS = {
  presence: { direction: 'in', required: true, doc: 'customer presence sensor (PIR, radar or light curtain); active = someone there' },
  tamper: { direction: 'in', required: true, doc: 'enclosure door switch; active = enclosure open' },
  dispense_pulse: { direction: 'out', required: true, doc: 'SIM dispenser "dispense one card" input; pulsed active for dispenser.pulseMs' },
  dispense_confirm: { direction: 'in', required: true, doc: 'card-out sensor at the dispenser exit; active = a card is at the exit' },
  cassette_empty: { direction: 'in', required: false, doc: 'cassette empty / low sensor; active = no cards' },
  dispenser_jam: { direction: 'in', required: false, doc: 'dispenser error/jam output; active = jammed' },
  ring_light: { direction: 'out', required: false, doc: 'ring light around the camera; active while capturing' },
  status_led: { direction: 'out', required: true, doc: 'status LED; blink pattern shows idle, busy, error, out of service' },
} as const;

export type KioskPin = keyof typeof KIOSK_PINS;

/** Timings of the kiosk model, all in ms. */
export interface KioskTimings {
  /** Presence must hold this long before a customer counts as arrived (default 500). */
  arriveMs: number;
  /** Presence must be gone this long before the customer counts as left (default 3000). */
  leaveMs: number;
  /** The enclosure must stay closed this long before the tamper alarm clears (default 1000); opening is reported at once. */
  tamperCloseMs: number;
  /** Length of the dispense pulse (default 200). */
  pulseMs: number;
  /** The confirm sensor must fire within this time from the start of the pulse (default 5000). */
  confirmTimeoutMs: number;
}

export const DEFAULT_KIOSK_TIMINGS: KioskTimings = { arriveMs: 500, leaveMs: 3000, tamperCloseMs: 1000, pulseMs: 200, confirmTimeoutMs: 5000 };

/** Status LED patterns: alternating on/off durations in ms, repeated; `[]` = steady on, `[0]` = off. */
export type StatusPattern = 'idle' | 'busy' | 'error' | 'out_of_service' | 'off';

export const DEFAULT_LED_PATTERNS: Record<StatusPattern, readonly number[]> = {
  idle: [100, 2900], // a short blink every 3 s: alive
  busy: [250, 250],
  error: [100, 100, 100, 700], // double blink
  out_of_service: [], // steady on
  off: [0],
};

/** Checks that the pin map has every required kiosk pin with the right direction; names the key when not. */
export function validateKioskPins(pins: PinMap): void {
  for (const [name, spec] of Object.entries(KIOSK_PINS)) {
    const p = pins[name];
    if (!p) {
      if (spec.required) throw new KioskError('E_CONFIG_INVALID', `the kiosk needs a "${name}" pin (${spec.doc})`, { subject: `gpio.pins.${name}` });
      continue;
    }
    if (p.direction !== spec.direction)
      throw new KioskError('E_CONFIG_INVALID', `pin "${name}" must be an ${spec.direction === 'in' ? 'input' : 'output'}`, {
        subject: `gpio.pins.${name}.direction`,
      });
  }
}

/** Resolves timings with defaults; throws E_CONFIG_INVALID naming the key. */
export function resolveTimings(t: Partial<KioskTimings> = {}): KioskTimings {
  const r = { ...DEFAULT_KIOSK_TIMINGS, ...t };
  for (const [k, v] of Object.entries(r)) {
    if (!Number.isFinite(v) || v < 0) throw new KioskError('E_CONFIG_INVALID', 'must be a number of ms >= 0', { subject: `kiosk.${k}` });
  }
  if (r.pulseMs <= 0) throw new KioskError('E_CONFIG_INVALID', 'the dispense pulse must be longer than 0 ms', { subject: 'kiosk.pulseMs' });
  if (r.confirmTimeoutMs < r.pulseMs)
    throw new KioskError('E_CONFIG_INVALID', 'the confirm timeout must be at least the pulse length', { subject: 'kiosk.confirmTimeoutMs' });
  return r;
}
