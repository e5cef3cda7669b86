/** The decoders on the real photos and videos of ../shared/data (skipped with a message when it is absent). */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { decodeImageFile } from '../../device/media/image.js';
import { listMediaFiles } from '../../device/media/media-file.js';
import { readVideoFrames } from '../../device/media/video.js';

const DATA = new URL('../../../shared/data/', import.meta.url).pathname;
/** Skip reason when a file of the shared data set is missing (a fresh clone elsewhere), else false. */
const absent = (rel: string) => (existsSync(join(DATA, rel)) ? false : `shared data absent: ${join(DATA, rel)} (see ../shared/data/README.md)`);

t.test('real photos from ../shared/data decode (EXIF orientation applied)', { skip: absent('silentface-antispoof/images/sample/image_T1.jpg') }, async (t) => {
  const file = join(DATA, 'silentface-antispoof/images/sample/image_T1.jpg');
  const img = await decodeImageFile(file);
  // Stored 640x480 with EXIF orientation 6: displayed upright as 480x640.
  t.same([img.width, img.height, img.data.length], [480, 640, 480 * 640 * 3]);
});

// deepface-verify decodes too (checked once by hand) but its large photos take 3 s: left out to keep this fast.
t.test('every image of the small dev sets decodes', { skip: absent('nuaa-sample-nvlong21') }, async (t) => {
  const failures: string[] = [];
  let n = 0;
  for (const sub of ['nuaa-sample-nvlong21', 'faceapi-bbt', 'passporteye-specimens']) {
    const root = join(DATA, sub);
    if (!existsSync(root)) continue;
    for (const file of await walkImages(root)) {
      n++;
      await decodeImageFile(file).catch((err: Error) => failures.push(err.message));
    }
  }
  t.ok(n > 0, `decoded ${n} images`);
  t.same(failures, [], 'no dev image is refused');
});

/** Image files under `root`, recursively. */
async function walkImages(root: string): Promise<string[]> {
  const out: string[] = [...(await listMediaFiles(root, 'images')).files];
  for (const e of await readdir(root, { withFileTypes: true })) if (e.isDirectory()) out.push(...(await walkImages(join(root, e.name))));
  return out;
}

/**
 * The video decoder's RGB is the same on every CPU (device/media/rgb-filter.ts). The hashes are of the first
 * 12 frames as `readVideoFrames` gives them, taken on this x86 machine and, with the same ffmpeg arguments,
 * in the emulated Debian bookworm arm64 root of `npm run check:arm64` (ffmpeg 5.1): equal on both. A change
 * that brings back a CPU-specific path (the fast YUV->RGB converter, an x86/NEON inverse DCT) changes them.
 * They also pin Debian bookworm's ffmpeg: another ffmpeg release may legitimately change them.
 */
const BITEXACT_FRAMES: [string, string, string][] = [
  // H.264 (conversion only)
  ['tranvanluyt-replay-headturn/videos/real.mp4', '368x656', '1b0b17cf9c2dca7b17f5bf3c7b034694f37a6f88658a4ab25e913d9fa477ceb7'],
  // MPEG-1 and H.263 (inverse DCT): before `-idct simple` arm64 differed on 3917 and 136 bytes of 12 frames
  ['lipnet-grid/evaluation/samples/GRID/lbax4n.mpg', '360x288', '6a70cd58604a3930406c4d9be926f177f4b6a421293054e708bb255aa1e5830b'],
  [
    'trainingdata-antispoof-real/samples/0001e96803--6221e1a899d6fe4e24ba05ec/live_video.3gp',
    '144x176',
    '385a36c9645892a10a55211be081b74b5ad3bdf5109ed226fae9088558c24087',
  ],
];

for (const [rel, size, sha256] of BITEXACT_FRAMES) {
  t.test(`decoded RGB of ${rel} is the bytes arm64 decodes too`, { skip: absent(rel) }, async (t) => {
    const hash = createHash('sha256');
    let n = 0;
    let got = '';
    for await (const f of readVideoFrames(join(DATA, rel))) {
      hash.update(f.image.data);
      got = `${f.image.width}x${f.image.height}`;
      if (++n === 12) break;
    }
    t.equal(got, size);
    t.equal(hash.digest('hex'), sha256);
  });
}
