/** Chip base resolution against fake sysfs trees of a Pi 4 and a Pi 5 on Linux 6.6+, and the onoff port's error paths. */
import t from 'tap';
import { readGpioChips, resolveLine } from '../../device/gpio/chips.js';
import { OnoffGpioPort, type OnoffGpio, type OnoffModule } from '../../device/gpio/onoff-gpio.js';
import { FakeSysfs } from '../helpers/fake-sysfs.js';
import { FakeClock } from '../helpers/fake-clock.js';

t.test('Pi 5 (kernel 6.6+): the header is on pinctrl-rp1 at base 571; BCM numbers resolve there', async (t) => {
  const sys = new FakeSysfs()
    .gpioChip(512, 32, 'gpio-brcmstb@107d508500')
    .gpioChip(544, 4, 'gpio-brcmstb@107d517c00')
    .gpioChip(548, 32, 'pinctrl-bcm2712')
    .gpioChip(571, 54, 'pinctrl-rp1');
  t.teardown(() => sys.remove());
  const chips = await readGpioChips(sys.root);
  t.same(
    chips.map((c) => [c.name, c.base, c.ngpio, c.label]),
    [
      ['gpiochip512', 512, 32, 'gpio-brcmstb@107d508500'],
      ['gpiochip544', 544, 4, 'gpio-brcmstb@107d517c00'],
      ['gpiochip548', 548, 32, 'pinctrl-bcm2712'],
      ['gpiochip571', 571, 54, 'pinctrl-rp1'],
    ],
  );
  t.equal(resolveLine({ bcm: 17 }, chips), 588);
  t.equal(resolveLine({ chip: 'pinctrl-rp1', offset: 4 }, chips), 575);
  t.equal(resolveLine({ chip: 'gpiochip548', offset: 1 }, chips), 549, 'a chip can be named by its directory too');
});

t.test('Pi 4: pinctrl-bcm2711 at base 512 (6.6+) or 0 (older kernels)', async (t) => {
  const newer = new FakeSysfs().gpioChip(512, 58, 'pinctrl-bcm2711').gpioChip(570, 8, 'raspberrypi-exp-gpio');
  const older = new FakeSysfs().gpioChip(0, 58, 'pinctrl-bcm2711').gpioChip(504, 8, 'raspberrypi-exp-gpio');
  t.teardown(() => {
    newer.remove();
    older.remove();
  });
  t.equal(resolveLine({ bcm: 17 }, await readGpioChips(newer.root)), 529);
  t.equal(resolveLine({ bcm: 17 }, await readGpioChips(older.root)), 17);
});

t.test('Jetson-style chips: label + offset; BCM numbering refused with a hint; offsets past the chip refused', async (t) => {
  const sys = new FakeSysfs().gpioChip(316, 24, 'tegra234-gpio-aon').gpioChip(348, 164, 'tegra234-gpio');
  t.teardown(() => sys.remove());
  const chips = await readGpioChips(sys.root);
  t.equal(resolveLine({ chip: 'tegra234-gpio', offset: 85 }, chips), 433);
  t.throws(() => resolveLine({ bcm: 17 }, chips, 'presence'), { code: 'E_GPIO', subject: 'presence', message: /chip.*offset/ });
  t.throws(() => resolveLine({ chip: 'tegra234-gpio-aon', offset: 24 }, chips), { code: 'E_GPIO', message: /past the end/ });
  t.throws(() => resolveLine({ chip: 'pinctrl-rp1', offset: 1 }, chips), { code: 'E_GPIO', message: /no GPIO chip labelled "pinctrl-rp1"/ });
});

t.test('no sysfs GPIO at all is a clear error', async (t) => {
  const sys = new FakeSysfs();
  t.teardown(() => sys.remove());
  await t.rejects(readGpioChips(sys.root), { code: 'E_GPIO', message: /CONFIG_GPIO_SYSFS/ });
});

t.test('onoff port: missing module and inaccessible sysfs fail start clearly', async (t) => {
  const pins = { presence: { line: { bcm: 17 }, direction: 'in' as const } };
  const missing = new OnoffGpioPort({ pins, loadOnoff: () => Promise.reject(new Error("Cannot find package 'onoff'")) });
  await t.rejects(missing.start(), { code: 'E_GPIO', subject: 'onoff', message: /optional dependency onoff/ });
  const noSysfs = new OnoffGpioPort({
    pins,
    loadOnoff: async () => ({ Gpio: Object.assign(() => {}, { accessible: false }) }) as unknown as OnoffModule,
  });
  await t.rejects(noSysfs.start(), { code: 'E_GPIO', message: /not accessible/ });
});

t.test('onoff port with a stand-in Gpio class: numbers from chip bases, inactive level set with the direction, edges debounced', async (t) => {
  const sys = new FakeSysfs().gpioChip(571, 54, 'pinctrl-rp1');
  t.teardown(() => sys.remove());
  const made: Array<{ n: number; direction: string; edge?: string; activeLow?: boolean; unexported: boolean; cb?: (e: null, v: 0 | 1) => void; value: 0 | 1 }> =
    [];
  class StandIn implements OnoffGpio {
    static accessible = true;
    rec: (typeof made)[number];
    constructor(n: number, direction: string, edge?: string, o?: { activeLow?: boolean }) {
      this.rec = { n, direction, edge, activeLow: o?.activeLow, unexported: false, value: 0 };
      made.push(this.rec);
    }
    async read() {
      return this.rec.value;
    }
    async write(v: 0 | 1) {
      this.rec.value = v;
    }
    watch(cb: (e: null, v: 0 | 1) => void) {
      this.rec.cb = cb;
    }
    unwatchAll() {
      this.rec.cb = undefined;
    }
    unexport() {
      this.rec.unexported = true;
    }
  }
  const clock = new FakeClock();
  const port = new OnoffGpioPort({
    pins: {
      presence: { line: { bcm: 17 }, direction: 'in', debounceMs: 10 },
      dispense_pulse: { line: { chip: 'pinctrl-rp1', offset: 22 }, direction: 'out', activeLow: true },
    },
    sysfsRoot: sys.root,
    clock,
    loadOnoff: async () => ({ Gpio: StandIn }) as unknown as OnoffModule,
  });
  await port.start();
  t.same(
    made.map((m) => [m.n, m.direction, m.edge, m.activeLow]),
    [
      [588, 'in', 'both', false],
      [593, 'high', 'none', true],
    ],
    'active-low output configured "high" (inactive) atomically',
  );
  const edges: boolean[] = [];
  port.watch('presence', (e) => edges.push(e.value));
  made[0].cb!(null, 1);
  clock.advance(10);
  t.same(edges, [true]);
  await port.close();
  t.ok(
    made.every((m) => m.unexported && !m.cb),
    'lines unwatched and unexported on close',
  );
});
