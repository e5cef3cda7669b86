/** The decoders on the real photos of ../shared/data (skipped with a message when it is absent). */
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { decodeImageFile } from '../../device/media/image.js';
import { listMediaFiles } from '../../device/media/media-file.js';

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
