/**
 * The simulated kiosk's controls: routes of the local API (`POST /sim/presence {"on": true}`,
 * `/sim/tamper {"open": true}`, `/sim/input {"pin", "value"}`, each `Content-Type: application/json`;
 * `GET /sim/gpio`), single keys on an interactive terminal, and a simulated card-out sensor that
 * fires after each dispense pulse.
 */
import type { FakeGpioPort } from '../../device/gpio/fake-gpio.js';
import { KioskError } from '../../base/errors.js';
import type { Logger } from '../../base/log.js';
import type { KioskConfig } from '../config/types.js';
import type { DaemonExtras } from './compose.js';
import type { Route } from './health.js';

const bool = (v: unknown): boolean => v === true || v === 1 || v === '1' || v === 'true' || v === 'on';

function badRequest(message: string): Error {
  return Object.assign(new Error(message), { status: 400 });
}

/** The /sim/* routes over a fake GPIO port. */
export function simRoutes(gpio: FakeGpioPort, inputs: readonly string[]): Record<string, Route> {
  const value = (q: URLSearchParams, b: Record<string, unknown>, key: string) => bool(b[key] ?? q.get(key) ?? true);
  const drive = (pin: string, v: boolean) => {
    gpio.drive(pin, v);
    return { ok: true, pin, value: v };
  };
  return {
    'POST /sim/presence': (q, b) => drive('presence', value(q, b, 'on')),
    'POST /sim/tamper': (q, b) => drive('tamper', value(q, b, 'open')),
    'POST /sim/confirm': (q, b) => drive('dispense_confirm', value(q, b, 'on')),
    'POST /sim/input': (q, b) => {
      const pin = String(b.pin ?? q.get('pin') ?? '');
      if (!inputs.includes(pin)) throw badRequest(`pin must be one of the inputs: ${inputs.join(', ')}`);
      return drive(pin, value(q, b, 'value'));
    },
    'GET /sim/gpio': () => ({
      levels: Object.fromEntries(
        ['presence', 'tamper', 'dispense_confirm', 'cassette_empty', 'dispenser_jam', 'dispense_pulse', 'ring_light', 'status_led'].map((p) => [
          p,
          gpio.level(p),
        ]),
      ),
      dispensePulses: gpio.history('dispense_pulse').filter((w) => w.value).length,
    }),
  };
}

/**
 * What a simulated kiosk adds to the daemon: the /sim/* routes and the card-out sensor firing by itself.
 * Refused unless `simulate` is on: the routes drive the dispenser's and the tamper switch's inputs.
 * (composeDaemon also drops extra routes on a real kiosk; the loopback server refuses cross-site and
 * non-JSON requests to them, see health.ts.)
 */
export function simulatedKioskExtras(gpio: FakeGpioPort, config: Pick<KioskConfig, 'gpio' | 'sim' | 'simulate'>, logger: Logger): DaemonExtras {
  if (!config.simulate) throw new KioskError('E_CONFIG_INVALID', 'the simulator controls exist only on a simulated kiosk', { subject: 'simulate' });
  const inputs = Object.entries(config.gpio.pins)
    .filter(([, p]) => p.direction === 'in')
    .map(([n]) => n);
  let remove = () => {};
  return {
    routes: simRoutes(gpio, inputs),
    components: [
      {
        name: 'simulated card-out sensor',
        start: () => void (remove = autoConfirm(gpio, config.sim.autoConfirmMs, logger)),
        stop: () => remove(),
      },
    ],
  };
}

/** Fires the simulated card-out sensor `afterMs` after each dispense pulse starts (0 = never); returns the remover. */
export function autoConfirm(gpio: FakeGpioPort, afterMs: number, logger: Logger): () => void {
  if (afterMs <= 0) return () => {};
  const timers = new Set<NodeJS.Timeout>();
  const onWrite = (w: { pin: string; value: boolean }) => {
    if (w.pin !== 'dispense_pulse' || !w.value) return;
    const t = setTimeout(() => {
      timers.delete(t);
      logger.info('simulated card-out sensor: a card is at the exit');
      gpio.drive('dispense_confirm', true);
      const off = setTimeout(() => {
        timers.delete(off);
        gpio.drive('dispense_confirm', false);
      }, 1000);
      timers.add(off);
    }, afterMs);
    timers.add(t);
  };
  gpio.events.on('write', onWrite);
  return () => {
    gpio.events.off('write', onWrite);
    for (const t of timers) clearTimeout(t);
  };
}

/** Single keys on a TTY: p presence on/off, t tamper open/closed, c card at the exit, q quit. Returns the remover. */
export function terminalKeys(gpio: FakeGpioPort, stdin: NodeJS.ReadStream, onQuit: () => void, logger: Logger): () => void {
  if (!stdin.isTTY) return () => {};
  stdin.setRawMode(true);
  stdin.resume();
  const toggle = (pin: string) => {
    const v = !gpio.level(pin);
    gpio.drive(pin, v);
    logger.info({ pin, value: v }, `simulated ${pin} ${v ? 'active' : 'inactive'}`);
  };
  const onData = (d: Buffer) => {
    const k = d.toString();
    if (k === 'p') toggle('presence');
    else if (k === 't') toggle('tamper');
    else if (k === 'c') toggle('dispense_confirm');
    else if (k === 'q' || k === '\u0003') onQuit();
  };
  stdin.on('data', onData);
  process.stderr.write('simulated kiosk keys: p = customer arrives/leaves, t = enclosure open/closed, c = card at the exit on/off, q = quit\n');
  return () => {
    stdin.off('data', onData);
    stdin.setRawMode(false);
    stdin.pause();
  };
}
