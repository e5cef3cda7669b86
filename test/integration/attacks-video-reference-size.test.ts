/**
 * Attack: a decompression bomb as the ID portrait reference, written as a video frame
 * (`clip.mp4#frame=0`). An image reference is bounded in pixels by its decoder (DEFAULT_MAX_PIXELS);
 * a video frame now is too: its size is read by ffprobe and an oversized one is refused with
 * E_IMAGE_TOO_LARGE naming the file and its size, before ffmpeg decodes a frame. Real ffmpeg: a one
 * frame, 8192x5120 grey MJPEG in MP4 (42 Mpx; a few hundred KB on disk, 126 MB once decoded to RGB).
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { loadStill } from '../../agent/reference/source.js';
import { DEFAULT_MAX_PIXELS } from '../../device/media/image.js';
import { ownTempDir } from '../helpers/tempdir.js';

const dir = ownTempDir(t, 'attack-video-ref-');
const make = (name: string, size: string) => {
  const path = join(dir, name);
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', `color=c=gray:s=${size}`, '-frames:v', '1', '-c:v', 'mjpeg', '-q:v', '31', path]);
  return path;
};

t.test('an oversized video frame is refused as a reference, like an oversized image', async (t) => {
  const big = make('clip.mp4', '8192x5120');
  t.ok(8192 * 5120 > DEFAULT_MAX_PIXELS, 'the video is over the still limit');
  const err = await loadStill(`${big}#frame=0`).then(
    (img) => ({ decoded: `${img.width}x${img.height}` }),
    (e: unknown) => e,
  );
  t.match(err, { code: 'E_IMAGE_TOO_LARGE', subject: big, details: { width: 8192, height: 5120, maxPixels: DEFAULT_MAX_PIXELS } }, 'refused with a code');
  t.match(String((err as Error).message), /8192x5120/, 'the message names the size');
  t.match(String((err as Error).message), /clip\.mp4/, 'and the file');
});

t.test('a video frame within the bound still loads; the bound can be lowered', async (t) => {
  const small = make('small.mp4', '64x48');
  const img = await loadStill(`${small}#frame=0`);
  t.same([img.width, img.height], [64, 48]);
  await t.rejects(loadStill(`${small}#frame=0`, { maxPixels: 1000 }), { code: 'E_IMAGE_TOO_LARGE', subject: small });
});
