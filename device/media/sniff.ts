/**
 * Recognises media formats by their first bytes, not by file name: a camera or an operator can
 * name a file anything, and the decoder we pick (sharp or ffmpeg) must follow the content.
 */
export type MediaFormat =
  | 'jpeg'
  | 'png'
  | 'webp'
  | 'tiff' // still images we decode with sharp
  | 'gif'
  | 'svg'
  | 'bmp'
  | 'heif'
  | 'pdf' // images we refuse as stills (see image.ts)
  | 'mp4'
  | 'matroska'
  | 'avi'
  | 'mpeg-ts'
  | 'y4m' // video containers we hand to ffmpeg
  | 'unknown';

/** Bytes `sniffFormat` needs from the start of a file. */
export const SNIFF_BYTES = 64;

const HEIF_BRANDS = new Set(['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'mif1', 'msf1', 'avif', 'avis']);

function ascii(b: Uint8Array, start: number, end: number): string {
  return String.fromCharCode(...b.subarray(start, Math.min(end, b.length)));
}

/** The format of a file from its first `SNIFF_BYTES` bytes (fewer is fine for short files). */
export function sniffFormat(head: Uint8Array): MediaFormat {
  const b = head;
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 8 && b[0] === 0x89 && ascii(b, 1, 4) === 'PNG' && b[4] === 0x0d && b[5] === 0x0a && b[6] === 0x1a && b[7] === 0x0a) return 'png';
  if (ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 12) === 'WEBP') return 'webp';
  if (ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 12) === 'AVI ') return 'avi';
  if (b.length >= 4 && ((b[0] === 0x49 && b[1] === 0x49 && b[2] === 0x2a && b[3] === 0) || (b[0] === 0x4d && b[1] === 0x4d && b[2] === 0 && b[3] === 0x2a)))
    return 'tiff';
  if (ascii(b, 0, 6) === 'GIF87a' || ascii(b, 0, 6) === 'GIF89a') return 'gif';
  if (ascii(b, 0, 2) === 'BM' && b.length >= 14) return 'bmp';
  if (ascii(b, 0, 5) === '%PDF-') return 'pdf';
  if (ascii(b, 0, 10) === 'YUV4MPEG2 ') return 'y4m';
  if (ascii(b, 4, 8) === 'ftyp') return HEIF_BRANDS.has(ascii(b, 8, 12)) ? 'heif' : 'mp4';
  if (b.length >= 4 && b[0] === 0x1a && b[1] === 0x45 && b[2] === 0xdf && b[3] === 0xa3) return 'matroska';
  if (b.length >= 1 && b[0] === 0x47 && (b.length < 189 || b[188] === 0x47) && looksBinary(b)) return 'mpeg-ts';
  const text = ascii(b, 0, b.length).replace(/^(\xEF\xBB\xBF)?\s*/, '');
  if (/^<svg[\s>]/i.test(text) || (/^<\?xml/i.test(text) && /<svg[\s>]/i.test(text)) || /^<!DOCTYPE svg/i.test(text)) return 'svg';
  return 'unknown';
}

function looksBinary(b: Uint8Array): boolean {
  for (const x of b.subarray(0, SNIFF_BYTES)) if (x < 0x09 || (x > 0x0d && x < 0x20)) return true;
  return false;
}

/** Still-image formats decoded by `decodeImage*`. */
export const STILL_FORMATS: ReadonlySet<MediaFormat> = new Set(['jpeg', 'png', 'webp', 'tiff']);
/** Formats always handed to ffmpeg (GIF because it is usually an animation). */
export const VIDEO_FORMATS: ReadonlySet<MediaFormat> = new Set(['mp4', 'matroska', 'avi', 'mpeg-ts', 'y4m', 'gif']);

/** File name extensions (lower case, with the dot) that promise a still image. */
export const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set(['.jpg', '.jpeg', '.jpe', '.png', '.webp', '.tif', '.tiff']);
/** File name extensions that promise a video. */
export const VIDEO_EXTENSIONS: ReadonlySet<string> = new Set(['.mp4', '.m4v', '.mov', '.mkv', '.webm', '.avi', '.ts', '.gif', '.y4m']);

/** What the extension promises, for error messages ("not a JPEG") and for picking files in a directory. */
export function formatFromExtension(ext: string): MediaFormat {
  switch (ext.toLowerCase()) {
    case '.jpg':
    case '.jpeg':
    case '.jpe':
      return 'jpeg';
    case '.png':
      return 'png';
    case '.webp':
      return 'webp';
    case '.tif':
    case '.tiff':
      return 'tiff';
    case '.gif':
      return 'gif';
    case '.mp4':
    case '.m4v':
    case '.mov':
      return 'mp4';
    case '.mkv':
    case '.webm':
      return 'matroska';
    case '.avi':
      return 'avi';
    case '.ts':
      return 'mpeg-ts';
    case '.y4m':
      return 'y4m';
    default:
      return 'unknown';
  }
}
