/**
 * Where a still comes from: an image file, or one frame of a video written `video.mp4#frame=N`
 * (0-based, frames as stored). Used for the reference portrait (`--id`) and for a still shown to
 * the camera (`--video photo.jpg`, looped).
 */
import { KioskError } from '../../base/errors.js';
import { DEFAULT_MAX_PIXELS } from '../../device/media/image.js';
import { openMediaFile } from '../../device/media/media-file.js';
import type { RgbImage } from '../../base/rgb-image.js';

export interface StillSpec {
  path: string;
  /** Frame of a video, when the spec names one. */
  frame: number | null;
}

/** Parses `path` or `path#frame=N`. */
export function parseStillSpec(spec: string): StillSpec {
  const m = /^(.*)#frame=(\d+)$/.exec(spec);
  if (!m) return { path: spec, frame: null };
  if (m[1] === '') throw new KioskError('E_USAGE', `no file before #frame in "${spec}"`, { subject: spec });
  return { path: m[1], frame: Number(m[2]) };
}

/** True when `spec` names a still: an image file, or a video frame (`#frame=N`). */
export async function isStill(spec: string): Promise<boolean> {
  const s = parseStillSpec(spec);
  if (s.frame !== null) return true;
  return (await openMediaFile(s.path)).kind === 'image';
}

/**
 * Decodes the still `spec` names; E_VIDEO_NO_FRAMES when the video has no frame N. A still is bounded
 * in pixels (`maxPixels`, default `DEFAULT_MAX_PIXELS`): an image by its decoder, a video frame by the
 * size ffprobe reports, checked before ffmpeg decodes anything (E_IMAGE_TOO_LARGE).
 */
export async function loadStill(spec: string, opts: { maxWidth?: number; maxPixels?: number; signal?: AbortSignal } = {}): Promise<RgbImage> {
  const s = parseStillSpec(spec);
  const source = await openMediaFile(s.path);
  if (s.frame === null) {
    if (source.kind !== 'image')
      throw new KioskError('E_USAGE', `${source.kind === 'video' ? 'a video' : 'a directory'} is not a still; name a frame with #frame=N`, { subject: spec });
    for await (const f of source.frames(opts)) return f.image;
  } else {
    if (source.kind === 'image') throw new KioskError('E_USAGE', '#frame=N applies to a video, not an image', { subject: spec });
    const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
    const { width = 0, height = 0 } = source.video ?? {};
    if (width * height > maxPixels)
      throw new KioskError('E_IMAGE_TOO_LARGE', `video frames are ${width}x${height} = ${width * height} pixels, more than the limit of ${maxPixels}`, {
        subject: s.path,
        details: { width, height, maxPixels },
      });
    // Leaving the loop stops the decoder.
    for await (const f of source.frames(opts)) if (f.index === s.frame) return f.image;
  }
  throw new KioskError('E_VIDEO_NO_FRAMES', `no frame ${s.frame ?? 0} in the file`, { subject: spec });
}
