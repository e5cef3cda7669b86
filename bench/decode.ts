// `npm run bench:decode`: what the bit-exact decode (device/media/rgb-filter.ts: `-idct simple` and swscale's
// bit-exact planar conversion) costs the camera path, against ffmpeg's default fast path on the same input in
// the same run. The input stands in for a USB camera: the head-turn video re-encoded as MJPEG at the capture
// size, fed to the kiosk's own V4L2 command (device/camera/commands.ts) through its `inputOverride`. The peer
// is the same command with the bit-exact arguments taken out (ffmpeg's SIMD inverse DCT, the fast YUV->RGB
// converter). ffmpeg's own `-benchmark` gives its CPU time (user + system, all its threads); passes alternate
// between the two so that load from other tenants falls on both. Medians per frame and their ratio; no
// assertion. Needs ../shared/data.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { v4l2Command } from '../device/camera/commands.js';
import { BITEXACT_DECODE_ARGS } from '../device/media/rgb-filter.js';
import { fmt, median } from './stats.js';

const root = resolve(fileURLToPath(import.meta.url), '../..');
const data = process.env.KIOSK_TEST_DATA ?? resolve(root, '../shared/data');
const video = join(data, 'tranvanluyt-replay-headturn/videos/real.mp4');
if (!existsSync(video)) {
  console.error(`bench:decode: ${video} is absent; the benchmark needs ../shared/data`);
  process.exit(2);
}
const PASSES = Number(process.env.BENCH_PASSES ?? 7);
const FRAMES = Number(process.env.BENCH_FRAMES ?? 100);
const SIZES = [
  [640, 480],
  [1280, 720],
] as const;

/**
 * The kiosk's command with parts of the bit-exact arguments taken out: `idct` false drops `-idct simple`
 * (ffmpeg's SIMD inverse DCT), `sws` false the bit-exact conversion (the fast YUV->RGB converter).
 */
function variant(args: string[], width: number, height: number, keep: { idct: boolean; sws: boolean }): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (!keep.idct && args[i] === BITEXACT_DECODE_ARGS[0] && args[i + 1] === BITEXACT_DECODE_ARGS[1]) i++;
    else if (!keep.sws && args[i] === '-sws_flags') i++;
    else if (!keep.sws && args[i] === '-vf') {
      out.push('-vf', `scale=${width}:${height}:flags=area`);
      i++;
    } else out.push(args[i]);
  }
  return out;
}

/** Runs ffmpeg with `-benchmark` (stdout to /dev/null) and returns its CPU and wall time per frame in ms. */
function run(args: string[], frames: number): Promise<{ cpu: number; wall: number }> {
  const withBench = args.map((a, i) => (args[i - 1] === '-loglevel' ? 'info' : a));
  withBench.splice(withBench.indexOf('-nostdin') + 1, 0, '-benchmark');
  return new Promise((ok, fail) => {
    const child = spawn('ffmpeg', withBench, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
    });
    child.on('error', fail);
    child.on('exit', (code) => {
      const m = /bench: utime=([\d.]+)s stime=([\d.]+)s rtime=([\d.]+)s/.exec(err);
      const n = /frame=\s*(\d+)[^\n\r]*Lsize/.exec(err);
      if (code !== 0 || !m || !n) return fail(new Error(`ffmpeg exited ${code}: ${err.slice(-400)}`));
      // The camera command's low-delay flags leave the file's last frame undecoded at end of input: count what came out.
      const written = Number(n[1]);
      if (written < frames - 1) return fail(new Error(`ffmpeg wrote ${written} frames of ${frames}`));
      ok({ cpu: ((Number(m[1]) + Number(m[2])) * 1000) / written, wall: (Number(m[3]) * 1000) / written });
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'kiosk-bench-decode-'));
try {
  const rows: string[] = [];
  for (const [width, height] of SIZES) {
    const mjpeg = join(dir, `camera-${width}x${height}.mjpeg`);
    // A USB camera's MJPEG: yuvj422p at quality 5 (what UVC cameras send is 4:2:2).
    execFileSync('ffmpeg', [
      '-v',
      'error',
      '-nostdin',
      '-i',
      video,
      '-vf',
      `scale=${width}:${height},format=yuvj422p`,
      '-c:v',
      'mjpeg',
      '-q:v',
      '5',
      '-frames:v',
      String(FRAMES),
      '-f',
      'mjpeg',
      mjpeg,
    ]);
    const frames = Number(
      execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', mjpeg], {
        encoding: 'utf8',
      }).trim(),
    );
    const shipped = v4l2Command({ device: '/dev/video0', inputFormat: 'mjpeg', width, height, fps: 30, inputOverride: ['-f', 'mjpeg', '-i', mjpeg] }).args;
    const variants = {
      shipped,
      idctOnly: variant(shipped, width, height, { idct: true, sws: false }),
      fast: variant(shipped, width, height, { idct: false, sws: false }),
    };
    const cpu = { shipped: [] as number[], idctOnly: [] as number[], fast: [] as number[] };
    const wall = { shipped: [] as number[], idctOnly: [] as number[], fast: [] as number[] };
    for (let pass = -1; pass < PASSES; pass++) {
      for (const k of ['shipped', 'idctOnly', 'fast'] as const) {
        const r = await run(variants[k], frames);
        if (pass < 0) continue; // warm-up: page cache, ffmpeg's libraries
        cpu[k].push(r.cpu);
        wall[k].push(r.wall);
      }
    }
    for (const [what, xs] of [
      ['ffmpeg CPU', cpu],
      ['wall', wall],
    ] as const) {
      const [a, b, c] = [median(xs.shipped), median(xs.idctOnly), median(xs.fast)];
      rows.push(`| ${width}x${height} MJPEG -> RGB, ${what} | ${fmt(a, 2)} | ${fmt(b, 2)} | ${fmt(c, 2)} | ${fmt(a / c, 2)} | ${fmt(b / c, 2)} |`);
    }
  }
  const version = execFileSync('ffmpeg', ['-version'], { encoding: 'utf8' }).split('\n')[0];
  console.log(
    `\nkiosk-agent bench:decode: ${FRAMES} frames x ${PASSES} passes per size; ${version}; load average at the end ${loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}\n`,
  );
  console.log('| per frame | shipped (bit-exact) median ms | -idct simple only | ffmpeg default | ratio shipped/default | ratio idct-only/default |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) console.log(r);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
