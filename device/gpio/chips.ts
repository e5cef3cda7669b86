/**
 * Sysfs GPIO numbers are chip base + line offset, and the bases are not stable: Linux 6.6 moved the
 * Raspberry Pi header from base 0 to 512 (Pi 4) and 571 (Pi 5, whose header is on the RP1 chip).
 * So the bases are read from `/sys/class/gpio/gpiochip*` at run time, never hard-coded.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KioskError } from '../../base/errors.js';
import type { LineRef } from './gpio-port.js';

/** One GPIO controller as sysfs describes it. */
export interface GpioChip {
  /** Directory name, e.g. `gpiochip512`. */
  name: string;
  base: number;
  ngpio: number;
  label: string;
}

/**
 * Chips whose line offsets are BCM numbers, most specific first: RP1 (Pi 5's header), BCM2711
 * (Pi 4, Pi 400, CM4), BCM2835 (Pi 1-3, Zero). Pi 5 also shows `pinctrl-bcm2712`, which is not the header.
 */
export const BCM_CHIP_LABELS = ['pinctrl-rp1', 'pinctrl-bcm2711', 'pinctrl-bcm2835'] as const;

/** Reads every `gpiochip*` under `<sysfsRoot>/class/gpio` (base, ngpio, label). */
export async function readGpioChips(sysfsRoot = '/sys'): Promise<GpioChip[]> {
  const dir = join(sysfsRoot, 'class', 'gpio');
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => /^gpiochip\d+$/.test(n));
  } catch (err) {
    throw new KioskError(
      'E_GPIO',
      'sysfs GPIO is not available (kernel without CONFIG_GPIO_SYSFS, or not mounted): on such kernels (JetPack 6) use gpio.driver "gpiod"',
      { subject: dir, cause: err },
    );
  }
  const chips: GpioChip[] = [];
  for (const name of names) {
    const read = async (f: string) => (await readFile(join(dir, name, f), 'utf8')).trim();
    try {
      const base = Number(await read('base'));
      const ngpio = Number(await read('ngpio'));
      if (!Number.isInteger(base) || !Number.isInteger(ngpio)) continue;
      chips.push({ name, base, ngpio, label: await read('label') });
    } catch {
      // A chip that vanished between readdir and read (hot-unplugged expander) is simply not listed.
    }
  }
  return chips.sort((a, b) => a.base - b.base);
}

/**
 * The chip a line is on and its offset there, from chips described by label, name and line count
 * (sysfs here, gpiodetect in the gpiod port); throws E_GPIO naming the pin when the chip is absent,
 * the offset is out of range, or the line is given by name (only the gpiod port resolves names).
 */
export function findChipLine<C extends Pick<GpioChip, 'name' | 'label' | 'ngpio'>>(ref: LineRef, chips: readonly C[], pin = ''): { chip: C; offset: number } {
  let chip: C | undefined;
  let offset: number;
  if ('name' in ref) {
    throw new KioskError('E_GPIO', `line names ("${ref.name}") need gpio.driver "gpiod": sysfs GPIO has no line names`, { subject: pin });
  } else if ('bcm' in ref) {
    offset = ref.bcm;
    chip = BCM_CHIP_LABELS.map((l) => chips.find((c) => c.label === l)).find(Boolean);
    if (!chip) {
      const seen = chips.map((c) => `${c.name}=${c.label}`).join(', ') || 'none';
      throw new KioskError(
        'E_GPIO',
        `BCM numbering needs a Raspberry Pi GPIO chip (${BCM_CHIP_LABELS.join(', ')}); found ${seen}: give {"chip": "<label>", "offset": N} instead`,
        { subject: pin },
      );
    }
  } else {
    offset = ref.offset;
    chip = chips.find((c) => c.label === ref.chip || c.name === ref.chip);
    if (!chip)
      throw new KioskError('E_GPIO', `no GPIO chip labelled "${ref.chip}" (found ${chips.map((c) => c.label).join(', ') || 'none'})`, { subject: pin });
  }
  if (offset >= chip.ngpio) throw new KioskError('E_GPIO', `line ${offset} is past the end of ${chip.label} (${chip.ngpio} lines)`, { subject: pin });
  return { chip, offset };
}

/** The sysfs GPIO number of a line (chip base + offset); errors as `findChipLine`. */
export function resolveLine(ref: LineRef, chips: readonly GpioChip[], pin = ''): number {
  const { chip, offset } = findChipLine(ref, chips, pin);
  return chip.base + offset;
}
