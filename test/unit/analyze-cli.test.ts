import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Command } from 'commander';
import sharp from 'sharp';
import t from 'tap';
import { register, runAnalyze } from '../../agent/cli/analyze.js';
import { FakeEngine, png, run, Sink } from '../helpers/analyze.js';
import { KioskError } from '../../base/errors.js';
import type { MediaFile } from '../../device/media/media-file.js';
import type { VideoFrame } from '../../device/media/video.js';
import type { FaceEngine } from '../../models/engine.js';

t.test('--json: one snake_case line per frame and a summary; exit 0', async (t) => {
  const file = await png(join(t.testdir(), 'red.png'), 'red');
  const { code, out, err, engine } = await run([file], { json: true });
  t.equal(code, 0);
  t.equal(err.text, '', 'nothing on stderr');
  t.same(engine.calls, ['start', 'stop'], 'engine started and stopped once');
  const [frame, summary, ...rest] = out.lines();
  t.same(rest, []);
  t.same(frame, {
    file,
    frame: 0,
    time_ms: 0,
    width: 8,
    height: 6,
    faces: [
      {
        box: { x: 10, y: 20.1, width: 30.1, height: 40 },
        score: 0.9877,
        yaw: 12.3,
        pitch: -3.2,
        roll: 0,
        eye_openness: { right: 0.312, left: 0.299, open_probability: 0.9 },
        quality: { inter_eye_px: 61.3, face_width_px: 130, sharpness: 812.3, brightness: 121.6, contrast: 40 },
      },
    ],
    timings_ms: { detect: 1.23 },
  });
  t.same(summary, { summary: { files: 1, files_ok: 1, files_failed: 0, frames: 1, frames_with_faces: 1, faces: 1, files_skipped: 0, exit_code: 0 } });
});

t.test('a batch goes on past every kind of bad file; exit 2', async (t) => {
  const dir = t.testdir({ batch: {}, 'notes.txt': 'not an image\n' });
  const b = (n: string) => join(dir, 'batch', n);
  await png(b('a-good.png'), 'red');
  await writeFile(b('b-empty.jpg'), '');
  const jpeg = await sharp(Buffer.alloc(64 * 64 * 3, 77), { raw: { width: 64, height: 64, channels: 3 } })
    .jpeg()
    .toBuffer();
  await writeFile(b('c-truncated.jpg'), jpeg.subarray(0, jpeg.length - 200));
  await writeFile(b('d-random.jpg'), Buffer.from('this is not a jpeg, only bytes'.repeat(10)));
  await png(b('e-no-face.png'), 'blue');
  await png(b('f-huge.png'), 'red', 100, 100); // over the pixel limit below (a real bomb is in media-image.test.ts)
  await writeFile(b('readme.md'), 'skipped: not media');
  await png(b('z-good.png'), 'red');
  const missing = join(dir, 'missing.png');

  const { code, out, engine } = await run([join(dir, 'batch'), join(dir, 'notes.txt'), missing], { json: true, maxPixels: 5000 });
  t.equal(code, 2);
  t.same(engine.calls, ['start', 'stop']);
  const lines = out.lines();
  const byFile = new Map(lines.filter((l) => l.file).map((l) => [l.file.slice(dir.length + 1), l]));
  const codeOf = (n: string) => byFile.get(n)?.error?.code;
  t.equal(byFile.get('batch/a-good.png')?.faces.length, 1);
  t.equal(codeOf('batch/b-empty.jpg'), 'E_INPUT_EMPTY');
  t.equal(codeOf('batch/c-truncated.jpg'), 'E_IMAGE_CORRUPT');
  t.equal(codeOf('batch/d-random.jpg'), 'E_IMAGE_CORRUPT');
  t.equal(codeOf('batch/e-no-face.png'), 'E_NO_FACE');
  t.equal(codeOf('batch/f-huge.png'), 'E_IMAGE_TOO_LARGE');
  t.equal(byFile.get('batch/z-good.png')?.faces.length, 1, 'the file after the bad ones is analysed');
  t.equal(codeOf('notes.txt'), 'E_FORMAT_UNSUPPORTED');
  t.equal(codeOf('missing.png'), 'E_INPUT_NOT_FOUND');
  t.notOk(byFile.has('batch/readme.md'), 'non-media files in a directory are skipped');
  for (const l of lines.filter((l) => l.error)) {
    t.match(l.error.message, l.file.slice(l.file.lastIndexOf('/') + 1), `${l.error.code} message names ${l.file}`);
    t.same(Object.keys(l.error), ['code', 'message']);
  }
  t.equal(engine.analysed, 3, 'bad files never reach the engine');
  t.same(lines.at(-1), { summary: { files: 9, files_ok: 2, files_failed: 7, frames: 3, frames_with_faces: 2, faces: 2, files_skipped: 1, exit_code: 2 } });
});

