import t from 'tap';
import { gstreamerCommand, rpicamCommand, splitPipeline, v4l2Command } from '../../device/camera/commands.js';
import { i420, rgbPadded } from '../../device/camera/pixel-format.js';
import { FrameBuffer } from '../../device/camera/frame-buffer.js';

t.test('V4L2 through ffmpeg: device, size, rate and input format; RGB at exactly the asked size', async (t) => {
  const c = v4l2Command({ device: '/dev/v4l/by-id/usb-cam-video-index0', width: 1280, height: 720, fps: 30, inputFormat: 'mjpeg' });
  t.equal(c.file, 'ffmpeg');
  t.same(
    c.args.slice(c.args.indexOf('-idct'), c.args.indexOf('-idct') + 2),
    ['-idct', 'simple'],
    'the reference inverse DCT for MJPEG (same bytes on every CPU)',
  );
  t.ok(c.args.indexOf('-idct') < c.args.indexOf('-i'), 'a decoder option: before -i');
  t.same(c.args.slice(c.args.indexOf('-f'), c.args.indexOf('-i') + 2), [
    '-f',
    'v4l2',
    '-input_format',
    'mjpeg',
    '-video_size',
    '1280x720',
    '-framerate',
    '30',
    '-i',
    '/dev/v4l/by-id/usb-cam-video-index0',
  ]);
  t.same(c.args.slice(-9), [
    '-sws_flags',
    'accurate_rnd+full_chroma_int+bitexact',
    '-vf',
    'scale=1280:720:flags=area+accurate_rnd+full_chroma_int+bitexact,format=gbrp',
    '-f',
    'rawvideo',
    '-pix_fmt',
    'rgb24',
    'pipe:1',
  ]);
  t.equal(c.layout.frameBytes, 1280 * 720 * 3);
  const y = v4l2Command({ device: '/dev/video0', width: 640, height: 480, fps: 15, inputFormat: 'yuyv' });
  t.ok(y.args.includes('yuyv422'), 'YUYV asks for yuyv422');
  const lavfi = v4l2Command({
    device: '/dev/video0',
    width: 640,
    height: 480,
    fps: 30,
    inputFormat: 'mjpeg',
    inputOverride: ['-f', 'lavfi', '-i', 'testsrc=size=640x480:rate=30'],
  });
  t.notOk(lavfi.args.includes('v4l2'), 'input substituted');
  t.ok(lavfi.args.includes('testsrc=size=640x480:rate=30'));
});

t.test('invalid camera config names the key', async (t) => {
  const bad = (f: () => unknown, key: string) => {
    t.throws(f, { code: 'E_CONFIG_INVALID', subject: key }, `E_CONFIG_INVALID ${key}`);
  };
  bad(() => v4l2Command({ device: '/dev/video0', width: 0, height: 480, fps: 30, inputFormat: 'mjpeg' }), 'camera.width');
  bad(() => v4l2Command({ device: '/dev/video0', width: 640, height: 480, fps: 500, inputFormat: 'mjpeg' }), 'camera.fps');
  bad(() => v4l2Command({ device: '/dev/video0', width: 640, height: 480, fps: 30, inputFormat: 'h264' as 'mjpeg' }), 'camera.inputFormat');
  bad(() => rpicamCommand({ width: 800, height: 600, fps: 30 }), 'camera.width');
  bad(() => gstreamerCommand({ pipeline: 'videotestsrc ! fdsink', width: 640, height: 480, fps: 30 }), 'camera.pipeline');
  bad(() => splitPipeline('a name="b'), 'camera.pipeline');
});

t.test('rpicam-vid: raw I420 on stdout, no preview, forever', async (t) => {
  const c = rpicamCommand({ width: 1280, height: 720, fps: 30, camera: 1, extraArgs: ['--hflip'] });
  t.equal(c.file, 'rpicam-vid');
  t.same(c.args, [
    '--timeout',
    '0',
    '--nopreview',
    '--camera',
    '1',
    '--codec',
    'yuv420',
    '--width',
    '1280',
    '--height',
    '720',
    '--framerate',
    '30',
    '--flush',
    '--hflip',
    '--output',
    '-',
  ]);
  t.equal(c.layout.frameBytes, (1280 * 720 * 3) / 2);
});

t.test('GStreamer: the source part, then RGB at the asked size into fdsink, as separate words', async (t) => {
  const c = gstreamerCommand({
    pipeline: 'nvarguscamerasrc sensor-id=0 ! video/x-raw(memory:NVMM),width=1280,height=720,framerate=30/1 ! nvvidconv !',
    width: 640,
    height: 480,
    fps: 30,
  });
  t.equal(c.file, 'gst-launch-1.0');
  t.same(c.args, [
    '-q',
    'nvarguscamerasrc',
    'sensor-id=0',
    '!',
    'video/x-raw(memory:NVMM),width=1280,height=720,framerate=30/1',
    '!',
    'nvvidconv',
    '!',
    'videoconvert',
    '!',
    'videoscale',
    '!',
    'video/x-raw,format=RGB,width=640,height=480',
    '!',
    'fdsink',
    'fd=1',
    'sync=false',
  ]);
  t.same(splitPipeline('v4l2src device=/dev/video0 name="my cam"  ! x'), ['v4l2src', 'device=/dev/video0', 'name=my cam', '!', 'x']);
});

t.test('pixel layouts: GStreamer row padding removed, I420 converted', async (t) => {
  const p = rgbPadded(3, 2); // 9 bytes of pixels per row, stride 12
  t.equal(p.frameBytes, 24);
  const raw = Uint8Array.from({ length: 24 }, (_, i) => i);
  t.same([...p.toRgb(raw).data], [0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
  t.equal(rgbPadded(4, 2).frameBytes, 24, 'no padding when the row is a multiple of 4 bytes');
  const yuv = i420(2, 2);
  t.equal(yuv.frameBytes, 6);
  // Y=235 (white), U=V=128 (no colour) -> white; Y=16 -> black.
  t.same([...yuv.toRgb(Uint8Array.from([235, 16, 16, 235, 128, 128])).data], [255, 255, 255, 0, 0, 0, 0, 0, 0, 255, 255, 255]);
  // Pure red in BT.601 limited range: Y=81, U=90, V=240.
  const red = yuv.toRgb(Uint8Array.from([81, 81, 81, 81, 90, 240])).data;
  t.ok(red[0] > 250 && red[1] < 5 && red[2] < 5, `red stays red (${red.slice(0, 3).join(',')})`);
});

t.test('frame buffer: bounded, newest kept, drops counted, consumer woken by close', async (t) => {
  const b = new FrameBuffer(2);
  const frame = (i: number) => ({ frame: { index: i, timeMs: i, image: { width: 1, height: 1, data: new Uint8Array(3) } }, capturedAt: i });
  for (let i = 0; i < 5; i++) b.push(frame(i));
  t.equal(b.size, 2);
  t.equal(b.dropped, 3);
  t.equal((await b.take())!.frame.index, 3);
  t.equal((await b.take())!.frame.index, 4);
  const waiting = b.take();
  b.push(frame(5));
  t.equal((await waiting)!.frame.index, 5, 'a waiting consumer gets the frame directly');
  const pending = b.take();
  b.close();
  t.equal(await pending, undefined);
  const one = new FrameBuffer();
  one.push(frame(1));
  one.push(frame(2));
  t.equal((await one.take())!.frame.index, 2, 'capacity 1: the newest frame');
  const ac = new AbortController();
  const aborted = new FrameBuffer().take(ac.signal);
  ac.abort();
  t.equal(await aborted, undefined, 'abort wakes the consumer');
});
