import t from 'tap';
import type { PinMap } from '../../device/gpio/gpio-port.js';
import { FakeGpioPort } from '../../device/gpio/fake-gpio.js';
import { KioskHardware, type KioskEvents } from '../../device/kiosk/kiosk.js';
import { FakeClock, flush } from '../helpers/fake-clock.js';

const PINS: PinMap = {
  presence: { line: { bcm: 17 }, direction: 'in', debounceMs: 0 },
  tamper: { line: { bcm: 27 }, direction: 'in', debounceMs: 0 },
  dispense_pulse: { line: { bcm: 22 }, direction: 'out' },
  dispense_confirm: { line: { bcm: 23 }, direction: 'in', activeLow: true, debounceMs: 5 },
  cassette_empty: { line: { bcm: 24 }, direction: 'in' },
  dispenser_jam: { line: { bcm: 25 }, direction: 'in' },
  ring_light: { line: { bcm: 5 }, direction: 'out' },
  status_led: { line: { bcm: 6 }, direction: 'out' },
};

async function setup(inputs: Record<string, boolean> = {}, pins: PinMap = PINS) {
  const clock = new FakeClock();
  const gpio = new FakeGpioPort({ pins, clock, inputs });
  const kiosk = new KioskHardware({ gpio, pins, clock, timings: { arriveMs: 500, leaveMs: 3000, tamperCloseMs: 1000, pulseMs: 200, confirmTimeoutMs: 2000 } });
  const events: Array<[keyof KioskEvents, unknown]> = [];
  for (const name of [
    'arrived',
    'left',
    'tamper',
    'cassette',
    'jam',
    'dispense_started',
    'dispensed',
    'dispense_failed',
    'status',
    'ring_light',
    'fault',
  ] as const) {
    kiosk.events.on(name, (p: unknown) => events.push([name, p]));
  }
  await kiosk.start();
  const names = () => events.map((e) => e[0]).filter((n) => n !== 'status');
  return { clock, gpio, kiosk, events, names };
}

t.test('presence: arrival after the arrive hold, departure after the leave hold, short gaps ignored', async (t) => {
  const { clock, gpio, kiosk, names, events } = await setup();
  gpio.drive('presence', true);
  clock.advance(499);
  t.same(names(), [], 'not yet arrived');
  clock.advance(1);
  t.same(names(), ['arrived']);
  t.ok(kiosk.present);
  gpio.drive('presence', false);
  clock.advance(2000);
  gpio.drive('presence', true); // back within 3 s: still the same customer
  clock.advance(5000);
  gpio.drive('presence', false);
  clock.advance(3000);
  t.same(names(), ['arrived', 'left']);
  t.match(events.find((e) => e[0] === 'left')![1], { presentMs: 7500 });
  await kiosk.stop();
  t.equal(clock.pending, 0, 'no timers after stop');
});

t.test('tamper: opening is reported at once and aborts a dispense; closing only after it stays closed', async (t) => {
  const { clock, gpio, kiosk, names } = await setup();
  const p = kiosk.dispense();
  await flush();
  gpio.drivePhysical('tamper', true); // door switch opens: the pulled-up line goes high
  t.same(names().slice(-1), ['tamper'], 'alarm at once, no debounce');
  await t.rejects(p, { code: 'E_TAMPERED' });
  t.same(names().slice(-2), ['tamper', 'dispense_failed']);
  t.equal(gpio.level('dispense_pulse'), false, 'pulse line released');
  t.ok(kiosk.tampered);
  await t.rejects(kiosk.dispense(), { code: 'E_TAMPERED' }, 'refused while open');
  gpio.drivePhysical('tamper', false);
  clock.advance(500);
  gpio.drivePhysical('tamper', true); // bounced open again
  gpio.drivePhysical('tamper', false);
  clock.advance(999);
  t.ok(kiosk.tampered, 'still open');
  clock.advance(1);
  t.notOk(kiosk.tampered, 'closed after 1 s closed');
  await kiosk.stop();
});

t.test('an enclosure already open at start raises the alarm at once', async (t) => {
  const { kiosk, names } = await setup({ tamper: true });
  t.same(names(), ['tamper']);
  t.ok(kiosk.tampered);
  await kiosk.stop();
});

t.test('dispense: one pulse of the configured length, confirmed by the sensor', async (t) => {
  const { clock, gpio, kiosk, names } = await setup();
  const p = kiosk.dispense();
  await flush();
  t.equal(gpio.level('dispense_pulse'), true, 'pulse on');
  clock.advance(150);
  gpio.drive('dispense_confirm', true);
  clock.advance(5);
  await flush();
  clock.advance(45);
  await flush();
  t.same(await p, { id: 1, confirmMs: 150 }, 'confirmed when the card was first seen');
  t.same(
    gpio.history('dispense_pulse').map((h) => [h.value, h.timeMs]),
    [
      [false, 0],
      [true, 0],
      [false, 200],
    ],
    'exactly one 200 ms pulse',
  );
  t.same(names(), ['dispense_started', 'dispensed']);
  gpio.drive('dispense_confirm', false);
  clock.advance(10);
  await kiosk.stop();
  t.equal(clock.pending, 0);
});

