/**
 * Reads the MRZ from a camera or scanner image of a document's data page, so that the customer need
 * not type it: finds the band (mrz-ocr-locate.ts), reads it with Debian's tesseract
 * (mrz-ocr-tesseract.ts), picks MRZ-shaped lines and repairs only what the check digits confirm
 * (mrz-ocr-text.ts). The result names the checks that failed so the screen can ask for those fields.
 * No image and no MRZ character is ever logged or put in an error message.
 */
import { readFile } from 'node:fs/promises';
import sharp, { type Sharp } from 'sharp';
import { KioskError, isKioskError } from '../../base/errors.js';
import { parseMrz, type MrzAccessKey } from './mrz.js';
import { locateMrz, type Box, type GreyImage } from './mrz-ocr-locate.js';
import { ocrPng, type TesseractOptions } from './mrz-ocr-tesseract.js';
import {
  ACCESS_KEY_CHECKS,
  candidateLines,
  checkAndRepair,
  plausibleLayout,
  type CheckedMrz,
  type CheckName,
  type MrzOcrFormat,
  type Repair,
} from './mrz-ocr-text.js';

export type { CheckName, MrzOcrFormat, Repair } from './mrz-ocr-text.js';

/** Options of readMrzFromImage. */
export interface MrzOcrOptions extends TesseractOptions {
  /** Refuse images with more pixels than this (E_IMAGE_CORRUPT names the limit); default 40 M. */
  maxPixels?: number;
  /** Width the page is scaled to for finding the band; default 600 px. */
  locateWidth?: number;
  /** Line pitch the band is scaled to for the OCR; default 48 px. */
  linePitch?: number;
}

/** An MRZ read from an image: lines after repair, what failed, and the access key when it checks. */
export interface MrzImageRead {
  format: MrzOcrFormat;
  lines: string[];
  /** Checks whose check digit does not hold (e.g. `birthDate`); empty for a perfect read. */
  failed: CheckName[];
  /** All check-digit checks of this format, in order. */
  checks: CheckName[];
  /** Characters changed because a check digit confirmed the change (positions only). */
  repairs: Repair[];
  /** Present when document number, birth date and expiry date all check. */
  accessKey?: MrzAccessKey;
  /** Page orientation the MRZ was read in, in degrees clockwise (0, 90, 180, 270). */
  rotation: number;
  /** How the band was found: `band` (morphology) or `page` (OCR of the whole page, the fallback). */
  method: 'band' | 'page';
}

/** Decodes any image sharp reads to greyscale, upright by its EXIF orientation. E_IMAGE_CORRUPT when it does not decode. */
async function decodeGrey(image: Buffer, maxPixels: number): Promise<GreyImage> {
  try {
    const { data, info } = await sharp(image, { limitInputPixels: maxPixels, failOn: 'error' })
      .rotate()
      .greyscale()
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 1) throw new Error(`expected 1 channel, got ${info.channels}`);
    return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
  } catch (err) {
    throw new KioskError('E_IMAGE_CORRUPT', `the document image does not decode (${(err as Error).message.slice(0, 120)})`, {
      subject: 'mrz image',
      cause: err,
    });
  }
}

const rawOf = (g: GreyImage) => sharp(Buffer.from(g.data.buffer, g.data.byteOffset, g.data.length), { raw: { width: g.width, height: g.height, channels: 1 } });