/** A source that yields `n` red frames and then fails, like a video cut short. */
function truncatedSource(path: string, n: number): MediaFile {
  return {
    kind: 'video',
    path,
    files: [path],
    frameCount: 10,
    async *frames(): AsyncGenerator<VideoFrame, void, undefined> {
      for (let i = 0; i < n; i++) yield { index: i, timeMs: i * 40, image: { width: 2, height: 1, data: new Uint8Array([255, 0, 0, 255, 0, 0]) } };
      throw new KioskError('E_VIDEO_DECODE', `video is truncated or corrupt: decoded ${n} of 10 frames`, { subject: path, details: { framesRead: n } });
    },
  };
}

t.test('a truncated video keeps the frames it had, then an error line with frames_read', async (t) => {
  const dir = t.testdir({ 'cut.mp4': 'stands in for a video cut short' });
  const { code, out } = await run([join(dir, 'cut.mp4')], { json: true }, new FakeEngine(), { openSource: async (p) => truncatedSource(p, 2) });
  const lines = out.lines();
  t.equal(code, 2);
  t.same(
    lines.map((l) => l.frame ?? l.error?.code ?? 'summary'),
    [0, 1, 'E_VIDEO_DECODE', 'summary'],
  );
  t.equal(lines[2].frames_read, 2);
  t.equal(lines[3].summary.frames_with_faces, 2);
});

t.test("an engine failure on one file is that file's error; the batch goes on", async (t) => {
  const dir = t.testdir();
  const a = await png(join(dir, 'a.png'), 'red', 5, 5);
  const b = await png(join(dir, 'b.png'), 'red', 8, 6);
  const engine = new FakeEngine({ failOn: (img) => img.width === 5 });
  const { code, out } = await run([a, b], { json: true }, engine);
  t.equal(code, 2);
  t.same(
    out.lines().map((l) => l.error?.code ?? l.faces?.length ?? 'summary'),
    ['E_INTERNAL', 1, 'summary'],
  );
});

t.test('an engine that does not start: exit 2, its error, nothing analysed', async (t) => {
  const file = await png(join(t.testdir(), 'red.png'), 'red');
  const engine = new FakeEngine({ failStart: true });
  const json = await run([file], { json: true }, engine);
  t.equal(json.code, 2);
  t.same(json.out.lines(), [{ error: { code: 'E_MODEL_INTEGRITY', message: 'sha256 mismatch (fr_detect.onnx)' } }]);
  t.equal(engine.analysed, 0);
  const text = await run([file], {}, new FakeEngine({ failStart: true }));
  t.match(text.err.text, /^error E_MODEL_INTEGRITY: face engine did not start: sha256 mismatch/);
});

t.test('table output: header, a row per face, "-" without one, errors on stderr, summary', async (t) => {
  const dir = t.testdir({ 'empty.png': '' });
  const red = await png(join(dir, 'red.png'), 'red');
  const blue = await png(join(dir, 'blue.png'), 'blue');
  const { code, out, err } = await run([red, blue, join(dir, 'empty.png')], {});
  t.equal(code, 2);
  const rows = out.text.split('\n');
  t.match(rows[0], /^file\s+frame\s+time_ms\s+face\s+score\s+box x,y wxh\s+yaw\s+pitch\s+roll\s+eye_r\s+eye_l\s+iod_px\s+sharp\s+bright$/);
  t.match(rows[1], /red\.png\s+0\s+0\.0\s+0\s+0\.988\s+10,20 30x40\s+12\.3\s+-3\.2\s+0\.0\s+0\.312\s+0\.299\s+61\.3\s+812\.3\s+122$/);
  t.match(rows[2], /blue\.png\s+0\s+0\.0\s+-$/);
  t.match(out.text, /3 files: 1 ok, 2 failed; 2 frames, 1 with a face, 1 faces/);
  t.match(err.text, /error E_NO_FACE: no face found in the image \(.*blue\.png\)/);
  t.match(err.text, /error E_INPUT_EMPTY: .*empty\.png/);
  t.notMatch(err.text, /\r/, 'no progress bar when stderr is not a terminal');
});

