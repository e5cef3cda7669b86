/** `analyze` of a real video (ffmpeg decodes it): every frame printed, then the file's error. */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { run } from '../helpers/analyze.js';

t.test('a video without faces: every frame printed, then E_NO_FACE for the file', async (t) => {
  const file = join(t.testdir(), 'testsrc.mp4');
  execFileSync('ffmpeg', [
    '-nostdin',
    '-v',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    'testsrc=size=48x32:rate=10',
    '-t',
    '1',
    '-pix_fmt',
    'yuv420p',
    '-preset',
    'ultrafast',
    file,
  ]);
  const { code, out } = await run([file], { json: true });
  const lines = out.lines();
  t.equal(code, 2);
  t.same(
    lines.slice(0, 10).map((l) => [l.frame, l.time_ms, l.faces.length]),
    [...Array(10).keys()].map((i) => [i, i * 100, 0]),
  );
  t.same(lines[10], { file, frames_read: 10, error: { code: 'E_NO_FACE', message: `no face found in any of 10 frames (${file})` } });
  t.equal(lines[11].summary.frames, 10);

  const limited = await run([file], { json: true, maxFrames: 4 });
  t.equal(limited.out.lines().filter((l) => l.frame !== undefined).length, 4, '--max-frames stops the video early');
});
