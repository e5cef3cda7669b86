import { extname, resolve } from 'node:path';
import { KioskError } from '../../base/errors.js';
import type { RgbImage } from '../../base/rgb-image.js';
import { decoderMissing, runToEnd, startChild, stopChild, TailBuffer, type MediaTools } from '../../base/process.js';
import { FrameSplitter } from './frame-splitter.js';
import { openInputFile } from './input-file.js';
import { BITEXACT_DECODE_ARGS, rgbFilterArgs } from './rgb-filter.js';
import { formatFromExtension, sniffFormat, VIDEO_FORMATS } from './sniff.js';

export type { MediaTools } from '../../base/process.js';

/** One decoded frame. */
export interface VideoFrame {
  /** 0-based position in the output sequence. */
  index: number;
  /** Presentation time in milliseconds from the first frame (index / fps). */
  timeMs: number;
  image: RgbImage;
  /** The file this frame came from, for image sequences (directories). */
  source?: string;
}

/** What ffprobe says about the first video stream. */
export interface VideoInfo {
  path: string;
  /** Display size: after the rotation a phone stores in the file, as ffmpeg outputs it. */
  width: number;
  height: number;
  /** Average frame rate; 30 when the container does not say. */
  fps: number;
  /** Frame count stated by the container (not counted), when it states one. */
  frameCount?: number;
  durationMs?: number;
  codec: string;
  container: string;
  /** Rotation in degrees stored in the file (display matrix or `rotate` tag), 0 when none. */
  rotation: number;
}

export interface ReadVideoOptions {
  /** Resample to this frame rate (ffmpeg `fps` filter); default: every decoded frame, as stored. */
  fps?: number;
  /** Downscale so that the width is at most this many pixels (aspect ratio kept). */
  maxWidth?: number;
  /** Stops decoding and kills ffmpeg; the iterator then throws E_ABORTED. */
  signal?: AbortSignal;
  tools?: MediaTools;
  /** Result of an earlier `probeVideo` of the same file, to skip probing again. */
  info?: VideoInfo;
}

/** Frame rate used when a stream states none (image sequences use the same default). */
export const DEFAULT_FPS = 30;

function ratio(s: unknown): number | undefined {
  if (typeof s !== 'string') return undefined;
  const [n, d = '1'] = s.split('/');
  const v = Number(n) / Number(d);
  return Number.isFinite(v) && v > 0 ? v : undefined;
}

function positive(s: unknown): number | undefined {
  const v = typeof s === 'string' || typeof s === 'number' ? Number(s) : NaN;
  return Number.isFinite(v) && v > 0 ? v : undefined;
}

interface ProbeJson {
  streams?: Array<Record<string, unknown> & { tags?: Record<string, string>; side_data_list?: Array<Record<string, unknown>> }>;
  format?: { format_name?: string; duration?: string };
}

/** Turns ffprobe's JSON (`-show_streams -show_format`) into `VideoInfo`. Pure; exported for tests. */
export function parseProbe(json: string, path: string): VideoInfo {
  let parsed: ProbeJson;
  try {
    parsed = JSON.parse(json) as ProbeJson;
  } catch (err) {
    throw new KioskError('E_VIDEO_DECODE', 'ffprobe returned unreadable output', { subject: path, cause: err });
  }
  const s = parsed.streams?.find((x) => x.codec_type === 'video' || x.codec_type === undefined);
  const w = positive(s?.width);
  const h = positive(s?.height);
  if (!s || !w || !h) throw new KioskError('E_FORMAT_UNSUPPORTED', 'no video stream in the file', { subject: path });
  const sideRotation = s.side_data_list?.map((d) => Number(d.rotation)).find((r) => Number.isFinite(r));
  const rotation = sideRotation ?? Number(s.tags?.rotate ?? 0);
  const quarter = Math.abs(Math.round(rotation / 90)) % 2 === 1;
  const fps = ratio(s.avg_frame_rate) ?? ratio(s.r_frame_rate) ?? DEFAULT_FPS;
  const duration = positive(s.duration) ?? positive(parsed.format?.duration);
  const frames = positive(s.nb_frames);
  return {
    path,
    width: quarter ? h : w,
    height: quarter ? w : h,
    fps,
    frameCount: frames !== undefined ? Math.round(frames) : undefined,
    durationMs: duration !== undefined ? duration * 1000 : undefined,
    codec: String(s.codec_name ?? 'unknown'),
    container: String(parsed.format?.format_name ?? 'unknown'),
    rotation: Number.isFinite(rotation) ? rotation : 0,
  };
}

/** `file:` keeps ffmpeg from reading a name with a colon as a protocol or one with a dash as an option. */
function ffmpegInput(path: string): string {
  return `file:${resolve(path)}`;
}

/** Is this a container we expect to be a video (so a failure is "corrupt", not "unsupported")? */
function promisesVideo(path: string, head: Uint8Array): boolean {
  return VIDEO_FORMATS.has(sniffFormat(head)) || VIDEO_FORMATS.has(formatFromExtension(extname(path)));
}

/** Reads width, height, fps, frame count and duration with ffprobe. */
export async function probeVideo(path: string, tools: MediaTools = {}): Promise<VideoInfo> {
  const { head } = await openInputFile(path);
  const ffprobe = tools.ffprobePath ?? 'ffprobe';
  const args = ['-v', 'error', '-hide_banner', '-select_streams', 'v:0', '-show_streams', '-show_format', '-of', 'json', ffmpegInput(path)];
  const { exit, stdout, stderr } = await runToEnd(tools, ffprobe, args);
  if (exit.spawnError) throw decoderMissing(ffprobe, exit.spawnError);
  if (exit.code !== 0) {
    const why = stderr.summary() || `ffprobe exited with ${exit.code ?? exit.signal}`;
    if (promisesVideo(path, head)) throw new KioskError('E_VIDEO_DECODE', `video is corrupt or truncated: ${why}`, { subject: path });
    throw new KioskError('E_FORMAT_UNSUPPORTED', `not an image or a video ffmpeg can read: ${why}`, { subject: path });
  }
  return parseProbe(stdout, path);
}

