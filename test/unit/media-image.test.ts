import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import t from 'tap';
import { isKioskError } from '../../base/errors.js';
import { decodeImageBuffer, decodeImageFile } from '../../device/media/image.js';
import { sniffFormat } from '../../device/media/sniff.js';
import { rejectsWithCode } from '../helpers/errors.js';

/** 4x2 image: left half red, right half blue. */
function twoColour(): Buffer {
  const px = Buffer.alloc(4 * 2 * 3);
  for (let y = 0; y < 2; y++) for (let x = 0; x < 4; x++) px.set(x < 2 ? [255, 0, 0] : [0, 0, 255], (y * 4 + x) * 3);
  return px;
}

/** Pseudo-random pixels: JPEG scan data large enough that cutting the file lands inside it. */
function noise(w: number, h: number): Buffer {
  const px = Buffer.alloc(w * h * 3);
  let s = 12345;
  for (let i = 0; i < px.length; i++) px[i] = (s = (s * 1103515245 + 12345) >>> 0) >>> 24;
  return px;
}

function crc32(b: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of b) {
    let c = (crc ^ byte) & 0xff;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    crc = (crc >>> 8) ^ c;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function pngChunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/**
 * A real decompression bomb: a valid 1-bit grey PNG of 20000x20000 (400 MP, 1.2 GB as RGB) that is
 * ~50 KB on disk. Written by hand because encoding it with sharp means decoding 400 MP first.
 */
function pngBomb(side = 20000): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(side, 0);
  ihdr.writeUInt32BE(side, 4);
  ihdr[8] = 1; // bit depth
  ihdr[9] = 0; // greyscale
  const raw = Buffer.alloc(side * (1 + Math.ceil(side / 8))); // filter byte 0 + zero bits per row
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(raw, { level: 9 })),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

t.test('decodes JPEG and PNG into packed RGB with the right pixels', async (t) => {
  const dir = t.testdir();
  const raw = { raw: { width: 4, height: 2, channels: 3 as const } };
  await sharp(twoColour(), raw).png().toFile(join(dir, 'a.png'));
  await sharp(twoColour(), raw).jpeg({ quality: 100 }).toFile(join(dir, 'a.jpg'));

  const png = await decodeImageFile(join(dir, 'a.png'));
  t.same([png.width, png.height, png.data.length], [4, 2, 24]);
  t.ok(png.data instanceof Uint8Array);
  t.same([...png.data], [...twoColour()], 'PNG is lossless: exact pixels');

  const jpg = await decodeImageFile(join(dir, 'a.jpg'));
  t.same([jpg.width, jpg.height], [4, 2]);
  t.ok(jpg.data[0] > 200 && jpg.data[2] < 60, `left pixel is red (${jpg.data.subarray(0, 3).join(',')})`);
  t.ok(jpg.data[9 + 2] > 200 && jpg.data[9] < 60, `right pixel is blue (${jpg.data.subarray(9, 12).join(',')})`);
});

t.test('applies EXIF orientation', async (t) => {
  const dir = t.testdir();
  const file = join(dir, 'rotated.jpg');
  // Stored 4x2 with orientation 6 (rotate 90 deg clockwise to display): displayed 2x4.
  await sharp(twoColour(), { raw: { width: 4, height: 2, channels: 3 } })
    .jpeg({ quality: 100 })
    .withMetadata({ orientation: 6 })
    .toFile(file);
  const img = await decodeImageFile(file);
  t.same([img.width, img.height], [2, 4]);
  t.ok(img.data[0] > 200 && img.data[2] < 60, 'top row is the red (former left) half');
  const last = (2 * 4 - 1) * 3;
  t.ok(img.data[last + 2] > 200 && img.data[last] < 60, 'bottom row is the blue half');
});

t.test('flattens alpha onto white, expands grey and 16-bit to 8-bit RGB', async (t) => {
  const transparent = await sharp({ create: { width: 3, height: 3, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } })
    .png()
    .toBuffer();
  const a = await decodeImageBuffer(transparent, 'alpha.png');
  t.same([...a.data.subarray(0, 3)], [255, 255, 255]);
  t.equal(a.data.length, 27);

  const grey = await sharp(Buffer.from([10, 200]), { raw: { width: 2, height: 1, channels: 1 } })
    .png()
    .toBuffer();
  const g = await decodeImageBuffer(grey, 'grey.png');
  t.same([...g.data], [10, 10, 10, 200, 200, 200]);

  const deep = await sharp({ create: { width: 2, height: 2, channels: 3, background: { r: 255, g: 128, b: 0 } } })
    .toColourspace('rgb16')
    .png()
    .toBuffer();
  const d = await decodeImageBuffer(deep, 'deep.png');
  t.same([...d.data.subarray(0, 3)], [255, 128, 0]);
});

