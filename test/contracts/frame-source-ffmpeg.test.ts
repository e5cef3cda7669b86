/**
 * ffmpeg-backed cameras: the V4L2 command with a lavfi test source substituted for the device
 * (no /dev/video* here), and the rpicam-vid pipe format (I420) produced by ffmpeg, since rpicam-vid
 * cannot run without a Pi camera. Same parsing, same restart logic, real child processes.
 */
import { PipeFrameSource } from '../../device/camera/pipe-source.js';
import { createV4l2Source } from '../../device/camera/sources.js';
import { i420 } from '../../device/camera/pixel-format.js';
import { frameSourceContract } from './frame-source.contract.js';

const W = 320;
const H = 240;
const lavfiIdentity = async () => ({ kind: 'test' as const, device: 'lavfi:smptebars', driver: 'lavfi', virtual: true, virtualReason: 'ffmpeg test source' });

frameSourceContract('v4l2 via ffmpeg (lavfi stand-in)', ({ allowVirtual, bufferFrames }) => {
  const source = createV4l2Source({
    device: '/dev/video0',
    width: W,
    height: H,
    fps: 30,
    inputFormat: 'mjpeg',
    // smptebars: vertical bars in the top two thirds, so a frame cut at the wrong byte shows as shear.
    inputOverride: ['-re', '-f', 'lavfi', '-i', `smptebars=size=${W}x${H}:rate=30`],
    identify: lavfiIdentity,
    allowVirtual,
    bufferFrames,
    restart: { baseMs: 100, capMs: 1000 },
  });
  return { source, width: W, height: H, live: true, equalRows: [0, 100], crash: () => process.kill(source.pid!, 'SIGKILL'), pid: () => source.pid };
});

frameSourceContract('rpicam-vid pipe format (I420 from ffmpeg)', ({ allowVirtual, bufferFrames }) => {
  const source = new PipeFrameSource({
    command: {
      file: 'ffmpeg',
      args: [
        '-nostdin',
        '-hide_banner',
        '-loglevel',
        'error',
        '-re',
        '-f',
        'lavfi',
        '-i',
        `smptebars=size=${W}x${H}:rate=30`,
        '-f',
        'rawvideo',
        '-pix_fmt',
        'yuv420p',
        'pipe:1',
      ],
      layout: i420(W, H),
      width: W,
      height: H,
    },
    identify: lavfiIdentity,
    allowVirtual,
    bufferFrames,
    restart: { baseMs: 100, capMs: 1000 },
  });
  return { source, width: W, height: H, live: true, equalRows: [0, 100], crash: () => process.kill(source.pid!, 'SIGKILL'), pid: () => source.pid };
});
