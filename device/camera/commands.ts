/**
 * Command lines of the capture tools, as pure functions (tested without the hardware). Every command
 * writes raw frames of a fixed layout to stdout; logs go to stderr.
 */
import { KioskError } from '../../base/errors.js';
import { BITEXACT_DECODE_ARGS, rgbFilterArgs } from '../media/rgb-filter.js';
import { i420, rgb24, rgbPadded, type PixelLayout } from './pixel-format.js';

/** A process that writes frames to stdout. */
export interface CaptureCommand {
  file: string;
  args: string[];
  layout: PixelLayout;
  width: number;
  height: number;
}

/** Output size and rate asked of a camera. */
export interface CaptureSize {
  width: number;
  height: number;
  fps: number;
}

export interface V4l2Options extends CaptureSize {
  /** Device node; prefer a stable `/dev/v4l/by-id/...` link over `/dev/videoN`. */
  device: string;
  /** What the camera sends: MJPEG (most USB cameras at 720p and up) or raw YUYV. */
  inputFormat: 'mjpeg' | 'yuyv';
  /** ffmpeg executable (default `ffmpeg`). */
  ffmpegPath?: string;
  /** Replaces ffmpeg's input arguments (tests: `-re -f lavfi -i testsrc=...` stands in for the camera). */
  inputOverride?: string[];
}

export interface RpicamOptions extends CaptureSize {
  /** Camera index for boards with two CSI ports (default 0). */
  camera?: number;
  /** rpicam-vid executable (default `rpicam-vid`; `libcamera-vid` on Bullseye). */
  rpicamPath?: string;
  /** Extra arguments (e.g. `--hflip`, `--shutter 10000`). */
  extraArgs?: string[];
}

export interface GstreamerOptions extends CaptureSize {
  /**
   * The source part of the pipeline, ending in raw video, e.g. on a Jetson
   * `nvarguscamerasrc sensor-id=0 ! video/x-raw(memory:NVMM),width=1280,height=720,framerate=30/1 ! nvvidconv`;
   * conversion to RGB at the asked size and the `fdsink` are appended.
   */
  pipeline: string;
  /** gst-launch-1.0 executable (default `gst-launch-1.0`). */
  gstLaunchPath?: string;
}

function checkSize(s: CaptureSize, key: string): void {
  for (const k of ['width', 'height'] as const) {
    if (!Number.isInteger(s[k]) || s[k] < 16 || s[k] > 4096)
      throw new KioskError('E_CONFIG_INVALID', `${k} must be an integer 16..4096`, { subject: `${key}.${k}` });
  }
  if (!(s.fps > 0 && s.fps <= 120)) throw new KioskError('E_CONFIG_INVALID', 'fps must be in (0, 120]', { subject: `${key}.fps` });
}

/** ffmpeg reading a V4L2 camera and writing RGB at exactly `width`x`height` (scaled if the camera picked another size). */
export function v4l2Command(o: V4l2Options): CaptureCommand {
  checkSize(o, 'camera');
  if (o.inputFormat !== 'mjpeg' && o.inputFormat !== 'yuyv')
    throw new KioskError('E_CONFIG_INVALID', 'inputFormat must be "mjpeg" or "yuyv"', { subject: 'camera.inputFormat' });
  const input = o.inputOverride ?? [
    '-f',
    'v4l2',
    '-input_format',
    o.inputFormat === 'mjpeg' ? 'mjpeg' : 'yuyv422',
    '-video_size',
    `${o.width}x${o.height}`,
    '-framerate',
    String(o.fps),
    '-i',
    o.device,
  ];
  return {
    file: o.ffmpegPath ?? 'ffmpeg',
    args: [
      '-nostdin',
      '-hide_banner',
      '-loglevel',
      'error',
      // Low latency: no input probing buffer, frames out as soon as they are decoded.
      '-fflags',
      'nobuffer',
      '-flags',
      'low_delay',
      ...BITEXACT_DECODE_ARGS,
      ...input,
      '-map',
      '0:v:0',
      '-an',
      // The same bit-exact conversion as recorded video (rgb-filter.ts), so that what was measured on
      // recordings holds for the live camera.
      ...rgbFilterArgs(o.width, o.height),
      '-f',
      'rawvideo',
      '-pix_fmt',
      'rgb24',
      'pipe:1',
    ],
    layout: rgb24(o.width, o.height),
    width: o.width,
    height: o.height,
  };
}

/**
 * rpicam-vid writing raw I420 to stdout without preview, forever. rpicam-vid pads rows to its
 * buffer stride, so the width must be a multiple of 64 (640, 1280, 1920 are) for the rows to be packed.
 */
export function rpicamCommand(o: RpicamOptions): CaptureCommand {
  checkSize(o, 'camera');
  if (o.width % 64 !== 0 || o.height % 2 !== 0) {
    throw new KioskError('E_CONFIG_INVALID', 'a CSI camera width must be a multiple of 64 and its height even (rpicam-vid pads rows otherwise)', {
      subject: 'camera.width',
    });
  }
  return {
    file: o.rpicamPath ?? 'rpicam-vid',
    args: [
      '--timeout',
      '0',
      '--nopreview',
      '--camera',
      String(o.camera ?? 0),
      '--codec',
      'yuv420',
      '--width',
      String(o.width),
      '--height',
      String(o.height),
      '--framerate',
      String(o.fps),
      '--flush',
      ...(o.extraArgs ?? []),
      '--output',
      '-',
    ],
    layout: i420(o.width, o.height),
    width: o.width,
    height: o.height,
  };
}

/** gst-launch-1.0 running `pipeline`, converted to RGB at the asked size and written to stdout. */
export function gstreamerCommand(o: GstreamerOptions): CaptureCommand {
  checkSize(o, 'camera');
  const pipeline = o.pipeline.trim().replace(/!\s*$/, '');
  if (!pipeline) throw new KioskError('E_CONFIG_INVALID', 'the GStreamer pipeline is empty', { subject: 'camera.pipeline' });
  if (/\bfdsink\b|\bfilesink\b/.test(pipeline))
    throw new KioskError('E_CONFIG_INVALID', 'give the source part only: the RGB conversion and fdsink are appended', { subject: 'camera.pipeline' });
  return {
    file: o.gstLaunchPath ?? 'gst-launch-1.0',
    // -q keeps gst-launch's progress messages off stdout, which carries the frames.
    args: [
      '-q',
      ...splitPipeline(`${pipeline} ! videoconvert ! videoscale ! video/x-raw,format=RGB,width=${o.width},height=${o.height} ! fdsink fd=1 sync=false`),
    ],
    layout: rgbPadded(o.width, o.height),
    width: o.width,
    height: o.height,
  };
}

/**
 * Splits a pipeline string into gst-launch arguments. gst-launch escapes the spaces inside each
 * argument, so the pipeline must be given as separate words; double quotes keep a value with spaces
 * in one word (`name="a b"`), as a shell would.
 */
export function splitPipeline(pipeline: string): string[] {
  const words: string[] = [];
  let word = '';
  let quoted = false;
  let any = false;
  for (const ch of pipeline) {
    if (ch === '"') {
      quoted = !quoted;
      any = true;
    } else if (!quoted && /\s/.test(ch)) {
      if (any) words.push(word);
      word = '';
      any = false;
    } else {
      word += ch;
      any = true;
    }
  }
  if (quoted) throw new KioskError('E_CONFIG_INVALID', 'unbalanced quote in the GStreamer pipeline', { subject: 'camera.pipeline' });
  if (any) words.push(word);
  return words;
}