t.test('maxWidth downscales keeping the aspect ratio, never upscales', async (t) => {
  const big = await sharp({ create: { width: 400, height: 200, channels: 3, background: 'grey' } })
    .png()
    .toBuffer();
  const small = await decodeImageBuffer(big, 'big.png', { maxWidth: 100 });
  t.same([small.width, small.height, small.data.length], [100, 50, 100 * 50 * 3]);
  const same = await decodeImageBuffer(big, 'big.png', { maxWidth: 1000 });
  t.same([same.width, same.height], [400, 200]);
});

t.test('a missing file is E_INPUT_NOT_FOUND naming it', async (t) => {
  const file = join(t.testdir(), 'nope.jpg');
  await rejectsWithCode(t, decodeImageFile(file), 'E_INPUT_NOT_FOUND', file);
});

t.test('a zero-byte file is E_INPUT_EMPTY', async (t) => {
  const dir = t.testdir({ 'empty.jpg': '' });
  await rejectsWithCode(t, decodeImageFile(join(dir, 'empty.jpg')), 'E_INPUT_EMPTY', /empty.*empty\.jpg/);
  await rejectsWithCode(t, decodeImageBuffer(new Uint8Array(0), 'upload-1'), 'E_INPUT_EMPTY', 'upload-1');
});

t.test('a directory is E_INPUT_UNREADABLE', async (t) => {
  const dir = t.testdir({ 'sub.jpg': {} });
  await rejectsWithCode(t, decodeImageFile(join(dir, 'sub.jpg')), 'E_INPUT_UNREADABLE', /directory/);
});

t.test('an unreadable file is E_INPUT_UNREADABLE', { skip: process.getuid?.() === 0 ? 'running as root: file modes do not stop reads' : false }, async (t) => {
  const file = join(t.testdir(), 'secret.png');
  await sharp({ create: { width: 2, height: 2, channels: 3, background: 'red' } })
    .png()
    .toFile(file);
  await chmod(file, 0o000);
  await rejectsWithCode(t, decodeImageFile(file), 'E_INPUT_UNREADABLE', /permission/);
});

t.test('a truncated JPEG is E_IMAGE_CORRUPT and says truncated', async (t) => {
  const dir = t.testdir();
  const jpeg = await sharp(noise(320, 240), { raw: { width: 320, height: 240, channels: 3 } })
    .jpeg()
    .toBuffer();
  const file = join(dir, 'cut.jpg');
  await writeFile(file, jpeg.subarray(0, Math.floor(jpeg.length * 0.6)));
  await rejectsWithCode(t, decodeImageFile(file), 'E_IMAGE_CORRUPT', /JPEG image is truncated.*cut\.jpg/);
  // Cut inside the header too.
  await writeFile(file, jpeg.subarray(0, 40));
  await rejectsWithCode(t, decodeImageFile(file), 'E_IMAGE_CORRUPT', 'cut.jpg');
});

t.test('corrupt bytes named .jpg: E_IMAGE_CORRUPT, not a crash or a wrong format', async (t) => {
  const dir = t.testdir();
  const random = noise(40, 40);
  await writeFile(join(dir, 'random.jpg'), random);
  await rejectsWithCode(t, decodeImageFile(join(dir, 'random.jpg')), 'E_IMAGE_CORRUPT', /not a valid JPEG.*random\.jpg/);

  // A JPEG signature followed by garbage.
  const jpeg = await sharp(noise(64, 64), { raw: { width: 64, height: 64, channels: 3 } })
    .jpeg()
    .toBuffer();
  const mangled = Buffer.from(jpeg);
  for (let i = 100; i < mangled.length - 2; i++) mangled[i] = (i * 7) & 0xff;
  await writeFile(join(dir, 'mangled.jpg'), mangled);
  await rejectsWithCode(t, decodeImageFile(join(dir, 'mangled.jpg')), 'E_IMAGE_CORRUPT', /JPEG image is corrupt/);
});

