/**
 * A sysfs tree in a temp dir, laid out as the kernel does it (class entries are symlinks into
 * /sys/devices, device and driver links are relative), for the GPIO chip and camera identity code.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';

export class FakeSysfs {
  readonly root = mkdtempSync(join(tmpdir(), 'sysfs-'));

  /** Adds `/sys/class/gpio/gpiochipN` with its base, ngpio and label (a real chip dir under /sys/devices). */
  gpioChip(base: number, ngpio: number, label: string): this {
    const dev = join(this.root, 'devices', 'platform', `${label}.${base}`, 'gpio', `gpiochip${base}`);
    this.files(dev, { base: `${base}\n`, ngpio: `${ngpio}\n`, label: `${label}\n` });
    this.link(join(this.root, 'class', 'gpio', `gpiochip${base}`), dev);
    return this;
  }

  /** Adds a UVC camera on USB port 1-1.2 as /sys/class/video4linux/<node>. */
  usbCamera(node: string, o: { name: string; vendorId: string; productId: string; product?: string; manufacturer?: string; serial?: string }): this {
    const usbDev = join(this.root, 'devices', 'platform', 'scb', 'fd500000.pcie', 'usb1', '1-1', '1-1.2');
    this.files(usbDev, {
      idVendor: `${o.vendorId}\n`,
      idProduct: `${o.productId}\n`,
      ...(o.product ? { product: `${o.product}\n` } : {}),
      ...(o.manufacturer ? { manufacturer: `${o.manufacturer}\n` } : {}),
      ...(o.serial ? { serial: `${o.serial}\n` } : {}),
    });
    const iface = join(usbDev, '1-1.2:1.0');
    const driver = join(this.root, 'bus', 'usb', 'drivers', 'uvcvideo');
    mkdirSync(driver, { recursive: true });
    mkdirSync(iface, { recursive: true });
    this.link(join(iface, 'driver'), driver);
    const v = join(iface, 'video4linux', node);
    this.files(v, { name: `${o.name}\n` });
    this.link(join(v, 'device'), iface);
    this.link(join(this.root, 'class', 'video4linux', node), v);
    return this;
  }

  /** Adds a v4l2loopback device: no parent, under /sys/devices/virtual. */
  loopbackCamera(node: string, name = 'Dummy video device (0x0000)'): this {
    const v = join(this.root, 'devices', 'virtual', 'video4linux', node);
    this.files(v, { name: `${name}\n` });
    this.link(join(this.root, 'class', 'video4linux', node), v);
    return this;
  }

  remove(): void {
    rmSync(this.root, { recursive: true, force: true });
  }

  private files(dir: string, files: Record<string, string>): void {
    mkdirSync(dir, { recursive: true });
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  }

  /** A relative symlink at `at` pointing to `target`, as sysfs has them. */
  private link(at: string, target: string): void {
    mkdirSync(dirname(at), { recursive: true });
    symlinkSync(relative(dirname(at), target), at);
  }
}
