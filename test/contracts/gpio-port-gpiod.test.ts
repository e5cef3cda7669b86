/**
 * The GpioPort contract and the gpiod port's own behaviour (line names, supervision, missing tools),
 * against STAND-IN libgpiod v1 tools and an emulated chip (test/helpers/gpiod-standin): this machine
 * has no GPIO chip. Real processes and pipes; debounce and restart delays on a fake clock.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import t from 'tap';
import { GpiodGpioPort } from '../../device/gpio/gpiod-gpio.js';
import type { KioskError } from '../../base/errors.js';
import type { PinMap } from '../../device/gpio/gpio-port.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { StandInChip } from '../helpers/gpiod-standin/chip.js';
import { ownTempDir } from '../helpers/tempdir.js';
import { waitFor } from '../helpers/wait.js';
import { gpioPortContract } from './gpio-port.contract.js';

const dir = ownTempDir(t, 'gpiod-');
const chip = new StandInChip({ names: { 5: 'RING_LIGHT', 24: 'CASSETTE' } });
await chip.start(dir);
t.teardown(() => chip.stop());

const offsetOf = (pins: PinMap, pin: string) => {
  const l = pins[pin].line;
  return 'bcm' in l ? l.bcm : 'offset' in l ? l.offset : -1;
};

/** Resolves with the port's next raw sample of `pin` (the gpiomon line has been read and handled). */
function nextSample(port: GpiodGpioPort, pin: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no sample of ${pin} within 5 s`)), 5000);
    const on = (e: { pin: string; value: boolean }) => {
      if (e.pin !== pin) return;
      clearTimeout(timer);
      port.events.off('sample', on);
      resolve(e.value);
    };
    port.events.on('sample', on);
  });
}

function subject(pins: PinMap, clock = new FakeClock()) {
  // Inputs start inactive, whatever an earlier test left on the emulated lines.
  for (const [name, p] of Object.entries(pins)) if (p.direction === 'in' && offsetOf(pins, name) >= 0) chip.drive(offsetOf(pins, name), p.activeLow ?? false);
  const port = new GpiodGpioPort({ pins, clock, env: chip.env() });
  return {
    port,
    clock,
    async drive(pin: string, active: boolean) {
      const seen = nextSample(port, pin);
      seen.catch(() => {});
      // Wait only while the port runs a gpiomon: after close the chip may not have seen its socket close yet.
      const monitored = port.monitorPids.length > 0;
      if (chip.drive(offsetOf(pins, pin), active !== (pins[pin].activeLow ?? false)) && monitored) await seen;
    },
    observe: (pin: string) => chip.level(offsetOf(pins, pin)) !== (pins[pin].activeLow ?? false),
  };
}

gpioPortContract('gpiod (stand-in tools)', (pins) => subject(pins));

t.test('gpiod: lines by chip label and by name; outputs held by gpioset at their electrical level; all released on close', async (t) => {
  const pins: PinMap = {
    door: { line: { chip: 'pinctrl-bcm2711', offset: 27 }, direction: 'in', debounceMs: 0 },
    cassette_empty: { line: { name: 'CASSETTE' }, direction: 'in', activeLow: true, debounceMs: 0 },
    ring_light: { line: { name: 'RING_LIGHT' }, direction: 'out', activeLow: true },
  };
  chip.drive(24, false); // active-low cassette sensor pulled low: empty at start
  const port = new GpiodGpioPort({ pins, clock: new FakeClock(), env: chip.env() });
  await port.start();
  t.equal(await port.read('cassette_empty'), true, 'initial level from gpioget, polarity applied');
  t.equal(chip.consumer(5), 'gpioset');
  t.equal(chip.level(5), true, 'active-low output off = line high');
  await port.write('ring_light', true);
  t.equal(chip.level(5), false);
  t.same([chip.consumer(24), chip.consumer(27)], ['gpiomon', 'gpiomon'], "one gpiomon holds the chip's inputs");
  const edges: boolean[] = [];
  port.watch('cassette_empty', (e) => edges.push(e.value));
  const seen = nextSample(port, 'cassette_empty');
  chip.drive(24, true);
  t.equal(await seen, false);
  t.same(edges, [false]);
  await port.close();
  t.same([chip.consumer(5), chip.consumer(24), chip.consumer(27)], [null, null, null], 'every line released');
  t.equal(chip.level(5), true, 'ring light back to its initial (off) level before release');
});

t.test('gpiod: a gpiomon or gpioset that dies is reported (E_GPIO naming the chip or line) and restarted with backoff; missed edges are re-read', async (t) => {
  const pins: PinMap = { presence: { line: { bcm: 17 }, direction: 'in', debounceMs: 0 }, dispense_pulse: { line: { bcm: 22 }, direction: 'out' } };
  const clock = new FakeClock();
  const s = subject(pins, clock);
  const port = s.port;
  const errors: KioskError[] = [];
  port.events.on('failed', (e) => errors.push(e));
  await port.start();
  t.teardown(() => port.close());
  const [pid] = port.monitorPids;
  process.kill(pid, 'SIGKILL');
  await waitFor('the gpiomon exit to be reported', () => errors.length === 1, 5000);
  t.match(errors[0], { code: 'E_GPIO', subject: 'gpiochip0', details: { pins: ['presence'] } });
  t.equal(chip.consumer(17), null, 'its line was released with it');
  chip.drive(17, true); // while nobody watches
  t.equal(await port.read('presence'), false);
  const resync = nextSample(port, 'presence');
  clock.advance(499);
  t.equal(port.monitorPids.length, 0, 'not restarted before 500 ms');
  clock.advance(1);
  t.equal(await resync, true, 'the restart re-reads the level it missed');
  t.equal(await port.read('presence'), true);
  await waitFor('gpiomon to hold the line again', () => port.monitorPids.length === 1 && chip.consumer(17) === 'gpiomon', 5000);
  await s.drive('presence', false);
  t.equal(await port.read('presence'), false, 'edges flow again');

  await port.write('dispense_pulse', true);
  const holder = await waitFor('the gpioset pid', () => Number(/^gpioset$/.test(chip.consumer(22) ?? '') && findPid('gpioset', '22=1')), 5000);
  process.kill(holder, 'SIGKILL');
  await waitFor('the gpioset exit to be reported', () => errors.length === 2, 5000);
  t.match(errors[1], { code: 'E_GPIO', subject: 'gpiochip0:22', details: { pin: 'dispense_pulse' } });
  clock.advance(500);
  await waitFor('gpioset to hold the line again', () => chip.consumer(22) === 'gpioset', 5000);
  t.equal(chip.level(22), true, 'the restarted gpioset drives the last written level');
});

/** Pid of a running stand-in tool whose command line ends with `lastArg`. */
function findPid(tool: string, lastArg: string): number | undefined {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const argv = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').filter(Boolean);
      if (argv.includes(tool) && argv.at(-1) === lastArg && argv.some((a: string) => a.endsWith('tool.mjs'))) return Number(d);
    } catch {
      /* exited */
    }
  }
  return undefined;
}

t.test('gpiod: missing tools, v2 tools and a busy line refuse to start with E_GPIO, leaving nothing running', async (t) => {
  const pins: PinMap = { presence: { line: { bcm: 17 }, direction: 'in' }, relay: { line: { bcm: 22 }, direction: 'out' } };
  const empty = ownTempDir(t, 'no-tools-');
  const missing = new GpiodGpioPort({ pins, env: { ...chip.env(), PATH: empty } });
  await t.rejects(missing.start(), {
    code: 'E_GPIO',
    subject: 'gpiod',
    message: /install the Debian package gpiod/,
    details: { package: 'gpiod', tool: 'gpioset' },
  });

  const v2 = new GpiodGpioPort({ pins, env: chip.env({ GPIOD_STANDIN_VERSION: '2.1' }) });
  await t.rejects(v2.start(), { code: 'E_GPIO', subject: 'gpiod', message: /libgpiod v2\.1 tools are not supported/ });

  const other = spawn('gpioset', ['--mode=signal', 'gpiochip0', '22=1'], { env: chip.env(), stdio: 'ignore' });
  t.teardown(() => {
    other.kill();
  });
  await waitFor('another process to hold line 22', () => chip.consumer(22) === 'gpioset', 5000);
  const busy = new GpiodGpioPort({ pins, env: chip.env(), clock: new FakeClock() });
  await t.rejects(busy.start(), { code: 'E_GPIO', subject: 'gpiochip0:22', message: /busy: held by "gpioset"/ });
  t.equal(chip.consumer(17), null, 'the gpiomon it had started is stopped again');
  other.kill();
  await once(other, 'exit');
});
