import { readdir } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { KioskError } from '../../base/errors.js';
import { decodeImageFile } from './image.js';
import { openInputFile, statInput, fileError } from './input-file.js';
import { IMAGE_EXTENSIONS, sniffFormat, STILL_FORMATS, VIDEO_EXTENSIONS, VIDEO_FORMATS } from './sniff.js';
import { DEFAULT_FPS, probeVideo, readVideoFrames, type MediaTools, type VideoFrame, type VideoInfo } from './video.js';

export type MediaFileKind = 'image' | 'video' | 'sequence';

export interface FrameReadOptions {
  /** Video: resample to this rate. Sequence: the rate that sets `timeMs` (default 30). Image: ignored. */
  fps?: number;
  /** Downscale so that the width is at most this many pixels. */
  maxWidth?: number;
  /** Pixel limit per still image (decompression bombs); see `decodeImageFile`. */
  maxPixels?: number;
  signal?: AbortSignal;
}

/** Frames from a file or a directory, whatever it holds. */
export interface MediaFile {
  readonly kind: MediaFileKind;
  readonly path: string;
  /** Image sequence: its files in frame order. Image or video: `[path]`. */
  readonly files: readonly string[];
  /** Number of frames when known in advance (container's count for a video). */
  readonly frameCount?: number;
  /** Video only: what ffprobe reported. */
  readonly video?: VideoInfo;
  /** Decodes the frames in order; see `readVideoFrames` for the error and cancellation behaviour. */
  frames(opts?: FrameReadOptions): AsyncGenerator<VideoFrame, void, undefined>;
}

const natural = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });

/** Files of a directory with an image or video extension, in natural name order (frame2 before frame10), hidden files skipped. */
export async function listMediaFiles(dir: string, which: 'images' | 'media' = 'media'): Promise<{ files: string[]; skipped: string[] }> {
  let names: string[];
  try {
    names = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isFile() || e.isSymbolicLink()).map((e) => e.name);
  } catch (err) {
    throw fileError(err, dir);
  }
  const files: string[] = [];
  const skipped: string[] = [];
  for (const name of names.sort(natural.compare)) {
    if (name.startsWith('.')) continue;
    const ext = extname(name).toLowerCase();
    const wanted = IMAGE_EXTENSIONS.has(ext) || (which === 'media' && VIDEO_EXTENSIONS.has(ext));
    (wanted ? files : skipped).push(join(dir, name));
  }
  return { files, skipped };
}

function imageSource(path: string): MediaFile {
  return {
    kind: 'image',
    path,
    files: [path],
    frameCount: 1,
    async *frames(opts: FrameReadOptions = {}) {
      if (opts.signal?.aborted) throw new KioskError('E_ABORTED', 'decoding stopped', { subject: path });
      yield { index: 0, timeMs: 0, image: await decodeImageFile(path, opts), source: path };
    },
  };
}

function sequenceSource(path: string, files: string[]): MediaFile {
  return {
    kind: 'sequence',
    path,
    files,
    frameCount: files.length,
    async *frames(opts: FrameReadOptions = {}) {
      const fps = opts.fps ?? DEFAULT_FPS;
      for (let index = 0; index < files.length; index++) {
        if (opts.signal?.aborted)
          throw new KioskError('E_ABORTED', `decoding stopped after ${index} frames`, { subject: path, details: { framesRead: index } });
        yield { index, timeMs: (index * 1000) / fps, image: await decodeImageFile(files[index], opts), source: files[index] };
      }
    },
  };
}

function videoSource(path: string, info: VideoInfo, tools: MediaTools): MediaFile {
  return {
    kind: 'video',
    path,
    files: [path],
    frameCount: info.frameCount,
    video: info,
    frames(opts: FrameReadOptions = {}) {
      return readVideoFrames(path, { fps: opts.fps, maxWidth: opts.maxWidth, signal: opts.signal, tools, info });
    },
  };
}

/**
 * Opens whatever `path` is, by content rather than name: a still image (JPEG, PNG, WebP, TIFF) gives
 * one frame; a video (anything ffprobe reads, animated GIF included) gives its frames; a directory
 * gives its image files as a sequence, in natural name order, other files ignored.
 * Fails early (missing, empty, unsupported, not a video) before any frame is decoded.
 */
export async function openMediaFile(path: string, opts: { tools?: MediaTools } = {}): Promise<MediaFile> {
  const st = await statInput(path);
  if (st.isDirectory()) {
    const { files } = await listMediaFiles(path, 'images');
    if (files.length === 0) throw new KioskError('E_INPUT_EMPTY', 'directory holds no image files (.jpg, .png, .webp, .tif)', { subject: path });
    return sequenceSource(path, files);
  }
  const { head } = await openInputFile(path);
  const format = sniffFormat(head);
  if (STILL_FORMATS.has(format)) return imageSource(path);
  // Refused still formats and corrupt files named like images get their precise error from the image decoder.
  if (!VIDEO_FORMATS.has(format) && (format !== 'unknown' || IMAGE_EXTENSIONS.has(extname(path).toLowerCase()))) return imageSource(path);
  return videoSource(path, await probeVideo(path, opts.tools), opts.tools ?? {});
}
