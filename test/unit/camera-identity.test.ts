import t from 'tap';
import { identifyV4l2, parseV4l2Info, virtualReason } from '../../device/camera/identity.js';
import { FakeSysfs } from '../helpers/fake-sysfs.js';

t.test('parses v4l2-ctl --info (VIDIOC_QUERYCAP)', async (t) => {
  const text = [
    'Driver Info:',
    '\tDriver name      : uvcvideo',
    '\tCard type        : HD USB Camera: HD USB Camera',
    '\tBus info         : usb-0000:01:00.0-1.2',
    '\tDriver version   : 6.6.31',
  ].join('\n');
  t.same(parseV4l2Info(text), { driver: 'uvcvideo', card: 'HD USB Camera: HD USB Camera', bus: 'usb-0000:01:00.0-1.2' });
  t.same(parseV4l2Info('garbage'), { driver: undefined, card: undefined, bus: undefined });
});

t.test('known virtual cameras are recognised, real ones are not', async (t) => {
  t.equal(virtualReason({ driver: 'v4l2 loopback', card: 'Dummy video device (0x0000)', bus: 'platform:v4l2loopback-000' }), 'v4l2loopback');
  t.equal(virtualReason({ card: 'Dummy video device (0x0000)' }), 'v4l2loopback (Dummy video device)');
  t.equal(virtualReason({ card: 'OBS Virtual Camera' }), 'OBS virtual camera');
  t.equal(virtualReason({ driver: 'akvcam', card: 'Virtual Camera' }), 'akvcam');
  t.equal(virtualReason({ driver: 'vivid', card: 'vivid', bus: 'platform:vivid-000' }), 'vivid test driver');
  t.equal(virtualReason({ card: 'ManyCam Virtual Webcam' }), 'software webcam');
  t.equal(virtualReason({ card: 'HD USB Camera', sysfsPath: '/sys/devices/virtual/video4linux/video0' }), 'no parent device (sysfs /devices/virtual)');
  t.equal(virtualReason({ driver: 'uvcvideo', card: 'HD USB Camera: HD USB Camera', bus: 'usb-0000:01:00.0-1.2' }), undefined);
  t.equal(virtualReason({ driver: 'unicam', card: 'unicam', bus: 'platform:fe801000.csi' }), undefined);
});

t.test('identifies a USB camera from sysfs (driver, card, bus, USB descriptors)', async (t) => {
  const sys = new FakeSysfs().usbCamera('video0', {
    name: 'HD USB Camera: HD USB Camera',
    vendorId: '32e4',
    productId: '9230',
    product: 'HD USB Camera',
    manufacturer: 'HD USB Camera',
    serial: '2020',
  });
  t.teardown(() => sys.remove());
  const id = await identifyV4l2('/dev/video0', { sysfsRoot: sys.root, v4l2ctlPath: false });
  t.same(id, {
    kind: 'v4l2',
    device: '/dev/video0',
    driver: 'uvcvideo',
    card: 'HD USB Camera: HD USB Camera',
    bus: 'usb:1-1.2:1.0',
    usb: { vendorId: '32e4', productId: '9230', manufacturer: 'HD USB Camera', product: 'HD USB Camera', serial: '2020' },
    virtual: false,
  });
});

t.test('identifies a v4l2loopback device as virtual, by its name and its missing parent', async (t) => {
  const sys = new FakeSysfs().loopbackCamera('video7', 'HD USB Camera');
  t.teardown(() => sys.remove());
  const id = await identifyV4l2('/dev/video7', { sysfsRoot: sys.root, v4l2ctlPath: false });
  t.match(id, { kind: 'v4l2', card: 'HD USB Camera', virtual: true, virtualReason: /devices\/virtual/ }, 'a loopback renamed to look real is still caught');
});

t.test('v4l2-ctl, when present, is what the driver says; a missing v4l2-ctl falls back to sysfs', async (t) => {
  const sys = new FakeSysfs().usbCamera('video0', { name: 'HD USB Camera', vendorId: '32e4', productId: '9230' });
  t.teardown(() => sys.remove());
  const fakeCtl = (await import('node:path')).join(sys.root, 'v4l2-ctl');
  const { writeFileSync, chmodSync } = await import('node:fs');
  writeFileSync(
    fakeCtl,
    '#!/bin/sh\nprintf "Driver Info:\\n\\tDriver name      : v4l2 loopback\\n\\tCard type        : OBS Virtual Camera\\n\\tBus info         : platform:v4l2loopback-000\\n"\n',
  );
  chmodSync(fakeCtl, 0o755);
  const id = await identifyV4l2('/dev/video0', { sysfsRoot: sys.root, v4l2ctlPath: fakeCtl });
  t.match(id, { driver: 'v4l2 loopback', card: 'OBS Virtual Camera', bus: 'platform:v4l2loopback-000', virtual: true });
  const fallback = await identifyV4l2('/dev/video0', { sysfsRoot: sys.root, v4l2ctlPath: '/nonexistent/v4l2-ctl' });
  t.match(fallback, { driver: 'uvcvideo', card: 'HD USB Camera', virtual: false });
});

t.test('an unknown device node gives a bare identity, not a crash', async (t) => {
  const sys = new FakeSysfs();
  t.teardown(() => sys.remove());
  t.same(await identifyV4l2('/dev/video3', { sysfsRoot: sys.root, v4l2ctlPath: false }), {
    kind: 'v4l2',
    device: '/dev/video3',
    driver: undefined,
    card: undefined,
    bus: undefined,
    virtual: false,
  });
});