t.test('a decompression bomb is refused from its header: E_IMAGE_TOO_LARGE', async (t) => {
  const dir = t.testdir();
  const bomb = pngBomb();
  t.ok(bomb.length < 200_000, `bomb is small on disk (${bomb.length} bytes)`);
  const meta = await sharp(bomb, { limitInputPixels: false }).metadata();
  t.same([meta.width, meta.height, meta.format], [20000, 20000, 'png'], 'the bomb is a valid PNG');
  const file = join(dir, 'bomb.png');
  await writeFile(file, bomb);
  await rejectsWithCode(t, decodeImageFile(file), 'E_IMAGE_TOO_LARGE', /20000x20000.*bomb\.png/);
  // A lower limit refuses an ordinary image the same way.
  const ok = await sharp({ create: { width: 100, height: 100, channels: 3, background: 'red' } })
    .png()
    .toBuffer();
  await rejectsWithCode(t, decodeImageBuffer(ok, 'small.png', { maxPixels: 5000 }), 'E_IMAGE_TOO_LARGE', /10000 pixels/);
  t.equal((await decodeImageBuffer(ok, 'small.png', { maxPixels: 10_000 })).width, 100, 'exactly at the limit is accepted');
});

t.test('a file over the byte limit is E_IMAGE_TOO_LARGE before it is read', async (t) => {
  const file = join(t.testdir(), 'big.png');
  await sharp({ create: { width: 64, height: 64, channels: 3, background: 'red' } })
    .png()
    .toFile(file);
  await rejectsWithCode(t, decodeImageFile(file, { maxBytes: 10 }), 'E_IMAGE_TOO_LARGE', /bytes/);
});

t.test('unsupported formats are E_FORMAT_UNSUPPORTED naming the file', async (t) => {
  const dir = t.testdir({
    'notes.txt': 'hello, this is not an image\n',
    'logo.svg': '<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
  });
  await rejectsWithCode(t, decodeImageFile(join(dir, 'notes.txt')), 'E_FORMAT_UNSUPPORTED', /not a supported image.*notes\.txt/);
  await rejectsWithCode(t, decodeImageFile(join(dir, 'logo.svg')), 'E_FORMAT_UNSUPPORTED', /SVG/);
  await sharp({ create: { width: 4, height: 4, channels: 3, background: 'red' } })
    .gif()
    .toFile(join(dir, 'anim.gif'));
  await rejectsWithCode(t, decodeImageFile(join(dir, 'anim.gif')), 'E_FORMAT_UNSUPPORTED', /GIF/);
  // An SVG renamed to .png is still refused as SVG: the content decides, not the name.
  await writeFile(join(dir, 'fake.png'), await readFile(join(dir, 'logo.svg')));
  await rejectsWithCode(t, decodeImageFile(join(dir, 'fake.png')), 'E_FORMAT_UNSUPPORTED', /SVG/);
});

t.test('a PNG named .jpg decodes: the content decides', async (t) => {
  const file = join(t.testdir(), 'really-a.png.jpg');
  await sharp({ create: { width: 3, height: 2, channels: 3, background: 'red' } })
    .png()
    .toFile(file);
  t.same((await decodeImageFile(file)).width, 3);
});

t.test('errors carry no pixel data', async (t) => {
  const file = join(t.testdir(), 'bomb.png');
  await writeFile(file, pngBomb(12000));
  const err = await decodeImageFile(file, { maxPixels: 1000 }).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(isKioskError(err, 'E_IMAGE_TOO_LARGE'), 'refused with E_IMAGE_TOO_LARGE');
  const json = JSON.stringify(isKioskError(err) ? err.toJSON() : err);
  t.ok(json.length < 500, `error JSON is small (${json.length} chars)`);
  t.notMatch(json, /"data"|Uint8Array|Buffer/);
});

t.test('sniffFormat recognises signatures', async (t) => {
  const b = (s: string) => Buffer.from(s, 'latin1');
  t.equal(sniffFormat(Buffer.from([0xff, 0xd8, 0xff, 0xe0])), 'jpeg');
  t.equal(sniffFormat(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])), 'png');
  t.equal(sniffFormat(b('RIFF\0\0\0\0WEBPVP8 ')), 'webp');
  t.equal(sniffFormat(b('\0\0\0\x18ftypisom')), 'mp4');
  t.equal(sniffFormat(b('\0\0\0\x18ftypheic')), 'heif');
  t.equal(sniffFormat(b('GIF89a')), 'gif');
  t.equal(sniffFormat(b('\xEF\xBB\xBF  <svg width="1">')), 'svg');
  t.equal(sniffFormat(b('YUV4MPEG2 W640 H480')), 'y4m');
  t.equal(sniffFormat(b('Good morning')), 'unknown');
  t.equal(sniffFormat(new Uint8Array(0)), 'unknown');
});