/** The output frame size for `maxWidth` (never upscaled; at least 1 pixel). */
export function outputSize(info: Pick<VideoInfo, 'width' | 'height'>, maxWidth?: number): { width: number; height: number } {
  if (maxWidth === undefined || maxWidth >= info.width) return { width: info.width, height: info.height };
  const width = Math.max(1, Math.floor(maxWidth));
  return { width, height: Math.max(1, Math.round((info.height * width) / info.width)) };
}

function aborted(path: string, index: number): KioskError {
  return new KioskError('E_ABORTED', `decoding stopped after ${index} frames`, { subject: path, details: { framesRead: index } });
}

/**
 * Decodes a video into RGB frames through an ffmpeg child process.
 *
 * - Backpressure: frames are produced only as fast as they are consumed; the pipe pauses and ffmpeg
 *   blocks on write when the consumer is slow, so at most one pipe buffer is held.
 * - Leaving the loop early (`break`, an exception) or aborting `signal` kills ffmpeg and waits for it.
 * - A truncated or corrupt video yields the frames decoded so far, then throws E_VIDEO_DECODE naming
 *   the file and how many frames were read (`details.framesRead`); callers decide whether to keep them.
 *   A video that decodes to no frame at all throws E_VIDEO_NO_FRAMES.
 * - `timeMs` is `index / fps` (the resampling rate, or the stream's average rate): exact for
 *   constant-rate video, an approximation for variable-rate phone recordings.
 */
export async function* readVideoFrames(path: string, opts: ReadVideoOptions = {}): AsyncGenerator<VideoFrame, void, undefined> {
  const { signal } = opts;
  if (signal?.aborted) throw aborted(path, 0);
  const tools = opts.tools ?? {};
  const info = opts.info ?? (await probeVideo(path, tools));
  const { width, height } = outputSize(info, opts.maxWidth);
  const fps = opts.fps ?? info.fps;
  if (!(fps > 0)) throw new KioskError('E_USAGE', `invalid frame rate ${fps}`, { subject: path });
  // An explicit scale pins the output size, so the byte count per frame is what we computed even if
  // the rotation in the file was read differently from ffmpeg's own autorotation.
  const ffmpeg = tools.ffmpegPath ?? 'ffmpeg';
  const args = [
    '-nostdin',
    '-hide_banner',
    '-v',
    'error',
    ...BITEXACT_DECODE_ARGS,
    '-i',
    ffmpegInput(path),
    '-map',
    '0:v:0',
    '-an',
    '-sn',
    '-dn',
    // Bit-exact RGB: the same bytes on the kiosk's arm64 as on x86 (see rgb-filter.ts).
    ...rgbFilterArgs(width, height, opts.fps ? [`fps=${opts.fps}`] : []),
    ...(opts.fps ? [] : ['-fps_mode', 'passthrough']),
    '-f',
    'rawvideo',
    '-pix_fmt',
    'rgb24',
    'pipe:1',
  ];
  if (signal?.aborted) throw aborted(path, 0);
  const { child, exited } = startChild(ffmpeg, args, { stdio: ['ignore', 'pipe', 'pipe'] }, tools.spawn);
  const stderr = new TailBuffer();
  child.stderr?.on('data', (c: Buffer) => stderr.push(c));
  const onAbort = () => child.kill('SIGTERM');
  signal?.addEventListener('abort', onAbort, { once: true });
  const splitter = new FrameSplitter(width * height * 3);
  let index = 0;
  try {
    try {
      for await (const chunk of child.stdout!) {
        for (const data of splitter.push(chunk as Buffer)) {
          yield { index, timeMs: (index * 1000) / fps, image: { width, height, data } };
          index++;
          if (signal?.aborted) throw aborted(path, index);
        }
      }
    } catch (err) {
      if (err instanceof KioskError) throw err;
      // The pipe errors when the process dies under it; the exit status below says why.
    }
    const exit = await exited;
    if (exit.spawnError) throw decoderMissing(ffmpeg, exit.spawnError);
    if (signal?.aborted) throw aborted(path, index);
    const details = { framesRead: index, expectedFrames: expectedFrames(info, opts.fps) };
    if (exit.code !== 0) {
      const why = stderr.summary() || `ffmpeg exited with ${exit.code ?? exit.signal}`;
      throw new KioskError('E_VIDEO_DECODE', `decoding failed after ${index} frames: ${why}`, { subject: path, details });
    }
    if (index === 0)
      throw new KioskError('E_VIDEO_NO_FRAMES', `no frame could be decoded${stderr.summary() ? `: ${stderr.summary()}` : ''}`, { subject: path, details });
    const expected = details.expectedFrames;
    if (splitter.pendingBytes > 0 || (expected !== undefined && index < expected - Math.max(2, expected * 0.02))) {
      const why = stderr.summary(1);
      throw new KioskError(
        'E_VIDEO_DECODE',
        `video is truncated or corrupt: decoded ${index} of ${expected ?? 'an unknown number of'} frames${why ? ` (${why})` : ''}`,
        { subject: path, details },
      );
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await stopChild(child, exited);
  }
}

/** Frames the container promises for this output: its frame count, or duration x resampling rate. */
function expectedFrames(info: VideoInfo, fps?: number): number | undefined {
  if (fps === undefined) return info.frameCount;
  return info.durationMs !== undefined ? Math.floor((info.durationMs * fps) / 1000) : undefined;
}
