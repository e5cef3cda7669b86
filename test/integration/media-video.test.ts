import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import sharp from 'sharp';
import t from 'tap';
import { isKioskError, type KioskError } from '../../base/errors.js';
import { openMediaFile } from '../../device/media/media-file.js';
import { FrameSplitter } from '../../device/media/frame-splitter.js';
import { parseProbe, probeVideo, readVideoFrames, type MediaTools, type VideoFrame } from '../../device/media/video.js';
import { rejectsWithCode } from '../helpers/errors.js';

const DATA = new URL('../../../shared/data/', import.meta.url).pathname;
/** Skip reason when a file of the shared data set is missing (a fresh clone elsewhere), else false. */
const absent = (rel: string) => (existsSync(join(DATA, rel)) ? false : `shared data absent: ${join(DATA, rel)} (see ../shared/data/README.md)`);
const dir = t.testdir();
const f = (name: string) => join(dir, name);

function ffmpeg(...args: string[]): void {
  execFileSync('ffmpeg', ['-nostdin', '-hide_banner', '-v', 'error', '-y', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Copies the first `fraction` of a file: a download or recording cut short. */
async function cut(src: string, dst: string, fraction: number): Promise<void> {
  const bytes = await readFile(src);
  await writeFile(dst, bytes.subarray(0, Math.floor(bytes.length * fraction)));
}

/** MediaTools whose spawned processes are recorded, to prove that none is left running. */
function tracked(): { tools: MediaTools; children: ChildProcess[] } {
  const children: ChildProcess[] = [];
  return {
    children,
    tools: {
      spawn: (cmd, args, opts) => {
        const c = spawn(cmd, args, opts);
        children.push(c);
        return c;
      },
    },
  };
}

const exited = (c: ChildProcess) => c.exitCode !== null || c.signalCode !== null;
/** The ffmpeg processes among the tracked ones (ffprobe runs first, through the same spawner). */
const decoders = (children: ChildProcess[]) => children.filter((c) => c.spawnfile.endsWith('ffmpeg'));

async function collect(it: AsyncIterable<VideoFrame>): Promise<{ frames: VideoFrame[]; error?: KioskError }> {
  const frames: VideoFrame[] = [];
  try {
    for await (const fr of it) frames.push(fr);
    return { frames };
  } catch (err) {
    return { frames, error: err as KioskError };
  }
}

t.before(async () => {
  const testsrc = (size: string, rate: number, secs: number) => ['-f', 'lavfi', '-i', `testsrc=size=${size}:rate=${rate}`, '-t', String(secs)];
  // 50x30: frames of 4500 bytes, which never line up with 64 KiB pipe chunks.
  ffmpeg(...testsrc('50x30', 10, 3), '-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-movflags', '+faststart', f('clip.mp4'));
  ffmpeg(...testsrc('50x30', 10, 3), '-pix_fmt', 'yuv420p', '-c:v', 'libx264', f('clip-moov-at-end.mp4'));
  ffmpeg(...testsrc('64x48', 30, 30), '-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-preset', 'ultrafast', f('long.mp4'));
  // Lossless RGB, so pixels can be checked exactly.
  ffmpeg('-f', 'lavfi', '-i', 'color=c=red:size=32x24:rate=5,format=bgr0', '-t', '1', '-pix_fmt', 'bgr0', '-c:v', 'ffv1', f('red.mkv'));
  ffmpeg(...testsrc('40x30', 10, 1), f('anim.gif'));
  await cut(f('clip.mp4'), f('cut-fast.mp4'), 0.6);
  await cut(f('clip-moov-at-end.mp4'), f('cut-end.mp4'), 0.6);
  await writeFile(f('notes.txt'), 'not a video\n');
  await writeFile(f('notes.mp4'), 'not a video either\n');
  await writeFile(f('empty.mp4'), '');
});

t.test('FrameSplitter reassembles frames from chunks of any size', async (t) => {
  const frameBytes = 4500;
  const stream = new Uint8Array(frameBytes * 7 + 1234);
  for (let i = 0; i < stream.length; i++) stream[i] = (i * 31 + (i >> 8)) & 0xff;
  for (const sizes of [[1], [4499], [4500], [4501], [65536], [3, 9000, 17, 13000, 1]]) {
    const sp = new FrameSplitter(frameBytes);
    const frames: Uint8Array[] = [];
    for (let off = 0, k = 0; off < stream.length; k++) {
      const n = sizes[k % sizes.length];
      frames.push(...sp.push(stream.subarray(off, off + n)));
      off += n;
    }
    t.equal(frames.length, 7, `chunks of ${sizes.join('/')}: 7 whole frames`);
    t.equal(sp.pendingBytes, 1234, 'the partial frame is held back');
    t.ok(frames.every((fr, i) => fr.length === frameBytes && fr[0] === stream[i * frameBytes] && fr[frameBytes - 1] === stream[(i + 1) * frameBytes - 1]));
  }
  const sp = new FrameSplitter(3);
  const chunk = new Uint8Array([1, 2, 3, 4, 5, 6]);
  const [a] = sp.push(chunk);
  chunk[0] = 99;
  t.equal(a[0], 1, 'a frame is a copy, not a view of the pipe chunk');
  t.throws(() => new FrameSplitter(0), RangeError);
});

t.test('parseProbe reads size, rate, count and rotation', async (t) => {
  const info = parseProbe(
    JSON.stringify({
      streams: [
        {
          codec_type: 'video',
          codec_name: 'h264',
          width: 1280,
          height: 720,
          avg_frame_rate: '30000/1001',
          nb_frames: '300',
          side_data_list: [{ rotation: -90 }],
        },
      ],
      format: { format_name: 'mov,mp4', duration: '10.01' },
    }),
    'phone.mp4',
  );
  t.same([info.width, info.height, info.rotation], [720, 1280, -90], 'a quarter turn swaps the display size');
  t.ok(Math.abs(info.fps - 29.97) < 0.01);
  t.same([info.frameCount, info.durationMs], [300, 10010]);
  const noRate = parseProbe(JSON.stringify({ streams: [{ width: 10, height: 8, avg_frame_rate: '0/0', r_frame_rate: '0/0' }] }), 'x');
  t.same([noRate.fps, noRate.frameCount, noRate.rotation], [30, undefined, 0]);
  t.throws(() => parseProbe('{"streams":[]}', 'audio.m4a'), { code: 'E_FORMAT_UNSUPPORTED' });
  t.throws(() => parseProbe('not json', 'x'), { code: 'E_VIDEO_DECODE' });
});

t.test('probeVideo reports width, height, fps, frame count and duration', async (t) => {
  const info = await probeVideo(f('clip.mp4'));
  t.same([info.width, info.height, info.fps, info.frameCount, info.codec], [50, 30, 10, 30, 'h264']);
  t.ok(info.durationMs !== undefined && Math.abs(info.durationMs - 3000) < 1, `duration ${info.durationMs} ms`);
});

t.test('readVideoFrames yields every frame, split exactly by W*H*3, with times', async (t) => {
  const { tools, children } = tracked();
  const { frames, error } = await collect(readVideoFrames(f('clip.mp4'), { tools }));
  t.equal(error, undefined);
  t.equal(frames.length, 30);
  t.same(
    frames.map((fr) => fr.index),
    [...Array(30).keys()],
  );
  t.same([frames[0].timeMs, frames[10].timeMs], [0, 1000]);
  t.ok(frames.every((fr) => fr.image.width === 50 && fr.image.height === 30 && fr.image.data.length === 4500));
  t.not(frames[0].image.data, frames[1].image.data, 'each frame owns its buffer');
  t.equal(decoders(children).length, 1);
  t.ok(children.every(exited), 'ffprobe and ffmpeg have exited');
  // The same bytes on the kiosk's arm64 as here (device/media/rgb-filter.ts; the bytes are checked in media-shared-data).
  const args = decoders(children)[0].spawnargs;
  t.ok(
    args.indexOf('-idct') >= 0 && args[args.indexOf('-idct') + 1] === 'simple' && args.indexOf('-idct') < args.indexOf('-i'),
    'reference inverse DCT, as a decoder option',
  );
  t.equal(args[args.indexOf('-sws_flags') + 1], 'accurate_rnd+full_chroma_int+bitexact');
  t.match(args[args.indexOf('-vf') + 1], /^scale=50:30:flags=area\+accurate_rnd\+full_chroma_int\+bitexact,format=gbrp$/, 'converted through planar GBR');
});

t.test('pixels come through as R,G,B', async (t) => {
  const { frames } = await collect(readVideoFrames(f('red.mkv')));
  t.equal(frames.length, 5);
  t.same([...frames[0].image.data.subarray(0, 6)], [255, 0, 0, 255, 0, 0]);
});

t.test('fps resamples and maxWidth downscales', async (t) => {
  const { frames, error } = await collect(readVideoFrames(f('clip.mp4'), { fps: 5, maxWidth: 25 }));
  t.equal(error, undefined);
  t.equal(frames.length, 15);
  t.same([frames[1].timeMs, frames[14].timeMs], [200, 2800]);
  t.same([frames[0].image.width, frames[0].image.height, frames[0].image.data.length], [25, 15, 25 * 15 * 3]);
});

t.test('break kills ffmpeg and waits for it', async (t) => {
  const { tools, children } = tracked();
  let n = 0;
  for await (const fr of readVideoFrames(f('long.mp4'), { tools })) {
    t.equal(fr.index, n);
    if (++n === 3) break;
  }
  const [ff] = decoders(children);
  t.ok(ff, 'ffmpeg was started');
  t.ok(exited(ff), `ffmpeg exited (signal ${ff.signalCode}, code ${ff.exitCode})`);
});

t.test('a slow consumer pauses ffmpeg instead of buffering the video', async (t) => {
  const { tools, children } = tracked();
  const it = readVideoFrames(f('long.mp4'), { tools });
  await it.next();
  const [child] = decoders(children);
  // Not a timing assertion: unthrottled, ffmpeg would write all 900 frames (8 MB) and exit well
  // within this pause; throttled it stays blocked on a full pipe however long we wait.
  await sleep(500);
  t.notOk(exited(child), 'ffmpeg is blocked on the pipe, not finished');
  const buffered = child.stdout!.readableLength;
  t.ok(buffered <= child.stdout!.readableHighWaterMark + 64 * 1024, `at most a pipe buffer is held in memory (${buffered} bytes)`);
  await it.return();
  t.ok(exited(child), 'return() reaped ffmpeg');
});

t.test('abort stops decoding with E_ABORTED and kills ffmpeg', async (t) => {
  const { tools, children } = tracked();
  const ac = new AbortController();
  const frames: VideoFrame[] = [];
  await rejectsWithCode(
    t,
    (async () => {
      for await (const fr of readVideoFrames(f('long.mp4'), { tools, signal: ac.signal })) {
        frames.push(fr);
        if (frames.length === 3) ac.abort();
      }
    })(),
    'E_ABORTED',
    'long.mp4',
  );
  t.equal(frames.length, 3);
  t.ok(children.every(exited));

  const pre = tracked();
  await rejectsWithCode(
    t,
    collect(readVideoFrames(f('long.mp4'), { tools: pre.tools, signal: AbortSignal.abort() })).then((r) => {
      if (r.error) throw r.error;
    }),
    'E_ABORTED',
  );
  t.equal(pre.children.length, 0, 'an aborted signal spawns nothing');
});

t.test('a truncated mp4 (index first) yields what decodes, then E_VIDEO_DECODE with the count', async (t) => {
  const { tools, children } = tracked();
  const { frames, error } = await collect(readVideoFrames(f('cut-fast.mp4'), { tools }));
  t.ok(frames.length > 0 && frames.length < 30, `${frames.length} frames before the cut`);
  t.ok(isKioskError(error, 'E_VIDEO_DECODE'), `E_VIDEO_DECODE (got ${error?.code})`);
  t.match(error?.message, new RegExp(`truncated or corrupt: decoded ${frames.length} of 30 frames.*cut-fast\\.mp4`));
  t.same(error?.details, { framesRead: frames.length, expectedFrames: 30 });
  t.ok(children.every(exited));
});

t.test('a truncated mp4 (index last, lost) is E_VIDEO_DECODE before any frame', async (t) => {
  await rejectsWithCode(t, probeVideo(f('cut-end.mp4')), 'E_VIDEO_DECODE', /moov atom not found.*cut-end\.mp4/);
  const { frames, error } = await collect(readVideoFrames(f('cut-end.mp4')));
  t.equal(frames.length, 0);
  t.ok(isKioskError(error, 'E_VIDEO_DECODE'));
});

t.test('a real phone video cut short is E_VIDEO_DECODE', { skip: absent('tranvanluyt-replay-headturn/videos/real.mp4') }, async (t) => {
  const real = join(DATA, 'tranvanluyt-replay-headturn/videos/real.mp4');
  await cut(real, f('real-cut.mp4'), 0.3);
  const { tools, children } = tracked();
  const { frames, error } = await collect(readVideoFrames(f('real-cut.mp4'), { tools, maxWidth: 64 }));
  t.ok(isKioskError(error, 'E_VIDEO_DECODE'), `E_VIDEO_DECODE after ${frames.length} frames: ${error?.message}`);
  t.ok(frames.length < 621);
  t.ok(children.every(exited));
});

t.test('bad inputs: missing, empty, not a video', async (t) => {
  await rejectsWithCode(t, probeVideo(f('missing.mp4')), 'E_INPUT_NOT_FOUND', 'missing.mp4');
  await rejectsWithCode(t, probeVideo(f('empty.mp4')), 'E_INPUT_EMPTY', 'empty.mp4');
  await rejectsWithCode(t, probeVideo(f('notes.txt')), 'E_FORMAT_UNSUPPORTED', /not an image or a video.*notes\.txt/);
  await rejectsWithCode(t, probeVideo(f('notes.mp4')), 'E_VIDEO_DECODE', 'notes.mp4');
  await rejectsWithCode(t, probeVideo(dir), 'E_INPUT_UNREADABLE', /directory/);
});

t.test('a missing ffprobe or ffmpeg is E_DECODER_MISSING', async (t) => {
  await rejectsWithCode(t, probeVideo(f('clip.mp4'), { ffprobePath: '/nonexistent/ffprobe' }), 'E_DECODER_MISSING', /ffprobe not found/);
  const info = await probeVideo(f('clip.mp4'));
  const { error } = await collect(readVideoFrames(f('clip.mp4'), { info, tools: { ffmpegPath: '/nonexistent/ffmpeg' } }));
  t.ok(isKioskError(error, 'E_DECODER_MISSING'), `got ${error?.code}`);
  t.match(error?.message, /ffmpeg not found.*install/);
});

t.test('openMediaFile dispatches on content: image, video, animated GIF, directory', async (t) => {
  const d = t.testdir({ seq: {}, none: { 'readme.txt': 'x' } });
  for (const [name, colour] of [
    ['frame10.png', 'blue'],
    ['frame2.png', 'green'],
    ['frame1.png', 'red'],
  ] as const) {
    await sharp({ create: { width: 6, height: 4, channels: 3, background: colour } })
      .png()
      .toFile(join(d, 'seq', name));
  }
  await writeFile(join(d, 'seq', 'notes.txt'), 'ignored');

  const img = await openMediaFile(join(d, 'seq', 'frame1.png'));
  t.equal(img.kind, 'image');
  const one = await collect(img.frames());
  t.same([one.frames.length, one.frames[0].image.width, one.frames[0].timeMs], [1, 6, 0]);

  const vid = await openMediaFile(f('clip.mp4'));
  t.same([vid.kind, vid.frameCount, vid.video?.fps], ['video', 30, 10]);
  t.equal((await collect(vid.frames({ maxWidth: 10 }))).frames.length, 30);

  const gif = await openMediaFile(f('anim.gif'));
  t.equal(gif.kind, 'video', 'GIF goes to ffmpeg');
  t.equal((await collect(gif.frames())).frames.length, 10);

  const seq = await openMediaFile(join(d, 'seq'));
  t.equal(seq.kind, 'sequence');
  t.same(
    seq.files.map((p) => p.slice(p.lastIndexOf('/') + 1)),
    ['frame1.png', 'frame2.png', 'frame10.png'],
    'natural order, non-images left out',
  );
  const s = await collect(seq.frames({ fps: 10 }));
  t.same(
    s.frames.map((fr) => [fr.index, fr.timeMs, fr.image.data[0], fr.image.data[1]]),
    [
      [0, 0, 255, 0],
      [1, 100, 0, 128],
      [2, 200, 0, 0],
    ],
  );
  t.same(
    (await collect(seq.frames())).frames.map((fr) => Math.round(fr.timeMs)),
    [0, 33, 67],
    'default 30 fps',
  );

  await rejectsWithCode(t, openMediaFile(join(d, 'none')), 'E_INPUT_EMPTY', /no image files/);
  await rejectsWithCode(t, openMediaFile(f('notes.txt')), 'E_FORMAT_UNSUPPORTED');
  await rejectsWithCode(t, openMediaFile(join(d, 'missing.png')), 'E_INPUT_NOT_FOUND');
  await writeFile(join(d, 'bad.jpg'), 'garbage, not a JPEG at all');
  const bad = await openMediaFile(join(d, 'bad.jpg'));
  t.equal(bad.kind, 'image', 'a corrupt .jpg stays an image, so its error says so');
  const r = await collect(bad.frames());
  t.ok(isKioskError(r.error, 'E_IMAGE_CORRUPT'));
});

t.test('a video without faces decodes like any other (face-free testsrc)', async (t) => {
  const src = await openMediaFile(f('clip.mp4'));
  const { frames, error } = await collect(src.frames());
  t.equal(error, undefined);
  t.equal(frames.length, 30, 'no face is not a decoding problem; the analyze command reports it');
});

t.test('real dev video: probe and first frames', { skip: absent('blink-detector-video/video.mp4') }, async (t) => {
  const file = join(DATA, 'blink-detector-video/video.mp4');
  const info = await probeVideo(file);
  t.same([info.width, info.height, info.frameCount], [480, 854, 334]);
  t.ok(Math.abs(info.fps - 23.86) < 0.05, `fps ${info.fps}`);
  const { tools, children } = tracked();
  const got: VideoFrame[] = [];
  for await (const fr of readVideoFrames(file, { tools, maxWidth: 120, info })) if (got.push(fr) === 5) break;
  t.same(
    got.map((fr) => [fr.image.width, fr.image.height]),
    Array(5).fill([120, 214]),
  );
  t.ok(children.every(exited));
});
