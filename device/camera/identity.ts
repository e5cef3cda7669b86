/**
 * Camera identity: what the device itself reports (VIDIOC_QUERYCAP through `v4l2-ctl --info`, and
 * sysfs), and whether it is a virtual camera that could inject pre-recorded video.
 */
import { readFile, realpath } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { startChild, TailBuffer, type MediaTools } from '../../base/process.js';
import type { CameraIdentity } from './frame-source.js';

/** Known virtual or test video drivers and devices, matched against driver, card and bus. */
export const VIRTUAL_CAMERA_PATTERNS: ReadonlyArray<{ re: RegExp; why: string }> = [
  { re: /v4l2[ _-]?loopback/i, why: 'v4l2loopback' },
  { re: /dummy video device/i, why: 'v4l2loopback (Dummy video device)' },
  { re: /obs[ -]?(virtual[ -]?)?cam/i, why: 'OBS virtual camera' },
  { re: /akvcam/i, why: 'akvcam' },
  { re: /\bvivid\b/i, why: 'vivid test driver' },
  { re: /\bvim2m\b|\bvicodec\b|\bvisl\b/i, why: 'kernel virtual media driver' },
  { re: /manycam|snap camera|xsplit|droidcam|iriun|epoccam|camo\b|mmhmm/i, why: 'software webcam' },
  { re: /\bvirtual\b|\bfake\b|\bloopback\b/i, why: 'device calls itself virtual' },
];

/** Why a driver/card/bus combination is virtual, or undefined for a real-looking camera. */
export function virtualReason(fields: { driver?: string; card?: string; bus?: string; sysfsPath?: string }): string | undefined {
  if (fields.sysfsPath?.includes('/devices/virtual/')) return 'no parent device (sysfs /devices/virtual)';
  for (const value of [fields.driver, fields.card, fields.bus]) {
    if (!value) continue;
    const hit = VIRTUAL_CAMERA_PATTERNS.find((p) => p.re.test(value));
    if (hit) return hit.why;
  }
  return undefined;
}

/** Parses `v4l2-ctl --info`: `Driver name`, `Card type` and `Bus info` of VIDIOC_QUERYCAP. */
export function parseV4l2Info(text: string): { driver?: string; card?: string; bus?: string } {
  const field = (name: string) => text.match(new RegExp(`^\\s*${name}\\s*:\\s*(.*?)\\s*$`, 'm'))?.[1] || undefined;
  return { driver: field('Driver name'), card: field('Card type'), bus: field('Bus info') };
}

export interface IdentifyOptions {
  /** Root of sysfs (default `/sys`; tests point it at a fake tree). */
  sysfsRoot?: string;
  /** `v4l2-ctl` executable; `false` to read sysfs only. Default `v4l2-ctl` (Debian v4l-utils), skipped when absent. */
  v4l2ctlPath?: string | false;
  spawn?: MediaTools['spawn'];
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return (await readFile(path, 'utf8')).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Runs `v4l2-ctl --info -d <device>`; undefined when the tool is missing or fails. */
async function queryCap(device: string, o: IdentifyOptions): Promise<ReturnType<typeof parseV4l2Info> | undefined> {
  if (o.v4l2ctlPath === false) return undefined;
  const { child, exited } = startChild(o.v4l2ctlPath ?? 'v4l2-ctl', ['--info', '-d', device], { stdio: ['ignore', 'pipe', 'pipe'] }, o.spawn);
  const out = new TailBuffer(16384);
  child.stdout?.on('data', (c: Buffer) => out.push(c));
  child.stderr?.resume();
  const exit = await exited;
  if (exit.spawnError || exit.code !== 0) return undefined;
  return parseV4l2Info(out.value);
}

/**
 * Identifies a V4L2 device: `v4l2-ctl --info` when installed (the driver's own VIDIOC_QUERYCAP
 * answer), sysfs otherwise (`/sys/class/video4linux/videoN/name`, the `device` link and its driver,
 * USB descriptors). A device node that does not resolve gives an identity with only `device`.
 */
export async function identifyV4l2(device: string, o: IdentifyOptions = {}): Promise<CameraIdentity> {
  const sysfs = o.sysfsRoot ?? '/sys';
  let node = device;
  try {
    node = await realpath(device); // /dev/v4l/by-id/... -> /dev/videoN
  } catch {
    // Not on this filesystem (tests) or unplugged: sysfs lookup by the name as given.
  }
  const classDir = join(sysfs, 'class', 'video4linux', basename(node));
  // Class entries are symlinks into /sys/devices, and the links inside them are relative to the real
  // directory: resolve with realpath, never by joining paths.
  const sysfsPath = await realpath(classDir).catch(() => undefined);
  const card = await readText(join(classDir, 'name'));
  let driver: string | undefined;
  let bus: string | undefined;
  let usb: CameraIdentity['usb'];
  const devPath = sysfsPath && (await realpath(join(sysfsPath, 'device')).catch(() => undefined));
  if (devPath) {
    driver = basename((await realpath(join(devPath, 'driver')).catch(() => '')) ?? '') || undefined;
    const iface = basename(devPath);
    if (/^\d+-[\d.]+:\d+\.\d+$/.test(iface)) {
      // A USB interface (1-1.2:1.0): the descriptors are on its parent, the USB device.
      const usbDir = dirname(devPath);
      usb = {
        vendorId: await readText(join(usbDir, 'idVendor')),
        productId: await readText(join(usbDir, 'idProduct')),
        manufacturer: await readText(join(usbDir, 'manufacturer')),
        product: await readText(join(usbDir, 'product')),
        serial: await readText(join(usbDir, 'serial')),
      };
      bus = `usb:${iface}`;
    } else {
      bus = `platform:${iface}`;
    }
  }
  const cap = await queryCap(device, o);
  const fields = { driver: cap?.driver ?? driver, card: cap?.card ?? card, bus: cap?.bus ?? bus };
  const reason = virtualReason({ ...fields, sysfsPath });
  return { kind: 'v4l2', device, ...fields, ...(usb ? { usb } : {}), virtual: reason !== undefined, ...(reason ? { virtualReason: reason } : {}) };
}
