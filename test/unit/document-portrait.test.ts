import t from 'tap';
import { createRequire } from 'node:module';
import sharp from 'sharp';
import { decodePortrait, jpeg2000Codestream, portraitFromDg2 } from '../../device/document/portrait.js';
import { dg2Of, tlv as helperTlv } from '../helpers/emrtd-files.js';

const W = 48;
const H = 64;
// A colour gradient: every pixel's R, G, B differ, so a channel order or plane mix-up shows.
const rgb = Buffer.alloc(W * H * 3);
for (let y = 0; y < H; y++)
  for (let x = 0; x < W; x++) {
    const i = (y * W + x) * 3;
    rgb[i] = x * 5;
    rgb[i + 1] = y * 3;
    rgb[i + 2] = 200 - x - y;
  }

/** A lossless JPEG 2000 codestream of `rgb` (OpenJPEG's encoder from the same package). */
async function j2k(): Promise<Buffer> {
  type Enc = { getDecodedBuffer(f: object): Uint8Array; encode(): void; getEncodedBuffer(): Uint8Array };
  const factory = createRequire(import.meta.url)('@cornerstonejs/codec-openjpeg/wasmjs') as (o: object) => Promise<{ J2KEncoder: new () => Enc }>;
  const m = await factory({ print: () => {}, printErr: () => {} });
  const enc = new m.J2KEncoder();
  enc.getDecodedBuffer({ width: W, height: H, bitsPerSample: 8, componentCount: 3, isSigned: false }).set(rgb);
  enc.encode();
  return Buffer.from(enc.getEncodedBuffer());
}

const box = (type: string, body: Buffer) => {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(8 + body.length);
  head.write(type, 4, 'latin1');
  return Buffer.concat([head, body]);
};
/** A JP2 file around a codestream: signature, file type, a header box, the codestream box. */
const jp2 = (stream: Buffer) =>
  Buffer.concat([
    Buffer.from('0000000c6a5020200d0a870a', 'hex'),
    box('ftyp', Buffer.from('jp2 \x00\x00\x00\x00jp2 ', 'latin1')),
    box('jp2h', box('ihdr', Buffer.alloc(14))),
    box('jp2c', stream),
  ]);

const tlv = helperTlv;
const dg2 = (image: Buffer, dataType: 0 | 1, points = 0) => dg2Of(image, { dataType, width: W, height: H, points });

const near = (a: Uint8Array, b: Uint8Array, tol: number) => a.length === b.length && a.every((v, i) => Math.abs(v - b[i]) <= tol);

t.test('a JPEG portrait comes out of DG2 and decodes', async (t) => {
  const jpeg = await sharp(rgb, { raw: { width: W, height: H, channels: 3 } })
    .jpeg({ quality: 95 })
    .toBuffer();
  const p = portraitFromDg2(dg2(jpeg, 0, 2));
  t.equal(p.format, 'jpeg');
  t.ok(p.bytes.equals(jpeg), 'the image bytes, after two feature points');
  const img = await decodePortrait(p);
  t.same([img.width, img.height], [W, H]);
  t.ok(near(img.data, rgb, 40), 'close to the original (lossy)');
});

t.test('JPEG 2000, as a codestream and inside a JP2 file, decodes losslessly in WebAssembly', async (t) => {
  const stream = await j2k();
  for (const [name, bytes] of [
    ['codestream', stream],
    ['JP2 file', jp2(stream)],
  ] as const) {
    const p = portraitFromDg2(dg2(bytes, 1));
    t.equal(p.format, 'jpeg2000', name);
    const img = await decodePortrait(p);
    t.same([img.width, img.height], [W, H], `${name}: size`);
    t.ok(Buffer.from(img.data).equals(rgb), `${name}: every pixel as encoded (interleaved RGB)`);
  }
  t.ok(jpeg2000Codestream(jp2(stream)).equals(stream), 'the codestream box is found');
});

t.test('bad portraits are refused with a code', async (t) => {
  const stream = await j2k();
  await t.rejects(decodePortrait(portraitFromDg2(dg2(stream, 1)), 1000), { code: 'E_IMAGE_TOO_LARGE' }, 'more pixels than allowed, refused from the header');
  await t.rejects(decodePortrait({ format: 'jpeg2000', bytes: stream.subarray(0, 40) }), { code: 'E_IMAGE_CORRUPT' }, 'a truncated codestream');
  t.throws(() => portraitFromDg2(Buffer.from('7503010203', 'hex')), { code: 'E_IMAGE_CORRUPT' }, 'no biometric data block');
  t.throws(() => portraitFromDg2(tlv([0x61], Buffer.alloc(3))), { code: 'E_IMAGE_CORRUPT' }, 'not DG2');
  t.throws(() => portraitFromDg2(dg2(Buffer.from('not an image'), 0).subarray(0, 30)), { code: 'E_IMAGE_CORRUPT' }, 'truncated');
});