t.test('dispense: never pulses twice concurrently', async (t) => {
  const { clock, gpio, kiosk } = await setup();
  const first = kiosk.dispense();
  const second = kiosk.dispense();
  await t.rejects(second, { code: 'E_DISPENSER_BUSY' });
  await flush();
  gpio.drive('dispense_confirm', true);
  clock.advance(200);
  await flush();
  t.match(await first, { id: 1 });
  t.equal(gpio.history('dispense_pulse').filter((h) => h.value).length, 1, 'one pulse');
  await kiosk.stop();
});

t.test('dispense: no card within the timeout rejects E_DISPENSE_TIMEOUT', async (t) => {
  const { clock, gpio, kiosk, events } = await setup();
  const rejected = t.rejects(kiosk.dispense(), { code: 'E_DISPENSE_TIMEOUT', details: { id: 1 } });
  await flush();
  await clock.advanceAsync(2000, 100);
  await rejected;
  t.equal(gpio.level('dispense_pulse'), false);
  t.match(events.find((e) => e[0] === 'dispense_failed')![1], { id: 1, code: 'E_DISPENSE_TIMEOUT' });
  await kiosk.stop();
});

t.test('dispense refused before pulsing: empty cassette, jam line, card still at the exit', async (t) => {
  for (const [inputs, code, reason] of [
    [{ cassette_empty: true }, 'E_DISPENSER_EMPTY', undefined],
    [{ dispenser_jam: true }, 'E_DISPENSE_JAM', 'jam_line'],
    [{ dispense_confirm: true }, 'E_DISPENSE_JAM', 'exit_blocked'],
  ] as const) {
    const { gpio, kiosk } = await setup(inputs);
    await t.rejects(kiosk.dispense(), { code, ...(reason ? { details: { reason } } : {}) }, code);
    t.equal(gpio.history('dispense_pulse').filter((h) => h.value).length, 0, 'never pulsed');
    await kiosk.stop();
  }
});

t.test('a jam reported during the dispense rejects at once; cassette and jam changes are events', async (t) => {
  const { clock, gpio, kiosk, names } = await setup();
  const p = kiosk.dispense();
  await flush();
  gpio.drive('dispenser_jam', true);
  clock.advance(20);
  await t.rejects(p, { code: 'E_DISPENSE_JAM', details: { reason: 'jam_line' } });
  gpio.drive('cassette_empty', true);
  clock.advance(20);
  t.same(names(), ['dispense_started', 'jam', 'dispense_failed', 'cassette']);
  await kiosk.stop();
});

t.test('ring light on while capturing, off afterwards even on failure', async (t) => {
  const { gpio, kiosk } = await setup();
  let during = false;
  await kiosk.withRingLight(async () => {
    during = gpio.level('ring_light');
  });
  t.ok(during);
  t.notOk(gpio.level('ring_light'));
  await t.rejects(
    kiosk.withRingLight(async () => Promise.reject(new Error('camera gone'))),
    /camera gone/,
  );
  t.notOk(gpio.level('ring_light'), 'off after a failed capture');
  await kiosk.stop();
});

t.test('status LED patterns run on timers; switching and stop leave no timer behind', async (t) => {
  const { clock, gpio, kiosk } = await setup();
  const onAt = (from: number) =>
    gpio
      .history('status_led')
      .filter((h) => h.timeMs >= from)
      .map((h) => [h.value ? 1 : 0, h.timeMs]);
  clock.advance(100);
  await flush();
  t.same(
    onAt(0),
    [
      [0, 0],
      [1, 0],
      [0, 100],
    ],
    'idle: short blink',
  );
  clock.advance(2900);
  await flush();
  t.same(onAt(2900), [[1, 3000]], 'idle repeats every 3 s');
  kiosk.setStatus('busy');
  clock.advance(1000);
  await flush();
  t.same(
    onAt(3001),
    [
      [0, 3250],
      [1, 3500],
      [0, 3750],
      [1, 4000],
    ],
    'busy: 250/250 blink',
  );
  kiosk.setStatus('out_of_service');
  await flush();
  const n = gpio.history('status_led').length;
  clock.advance(10_000);
  t.equal(gpio.history('status_led').length, n, 'steady: no more writes');
  t.equal(gpio.level('status_led'), true);
  t.equal(clock.pending, 0);
  kiosk.setStatus('error');
  t.equal(kiosk.status, 'error');
  await kiosk.stop();
  t.equal(clock.pending, 0, 'LED timer cleared');
  t.notOk(gpio.level('status_led'), 'outputs off after stop');
});

t.test('missing or mis-directed kiosk pins refuse to start, naming the key', async (t) => {
  const { status_led: _led, ...noLed } = PINS;
  await t.rejects(setup({}, noLed), { code: 'E_CONFIG_INVALID', subject: 'gpio.pins.status_led' });
  await t.rejects(setup({}, { ...PINS, tamper: { line: { bcm: 27 }, direction: 'out' } }), { code: 'E_CONFIG_INVALID', subject: 'gpio.pins.tamper.direction' });
  const { ring_light: _r, cassette_empty: _c, dispenser_jam: _j, ...minimal } = PINS;
  const { kiosk } = await setup({}, minimal);
  await kiosk.setRingLight(true); // no ring light wired: a no-op
  await kiosk.stop();
  t.throws(() => new KioskHardware({ gpio: new FakeGpioPort({ pins: PINS }), pins: PINS, timings: { pulseMs: 0 } }), {
    code: 'E_CONFIG_INVALID',
    subject: 'kiosk.pulseMs',
  });
});
