/**
 * The portrait in DG2 (ICAO Doc 9303 Part 10, 4.7.2): a biometric information template whose data
 * block is an ISO/IEC 19794-5 facial record holding a JPEG or a JPEG 2000 image. JPEG goes through
 * sharp (device/media); JPEG 2000, which sharp's prebuilt libvips lacks, through OpenJPEG compiled
 * to WebAssembly (@cornerstonejs/codec-openjpeg), after the JP2 file's codestream box is taken out.
 * Both are bounded in pixels before a pixel is decoded.
 */
import { createRequire } from 'node:module';
import { KioskError } from '../../base/errors.js';
import type { RgbImage } from '../../base/rgb-image.js';
import { DEFAULT_MAX_PIXELS, decodeImageBuffer } from '../media/image.js';
import { readTlv, type TlvHeader } from './tlv.js';

/** The image a DG2 carries. */
export interface PortraitImage {
  format: 'jpeg' | 'jpeg2000';
  bytes: Buffer;
}

const bad = (message: string) => new KioskError('E_IMAGE_CORRUPT', message, { subject: 'DG2' });

/** The TLV object at `at`; E_IMAGE_CORRUPT when it does not fit. */
function tlvAt(buf: Buffer, at: number): TlvHeader {
  const t = readTlv(buf, at);
  if (!t) throw bad('DG2 is truncated or has a length it cannot hold');
  return t;
}

/** The children of a constructed TLV value. */
function children(buf: Buffer, start: number, end: number): TlvHeader[] {
  const out = [];
  for (let i = start; i < end; ) {
    const t = tlvAt(buf, i);
    out.push(t);
    i = t.end;
  }
  return out;
}

/** The first portrait in DG2. E_IMAGE_CORRUPT when DG2 is not a biometric template with a facial record. */
export function portraitFromDg2(dg2: Buffer): PortraitImage {
  const top = tlvAt(dg2, 0);
  if (top.tag !== 0x75) throw bad('DG2 does not start with tag 75');
  const group = children(dg2, top.start, top.end).find((c) => c.tag === 0x7f61);
  const template = group && children(dg2, group.start, group.end).find((c) => c.tag === 0x7f60);
  const block = template && children(dg2, template.start, template.end).find((c) => c.tag === 0x5f2e || c.tag === 0x7f2e);
  if (!block) throw bad('DG2 holds no biometric data block');
  const rec = dg2.subarray(block.start, block.end);
  // ISO/IEC 19794-5: 'FAC\0', version, record length (4), number of images (2); then per image a
  // 20-byte facial information block, 8 bytes per feature point, a 12-byte image information block.
  if (rec.subarray(0, 4).toString('latin1') !== 'FAC\0' || rec.length < 14 + 20 + 12) throw bad('the biometric data block is not an ISO 19794-5 facial record');
  const points = rec.readUInt16BE(14 + 4);
  const info = 14 + 20 + points * 8;
  if (rec.length < info + 12) throw bad('the facial record is truncated');
  const bytes = rec.subarray(info + 12);
  const format = sniff(bytes) ?? (rec[info + 1] === 1 ? 'jpeg2000' : rec[info + 1] === 0 ? 'jpeg' : undefined);
  if (!format) throw bad('the portrait is neither JPEG nor JPEG 2000');
  return { format, bytes: Buffer.from(bytes) };
}

function sniff(b: Buffer): PortraitImage['format'] | undefined {
  if (b[0] === 0xff && b[1] === 0xd8) return 'jpeg';
  if (b.subarray(0, 12).equals(JP2_SIGNATURE) || (b[0] === 0xff && b[1] === 0x4f && b[2] === 0xff && b[3] === 0x51)) return 'jpeg2000';
  return undefined;
}

const JP2_SIGNATURE = Buffer.from('0000000c6a5020200d0a870a', 'hex');

