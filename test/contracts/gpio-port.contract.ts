/**
 * The GpioPort contract. Run against the fake, and against the gpiod port with stand-in libgpiod
 * tools and an emulated chip (gpio-port-gpiod.test.ts); the onoff port needs /sys/class/gpio and real
 * lines (none on this machine), so on a Pi run it with a loopback wire between two pins.
 */
import t from 'tap';
import type { GpioPort, PinMap } from '../../device/gpio/gpio-port.js';
import type { FakeClock } from '../helpers/fake-clock.js';

export const CONTRACT_PINS: PinMap = {
  button: { line: { bcm: 17 }, direction: 'in', activeLow: true, debounceMs: 20 },
  sensor: { line: { bcm: 27 }, direction: 'in', debounceMs: 0 },
  relay: { line: { bcm: 22 }, direction: 'out', initial: false },
  lamp: { line: { bcm: 23 }, direction: 'out', activeLow: true, initial: true },
};

export interface GpioSubject {
  port: GpioPort;
  clock: FakeClock;
  /** Sets an input's logical level as the outside world would; a port fed by another process resolves once the port has seen it. */
  drive(pin: string, active: boolean): void | Promise<void>;
  /** An output's logical level as the outside world sees it. */
  observe(pin: string): boolean;
}

export function gpioPortContract(name: string, make: (pins: PinMap) => GpioSubject): void {
  t.test(`${name}: outputs start at their initial value, follow writes and return to it on close`, async (t) => {
    const s = make(CONTRACT_PINS);
    await s.port.start();
    t.equal(s.observe('relay'), false);
    t.equal(s.observe('lamp'), true, 'initial true');
    await s.port.write('relay', true);
    t.equal(s.observe('relay'), true);
    t.equal(await s.port.read('relay'), true, 'read gives an output its last written value');
    await s.port.close();
    t.equal(s.observe('relay'), false, 'back to initial on close');
  });

  t.test(`${name}: inputs are debounced; watch reports logical edges; unwatch and close remove listeners`, async (t) => {
    const s = make(CONTRACT_PINS);
    await s.port.start();
    const edges: Array<[string, boolean, string]> = [];
    const off = s.port.watch('button', (e) => edges.push([e.pin, e.value, e.edge]));
    await s.drive('button', true);
    s.clock.advance(5);
    await s.drive('button', false);
    s.clock.advance(5);
    await s.drive('button', true);
    s.clock.advance(19);
    t.same(edges, [], 'bounces not reported');
    t.equal(await s.port.read('button'), false, 'read gives the debounced value');
    s.clock.advance(1);
    t.same(edges, [['button', true, 'rising']]);
    t.equal(await s.port.read('button'), true);
    s.port.watch('sensor', (e) => edges.push([e.pin, e.value, e.edge]));
    await s.drive('sensor', true);
    t.same(edges.at(-1), ['sensor', true, 'rising'], 'debounceMs 0: at once');
    off();
    await s.drive('button', false);
    s.clock.advance(50);
    t.equal(edges.filter((e) => e[0] === 'button').length, 1, 'unwatched listener not called');
    await s.port.close();
    await s.drive('sensor', false);
    s.clock.advance(50);
    t.equal(edges.length, 2, 'no events after close');
    t.equal(s.clock.pending, 0, 'no timers left');
  });

  t.test(`${name}: misuse is a coded error naming the pin`, async (t) => {
    const s = make(CONTRACT_PINS);
    await t.rejects(s.port.read('button'), { code: 'E_GPIO' }, 'not started');
    await s.port.start();
    t.teardown(() => s.port.close());
    await t.rejects(s.port.write('button', true), { code: 'E_GPIO', subject: 'button' });
    await t.rejects(s.port.read('nope'), { code: 'E_GPIO', subject: 'nope' });
    t.throws(() => s.port.watch('relay', () => {}), { code: 'E_GPIO' });
  });

  t.test(`${name}: an invalid pin map refuses to start, naming the key`, async (t) => {
    for (const [pins, key] of [
      [{ a: { line: { bcm: 40 }, direction: 'in' } }, 'gpio.pins.a.line.bcm'],
      [{ a: { line: { bcm: 4 }, direction: 'in' }, b: { line: { bcm: 4 }, direction: 'out' } }, 'gpio.pins.b.line'],
      [{ a: { line: { chip: 'pinctrl-rp1' }, direction: 'in' } }, 'gpio.pins.a.line'],
      [{ a: { line: { bcm: 4 }, direction: 'sideways' } }, 'gpio.pins.a.direction'],
      [{ A: { line: { bcm: 4 }, direction: 'in' } }, 'gpio.pins.A'],
    ] as Array<[PinMap, string]>) {
      await t.rejects(make(pins).port.start(), { code: 'E_CONFIG_INVALID', subject: key }, `E_CONFIG_INVALID ${key}`);
    }
  });
}