/** Runs a pipeline to one byte per pixel (sharp turns a raw grey input into sRGB unless told otherwise). */
async function greyOf(pipeline: Sharp): Promise<GreyImage> {
  const { data, info } = await pipeline.extractChannel(0).raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

/** Turns the page clockwise by a multiple of 90 degrees. */
async function turn(g: GreyImage, degrees: number): Promise<GreyImage> {
  if (degrees === 0) return g;
  return greyOf(rawOf(g).rotate(degrees));
}

/** Crops a band (with a margin of half a line around it), stretches its contrast and scales it to the OCR's line pitch; PNG. */
async function bandPng(page: GreyImage, box: Box, scale: number, pitch: number): Promise<Buffer> {
  const linePx = (box.height / box.lines) * scale;
  const mx = Math.round(0.03 * box.width * scale + linePx / 2);
  const my = Math.round(linePx * 0.6);
  const left = Math.max(0, Math.round(box.left * scale) - mx);
  const top = Math.max(0, Math.round(box.top * scale) - my);
  const width = Math.min(page.width - left, Math.round(box.width * scale) + 2 * mx);
  const height = Math.min(page.height - top, Math.round(box.height * scale) + 2 * my);
  const factor = Math.min(pitch / Math.max(1, linePx), 2400 / width);
  return rawOf(page)
    .extract({ left, top, width, height })
    .resize({ width: Math.max(1, Math.round(width * factor)), kernel: 'lanczos3' })
    .normalise()
    .png({ compressionLevel: 1 })
    .toBuffer();
}

/** Scales a whole page so its text is about the OCR's size (MRZ ~ 90% of the width), as a PNG. */
async function pagePng(page: GreyImage): Promise<Buffer> {
  const width = Math.min(2000, Math.max(1000, page.width));
  return rawOf(page).resize({ width }).normalise().png({ compressionLevel: 1 }).toBuffer();
}

/** Ranks reads: fewer failed checks, then fewer repairs. */
const better = (a: CheckedMrz, b: CheckedMrz | undefined): boolean =>
  b === undefined || a.failed.length < b.failed.length || (a.failed.length === b.failed.length && a.repairs.length < b.repairs.length);

/** The best MRZ in one OCR output, if any. */
function bestIn(text: string): CheckedMrz | undefined {
  let best: CheckedMrz | undefined;
  // Unchanged readings first, so that a tie keeps the less edited one; a dropped character only when everything then checks.
  const drops = new Map<string, CheckedMrz>();
  for (const { lines, dropped } of candidateLines(text)) {
    const checked = checkAndRepair(lines);
    if (!checked) continue;
    if (!dropped) {
      if (better(checked, best)) best = checked;
    } else if (checked.failed.length === 0 && plausibleLayout(checked.lines)) drops.set(checked.lines.join('\n'), checked);
  }
  // Two different deletions that both check would be a guess: only a single one is kept.
  const [drop] = drops.size === 1 ? [...drops.values()] : [];
  return drop && better(drop, best) ? drop : best;
}

/** The access key as the chip needs it, from checked lines. */
function accessKeyOf(m: CheckedMrz): MrzAccessKey | undefined {
  if (ACCESS_KEY_CHECKS.some((c) => m.failed.includes(c))) return undefined;
  const [a, b] = m.lines;
  // TD1 carries the document number on line 1; every other format on line 2 (ICAO 9303 parts 5-7).
  if (m.format === 'TD1') {
    return {
      documentNumber: a.slice(5, 14),
      documentNumberCheckDigit: a[14],
      birthDate: b.slice(0, 6),
      birthDateCheckDigit: b[6],
      expiryDate: b.slice(8, 14),
      expiryDateCheckDigit: b[14],
    };
  }
  return {
    documentNumber: b.slice(0, 9),
    documentNumberCheckDigit: b[9],
    birthDate: b.slice(13, 19),
    birthDateCheckDigit: b[19],
    expiryDate: b.slice(21, 27),
    expiryDateCheckDigit: b[27],
  };
}

/**
 * Reads the MRZ from an encoded image (JPEG, PNG, ... as sharp decodes). Tries the bands found on the
 * upright page, the same bands turned 180 degrees, then quarter turns, then OCR of the whole page;
 * stops at the first read where every check holds. E_DOC_MRZ when nothing MRZ-shaped is read,
 * E_IMAGE_CORRUPT when the image does not decode, E_DEVICE when tesseract is missing.
 */
export async function readMrzFromImage(image: Buffer, options: MrzOcrOptions = {}): Promise<MrzImageRead> {
  const page = await decodeGrey(image, options.maxPixels ?? 40_000_000);
  const locateWidth = options.locateWidth ?? 600;
  const pitch = options.linePitch ?? 48;
  let best: { read: CheckedMrz; rotation: number; method: 'band' | 'page' } | undefined;
  const consider = (text: string, rotation: number, method: 'band' | 'page'): boolean => {
    const read = bestIn(text);
    // Any printed text of the right length parses: a band read needs fillers on every line, a read
    // from the whole page (which holds other text) at least one check digit that holds.
    const plausible = read !== undefined && (method === 'band' ? read.lines.every((l) => l.includes('<')) : read.failed.length < read.checks.length);
    if (read && plausible && better(read, best?.read)) best = { read, rotation, method };
    return best !== undefined && best.read.failed.length === 0;
  };
  // Upright text with no filler run (`<<`) is most likely upside down: only then is the 180-degree turn read.
  const upsideDown = (text: string): boolean => !text.includes('<<');
  const attempt = async (): Promise<void> => {
    // Quarter turns only for a portrait-shaped image: a data page photographed sideways.
    const rotations = page.height > page.width * 1.1 ? [0, 90, 270] : [0];
    for (const rotation of rotations) {
      const turned = await turn(page, rotation);
      const small = await smallCopy(turned, locateWidth);
      for (const [index, box] of locateMrz(small.image).entries()) {
        // The LSTM model's reading depends on the scale: the likeliest band is also read at a smaller one.
        for (const p of index === 0 ? [pitch, Math.round((pitch * 2) / 3)] : [pitch]) {
          const png = await bandPng(turned, box, small.scale, p);
          const text = await ocrPng(png, options);
          if (consider(text, rotation, 'band')) return;
          if (upsideDown(text) && consider(await ocrPng(await sharp(png).rotate(180).toBuffer(), options), (rotation + 180) % 360, 'band')) return;
        }
      }
      if (best !== undefined) break;
    }
    // No band read as an MRZ, or one with a failing check: let tesseract find the text lines on the
    // whole page (another scale and segmentation); the better read of the two is kept.
    const text = await ocrPng(await pagePng(page), options, 11);
    if (consider(text, 0, 'page') || !upsideDown(text) || best !== undefined) return;
    consider(await ocrPng(await pagePng(await turn(page, 180)), options, 11), 180, 'page');
  };
  try {
    await attempt();
  } catch (err) {
    if (isKioskError(err)) throw err;
    throw new KioskError('E_INTERNAL', `reading the MRZ failed: ${(err as Error).message.slice(0, 120)}`, { subject: 'mrz image', cause: err });
  }
  if (!best) throw new KioskError('E_DOC_MRZ', 'no machine-readable zone found in the image', { subject: 'mrz image' });
  const { read, rotation, method } = best;
  return {
    format: read.format,
    lines: read.lines,
    failed: read.failed,
    checks: read.checks,
    repairs: read.repairs,
    accessKey: accessKeyOf(read),
    rotation,
    method,
  };
}

/** A copy at most `width` wide for finding the band, and the factor back to the page. */
async function smallCopy(page: GreyImage, width: number): Promise<{ image: GreyImage; scale: number }> {
  if (page.width <= width) return { image: page, scale: 1 };
  const image = await greyOf(rawOf(page).resize({ width }));
  return { image, scale: page.width / image.width };
}

/** The access key of a read, or E_DOC_MRZ naming the checks that failed (never their values). */
export function requireAccessKey(read: MrzImageRead): MrzAccessKey {
  if (read.accessKey) return read.accessKey;
  const fields = ACCESS_KEY_CHECKS.filter((c) => read.failed.includes(c));
  throw new KioskError('E_DOC_MRZ', `the MRZ read from the image does not check in ${fields.join(', ')}: please type or correct these fields`, {
    subject: 'mrz image',
    details: { fields },
  });
}

/**
 * The chip access key from an image file of the data page: read as readMrzFromImage, then through
 * parseMrz (mrz.ts) like typed lines, so both paths give the same key. E_INPUT_NOT_FOUND for a missing file.
 */
export async function accessKeyFromImageFile(path: string, options: MrzOcrOptions = {}): Promise<MrzAccessKey> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new KioskError('E_INPUT_NOT_FOUND', 'cannot read the document image', { subject: path, cause: err });
  }
  const read = await readMrzFromImage(bytes, options);
  const key = requireAccessKey(read);
  // Visas (MRV-A/B) are not formats the mrz package parses; their key comes from the layout alone.
  return read.format === 'MRVA' || read.format === 'MRVB' ? key : parseMrz(read.lines).accessKey;
}