t.test('progress bar on stderr only when it is a TTY, cleared before other output', async (t) => {
  const file = await png(join(t.testdir(), 'red.png'), 'red');
  const tty = await run([file], {}, new FakeEngine(), { tty: true });
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the progress bar is drawn with an ANSI escape
  t.match(tty.err.text, /\r\x1b\[K\[#+\] 1\/1 files, frame 1 red\.png/);
  t.ok(tty.err.text.endsWith('\r\x1b[K'), 'the bar is cleared at the end');
  const json = await run([file], { json: true }, new FakeEngine(), { tty: true });
  t.equal(json.err.text, '', 'no bar with --json');
});

t.test('a reader that goes away (EPIPE, `| head -1`) stops the run quietly', async (t) => {
  const dir = t.testdir();
  const files = await Promise.all(['a', 'b', 'c'].map((n) => png(join(dir, `${n}.png`), 'red')));
  class ClosingSink extends Sink {
    override _write(chunk: Buffer, enc: BufferEncoding, cb: (e?: Error) => void): void {
      super._write(chunk, enc, () => {});
      cb(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    }
  }
  const out = new ClosingSink();
  const engine = new FakeEngine();
  const code = await runAnalyze(files, { json: true }, { engine, out, err: new Sink() });
  t.equal(code, 0);
  t.equal(out.lines().length, 1, 'only the line the reader took');
  t.ok(engine.analysed < 3, `stopped early (${engine.analysed} analysed)`);
  t.same(engine.calls, ['start', 'stop']);
  t.equal(out.listenerCount('error'), 0, 'no listener left behind');
});

t.test('register: help text, option parsing, the action wired to the loader', async (t) => {
  const make = (engine: FaceEngine, out = new Sink(), err = new Sink()) => {
    const program = new Command('kiosk-agent').exitOverride();
    let helpText = '';
    program.configureOutput({ writeOut: (s) => (helpText += s), writeErr: (s) => (helpText += s) });
    register(program, { loadEngine: async () => engine, out, err });
    return { program, out, err, help: () => helpText };
  };
  const help = make(new FakeEngine()).program.commands[0].helpInformation();
  for (const want of ['<paths...>', '--json', '--max-frames <n>', '--fps <rate>', '--max-width <px>']) t.match(help, want);

  const withHelp = make(new FakeEngine());
  withHelp.program.commands[0].configureOutput({ writeOut: (s) => withHelp.out.write(s) });
  await t.rejects(withHelp.program.parseAsync(['analyze', '--help'], { from: 'user' }));
  t.match(withHelp.out.text, /Exit status: 0 .* 2 any file failed/);
  t.match(withHelp.out.text, /"eye_openness"/);

  const file = await png(join(t.testdir(), 'red.png'), 'red');
  const ok = make(new FakeEngine());
  const saved = process.exitCode;
  try {
    await ok.program.parseAsync(['analyze', file, '--json', '--max-frames', '2'], { from: 'user' });
    t.equal(process.exitCode, 0);
    t.equal(ok.out.lines().at(-1)?.summary.files_ok, 1);

    const bad = make(new FakeEngine());
    bad.program.commands[0].exitOverride().configureOutput({ writeErr: (s) => bad.err.write(s) });
    await t.rejects(bad.program.parseAsync(['analyze', file, '--max-frames', '0'], { from: 'user' }));
    t.match(bad.err.text, /--max-frames must be a positive integer, got "0"/);

    const broken = new Command('kiosk-agent').exitOverride();
    const out = new Sink();
    register(broken, {
      loadEngine: async () => {
        throw new Error('Cannot find module face-engine');
      },
      out,
      err: new Sink(),
    });
    await broken.parseAsync(['analyze', file, '--json'], { from: 'user' });
    t.equal(process.exitCode, 2);
    t.same(out.lines(), [{ error: { code: 'E_MODEL_LOAD', message: 'Cannot find module face-engine' } }]);
  } finally {
    process.exitCode = saved;
  }
});
