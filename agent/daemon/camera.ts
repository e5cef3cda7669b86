/**
 * The camera from config: one of the device/camera sources. `auto` takes the first /dev/video*
 * found; a simulated kiosk without any camera falls back to the in-memory test pattern (and says so).
 */
import { readdir } from 'node:fs/promises';
import { KioskError } from '../../base/errors.js';
import type { Logger } from '../../base/log.js';
import type { KioskConfig } from '../config/types.js';
import { createGstreamerSource, createRpicamSource, createV4l2Source } from '../../device/camera/sources.js';
import { ReplayFrameSource } from '../../device/camera/replay-source.js';
import { FakeFrameSource } from '../../device/camera/fake-source.js';
import type { CameraIdentity, FrameSource } from '../../device/camera/frame-source.js';

/** The first V4L2 capture node, /dev/video0 before /dev/video10; undefined when there is none. */
export async function firstCamera(devDir = '/dev'): Promise<string | undefined> {
  const names = await readdir(devDir).catch(() => [] as string[]);
  const videos = names.filter((n) => /^video\d+$/.test(n)).sort((a, b) => Number(a.slice(5)) - Number(b.slice(5)));
  return videos.length ? `${devDir}/${videos[0]}` : undefined;
}

/** Builds the configured frame source; `describe` is the line the daemon logs about it. */
export async function createCamera(cfg: KioskConfig, logger: Logger): Promise<{ source: FrameSource; describe: string }> {
  const c = cfg.camera;
  const common = { allowVirtual: c.allowVirtual, bufferFrames: c.bufferFrames };
  const pipe = { ...common, stallMs: c.stallMs, restart: { baseMs: c.restartBaseMs, capMs: c.restartCapMs } };
  const size = { width: c.width, height: c.height, fps: c.fps };
  switch (c.kind) {
    case 'replay':
      return {
        source: new ReplayFrameSource({ ...common, path: c.path, pace: c.pace, loop: c.loop, maxWidth: c.maxWidth || undefined }),
        describe: `replaying ${c.path} (${c.pace}${c.loop ? ', looped' : ''})`,
      };
    case 'ffmpeg': {
      // A recording read by an ffmpeg child like a camera: same restart, stall and drop behaviour as V4L2.
      const identity: CameraIdentity = { kind: 'replay', device: c.path, driver: 'ffmpeg', virtual: true, virtualReason: 'a recording, not a camera' };
      const input = [...(c.pace === 'realtime' ? ['-re'] : []), ...(c.loop ? ['-stream_loop', '-1'] : []), '-i', c.path];
      return {
        source: createV4l2Source({
          ...pipe,
          ...size,
          device: c.path,
          inputFormat: 'mjpeg',
          ffmpegPath: c.ffmpegPath,
          inputOverride: input,
          identify: async () => identity,
        }),
        describe: `ffmpeg reading ${c.path} as a camera at ${c.width}x${c.height}`,
      };
    }
    case 'csi':
      return { source: createRpicamSource({ ...pipe, ...size, camera: c.csiCamera }), describe: `CSI camera ${c.csiCamera} through rpicam-vid` };
    case 'gstreamer':
      return { source: createGstreamerSource({ ...pipe, ...size, pipeline: c.pipeline }), describe: `GStreamer pipeline ${c.pipeline}` };
    case 'v4l2':
    case 'auto': {
      const device = c.kind === 'v4l2' ? c.device : await firstCamera();
      if (!device) {
        if (!cfg.simulate) throw new KioskError('E_CAMERA', 'no camera found (/dev/video*); set camera.kind and camera.device', { subject: 'camera.kind' });
        logger.warn(
          'no camera found: the simulated kiosk uses a generated test pattern (no face: sessions end in retry); pass --video <file> to replay a recording',
        );
        const identity: CameraIdentity = { kind: 'fake', device: 'test-pattern', virtual: true, virtualReason: 'generated test pattern' };
        return {
          source: new FakeFrameSource({ ...common, allowVirtual: true, width: 320, height: 240, fps: 15, identity }),
          describe: 'generated test pattern (no camera found)',
        };
      }
      return {
        source: createV4l2Source({ ...pipe, ...size, device, inputFormat: c.inputFormat, ffmpegPath: c.ffmpegPath }),
        describe: `V4L2 camera ${device} (${c.inputFormat} ${c.width}x${c.height}@${c.fps})`,
      };
    }
  }
}