/** The JPEG 2000 codestream: the `jp2c` box of a JP2 file, or the bytes themselves when they are one. */
export function jpeg2000Codestream(b: Buffer): Buffer {
  if (!b.subarray(0, 12).equals(JP2_SIGNATURE)) return b;
  for (let i = 0; i + 8 <= b.length; ) {
    let size = b.readUInt32BE(i);
    const type = b.subarray(i + 4, i + 8).toString('latin1');
    let header = 8;
    if (size === 1) {
      size = Number(b.readBigUInt64BE(i + 8));
      header = 16;
    } else if (size === 0) size = b.length - i;
    if (size < header || i + size > b.length) break;
    if (type === 'jp2c') return b.subarray(i + header, i + size);
    i += size;
  }
  throw bad('the JP2 file has no codestream box');
}

/** Width and height from a codestream's SIZ marker segment (right after SOC). */
function codestreamSize(b: Buffer): { width: number; height: number } {
  if (b.length < 4 + 2 + 2 + 16 || b.readUInt16BE(0) !== 0xff4f || b.readUInt16BE(2) !== 0xff51) throw bad('the JPEG 2000 codestream has no SIZ marker');
  // SIZ: Lsiz (2), Rsiz (2), Xsiz, Ysiz, XOsiz, YOsiz (4 each), ...
  const x = b.readUInt32BE(8);
  const y = b.readUInt32BE(12);
  const x0 = b.readUInt32BE(16);
  const y0 = b.readUInt32BE(20);
  return { width: x - x0, height: y - y0 };
}

type J2kModule = {
  J2KDecoder: new () => {
    getEncodedBuffer(n: number): Uint8Array;
    decode(): void;
    getFrameInfo(): { width: number; height: number; bitsPerSample: number; componentCount: number };
    getDecodedBuffer(): Uint8Array;
    delete?(): void;
  };
};
let openjpeg: Promise<J2kModule> | undefined;

/** The OpenJPEG WebAssembly decoder, loaded once, silent. */
function openJpeg(): Promise<J2kModule> {
  if (!openjpeg) {
    const factory = createRequire(import.meta.url)('@cornerstonejs/codec-openjpeg/decodewasmjs') as (o: object) => Promise<J2kModule>;
    openjpeg = factory({ print: () => {}, printErr: () => {} });
  }
  return openjpeg;
}

/** Decodes a portrait to RGB, at most `maxPixels`. */
export async function decodePortrait(p: PortraitImage, maxPixels = DEFAULT_MAX_PIXELS): Promise<RgbImage> {
  if (p.format === 'jpeg') return decodeImageBuffer(p.bytes, 'DG2 portrait', { maxPixels });
  const stream = jpeg2000Codestream(p.bytes);
  const m = await openJpeg();
  const dec = new m.J2KDecoder();
  try {
    dec.getEncodedBuffer(stream.length).set(stream);
    const run = (step: () => void, what: string) => {
      try {
        step();
      } catch (err) {
        throw bad(`the JPEG 2000 portrait ${what}: ${String(err)}`);
      }
    };
    // The SIZ marker gives the size: a bomb is refused before a pixel is decoded.
    const declared = codestreamSize(stream);
    if (declared.width * declared.height > maxPixels)
      throw new KioskError('E_IMAGE_TOO_LARGE', `the portrait is ${declared.width}x${declared.height}, more than ${maxPixels} pixels`, { subject: 'DG2' });
    run(() => dec.decode(), 'does not decode');
    const f = dec.getFrameInfo();
    // OpenJPEG reports a codestream it could not decode (a truncated one) as a 0x0 frame, without an error.
    if (f.width !== declared.width || f.height !== declared.height) throw bad('the JPEG 2000 portrait does not decode (truncated?)');
    if (f.bitsPerSample !== 8 || (f.componentCount !== 3 && f.componentCount !== 1))
      throw new KioskError('E_FORMAT_UNSUPPORTED', `a ${f.componentCount}-component ${f.bitsPerSample}-bit JPEG 2000 portrait`, { subject: 'DG2' });
    const px = dec.getDecodedBuffer();
    const data = new Uint8Array(f.width * f.height * 3);
    // OpenJPEG hands over the components planar or interleaved depending on the build: this one interleaves.
    if (f.componentCount === 3) data.set(px.subarray(0, data.length));
    else for (let i = 0; i < f.width * f.height; i++) data[i * 3] = data[i * 3 + 1] = data[i * 3 + 2] = px[i];
    return { width: f.width, height: f.height, data };
  } finally {
    dec.delete?.();
  }
}
