import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import sharp, { type Metadata } from 'sharp';
import { KioskError } from '../../base/errors.js';
import type { RgbImage } from '../../base/rgb-image.js';
import { fileError, openInputFile } from './input-file.js';
import { formatFromExtension, sniffFormat, STILL_FORMATS, type MediaFormat } from './sniff.js';

/** Default pixel limit (width x height before orientation): a 40 MP image is larger than any camera frame we expect. */
export const DEFAULT_MAX_PIXELS = 40_000_000;
/** Default file size limit: a still above 64 MiB is not a camera frame and is not read into memory. */
export const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;

export interface DecodeImageOptions {
  /** Refuse images with more pixels than this (decompression bombs); default `DEFAULT_MAX_PIXELS`. */
  maxPixels?: number;
  /** Refuse files larger than this many bytes; default `DEFAULT_MAX_BYTES`. Files only. */
  maxBytes?: number;
  /** Downscale (keeping the aspect ratio) so that the width is at most this many pixels; default no resize. */
  maxWidth?: number;
}

const REFUSED: Partial<Record<MediaFormat, string>> = {
  gif: 'GIF is not decoded as a still image (256 colours, usually animated); pass it as a video',
  svg: 'SVG is not accepted: a vector drawing is not a camera image and may reference external files',
  bmp: 'BMP is not supported; convert it to PNG or JPEG',
  heif: 'HEIF/AVIF is not supported; convert it to JPEG',
  pdf: 'PDF is not an image',
};

const FORMAT_NAMES: Partial<Record<MediaFormat, string>> = { jpeg: 'JPEG', png: 'PNG', webp: 'WebP', tiff: 'TIFF' };

/**
 * Decodes an image file into packed 8-bit RGB: EXIF orientation applied, alpha flattened onto white,
 * any colour space or bit depth converted to sRGB 8-bit. Every failure is a KioskError naming the file.
 */
export async function decodeImageFile(path: string, opts: DecodeImageOptions = {}): Promise<RgbImage> {
  const { size } = await openInputFile(path);
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  if (size > maxBytes) {
    throw new KioskError('E_IMAGE_TOO_LARGE', `file is ${size} bytes, more than the limit of ${maxBytes}`, {
      subject: path,
      details: { bytes: size, maxBytes },
    });
  }
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    throw fileError(err, path);
  }
  return decodeImageBuffer(buf, path, opts);
}

/** As `decodeImageFile`, from bytes in memory; `name` is the subject of any error (a path or an id). */
export async function decodeImageBuffer(buf: Uint8Array, name: string, opts: DecodeImageOptions = {}): Promise<RgbImage> {
  if (buf.length === 0) throw new KioskError('E_INPUT_EMPTY', 'image is empty (0 bytes)', { subject: name });
  const format = checkFormat(buf, name);
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;

  // The header alone gives the declared size, so a bomb is refused before a single pixel is decoded.
  let meta: Metadata;
  try {
    meta = await sharp(buf, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw corrupt(err, format, name);
  }
  const { width = 0, height = 0 } = meta;
  if (width * height > maxPixels) {
    throw new KioskError('E_IMAGE_TOO_LARGE', `image declares ${width}x${height} = ${width * height} pixels, more than the limit of ${maxPixels}`, {
      subject: name,
      details: { width, height, maxPixels },
    });
  }

  try {
    let pipeline = sharp(buf, { limitInputPixels: maxPixels, failOn: 'warning', autoOrient: true })
      .flatten({ background: { r: 255, g: 255, b: 255 } })
      .toColourspace('srgb');
    if (opts.maxWidth !== undefined) pipeline = pipeline.resize({ width: opts.maxWidth, withoutEnlargement: true, kernel: 'linear' });
    const { data, info } = await pipeline.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || data.length !== info.width * info.height * 3) {
      throw new KioskError('E_IMAGE_CORRUPT', `decoder returned ${info.channels} channels, expected RGB`, { subject: name });
    }
    return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
  } catch (err) {
    if (err instanceof KioskError) throw err;
    if (/pixel limit/i.test((err as Error)?.message ?? '')) {
      throw new KioskError('E_IMAGE_TOO_LARGE', `image exceeds the limit of ${maxPixels} pixels`, { subject: name, cause: err });
    }
    throw corrupt(err, format, name);
  }
}

/** Refuses what we do not decode, and names a file whose content does not match its image extension. */
function checkFormat(buf: Uint8Array, name: string): MediaFormat {
  const format = sniffFormat(buf.subarray(0, 64));
  if (STILL_FORMATS.has(format)) return format;
  const refused = REFUSED[format];
  if (refused) throw new KioskError('E_FORMAT_UNSUPPORTED', refused, { subject: name, details: { format } });
  const promised = formatFromExtension(extname(name));
  if (STILL_FORMATS.has(promised)) {
    throw new KioskError('E_IMAGE_CORRUPT', `not a valid ${FORMAT_NAMES[promised]}: the content does not start with a ${FORMAT_NAMES[promised]} signature`, {
      subject: name,
      details: { expected: promised },
    });
  }
  if (format !== 'unknown') throw new KioskError('E_FORMAT_UNSUPPORTED', `a ${format} video is not a still image`, { subject: name, details: { format } });
  throw new KioskError('E_FORMAT_UNSUPPORTED', 'not a supported image (JPEG, PNG, WebP or TIFF)', { subject: name });
}

/** libvips messages repeat lines; keep the first distinct one, short. */
function corrupt(err: unknown, format: MediaFormat, name: string): KioskError {
  const raw = err instanceof Error ? err.message : String(err);
  const first =
    raw
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l.length > 0) ?? 'decode failed';
  const reason = first.replace(/^Input (buffer|file) has corrupt header: /, '').slice(0, 200);
  const truncated = /premature end|truncated|unexpected end|not enough data|EOF/i.test(raw);
  const what = truncated ? 'truncated' : 'corrupt';
  return new KioskError('E_IMAGE_CORRUPT', `${FORMAT_NAMES[format] ?? format} image is ${what}: ${reason}`, {
    subject: name,
    cause: err,
    details: { format, truncated },
  });
}
