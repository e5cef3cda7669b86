/**
 * The pipe source against real child processes: a small Node program stands in for a camera tool and
 * writes frames of known content in chunks of random size (never aligned with frames); the I420
 * conversion is checked against ffmpeg's own RGB output; unplugging is a device node that vanishes.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { CameraIdentity, CameraFrame } from '../../device/camera/frame-source.js';
import { PipeFrameSource } from '../../device/camera/pipe-source.js';
import { i420, rgb24 } from '../../device/camera/pixel-format.js';

const W = 64;
const H = 48;
const FRAME = W * H * 3;
const dir = mkdtempSync(join(tmpdir(), 'camera-pipe-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

// Frame n: byte i = (i * 7 + n) % 256. Written in random chunks of 1..3*FRAME bytes, ~100 frames/s.
const camera = join(dir, 'camera.mjs');
writeFileSync(
  camera,
  `
const [W, H, frames, exitAfter] = process.argv.slice(2).map(Number);
const size = W * H * 3;
let pending = Buffer.alloc(0);
let n = 0;
const tick = () => {
  if (n >= frames) {
    // Flush the tail kept back by the last write, or the last frame never arrives complete.
    const done = () => (exitAfter ? process.exit(3) : undefined);
    if (pending.length === 0) return done();
    const rest = pending;
    pending = Buffer.alloc(0);
    return process.stdout.write(rest, done);
  }
  const f = Buffer.alloc(size);
  for (let i = 0; i < size; i++) f[i] = (i * 7 + n) % 256;
  n++;
  pending = Buffer.concat([pending, f]);
  while (pending.length > 0) {
    const k = Math.min(pending.length, 1 + Math.floor(Math.random() * 3 * size));
    if (k === pending.length && Math.random() < 0.5) break; // keep a tail for the next write
    process.stdout.write(pending.subarray(0, k));
    pending = pending.subarray(k);
  }
  setTimeout(tick, 10);
};
tick();
process.stdin.resume?.();
`,
);

const expected = (n: number) => {
  const d = new Uint8Array(FRAME);
  for (let i = 0; i < FRAME; i++) d[i] = (i * 7 + n) % 256;
  return d;
};
const identity: CameraIdentity = { kind: 'test', device: 'node:camera', virtual: false };

function source(args: string[], extra: Partial<ConstructorParameters<typeof PipeFrameSource>[0]> = {}) {
  return new PipeFrameSource({
    command: { file: process.execPath, args: [camera, String(W), String(H), ...args], layout: rgb24(W, H), width: W, height: H },
    identify: async () => identity,
    bufferFrames: 64, // large enough that nothing is dropped: every frame's content is checked
    restart: { baseMs: 20, capMs: 200 },
    ...extra,
  });
}

t.test('frames are cut exactly from chunks that never align with them', async (t) => {
  const s = source(['60', '0']);
  t.teardown(() => s.stop());
  await s.start();
  const got: CameraFrame[] = [];
  while (got.length < 60) got.push((await s.next(AbortSignal.timeout(5000)))!);
  t.ok(
    got.every((f, i) => f.index === i && Buffer.from(f.image.data).equals(Buffer.from(expected(i)))),
    '60 frames, each byte where it belongs',
  );
  t.equal(s.stats().dropped, 0);
});

t.test('a process that exits is restarted with backoff, with events; frames continue', async (t) => {
  const s = source(['5', '1']); // 5 frames, then exit code 3
  t.teardown(() => s.stop());
  const events: Array<[string, unknown]> = [];
  for (const e of ['started', 'exited', 'restarting'] as const) s.events.on(e, (p: unknown) => events.push([e, p]));
  await s.start();
  for (let i = 0; i < 12; i++) t.ok(await s.next(AbortSignal.timeout(5000)), `frame ${i}`);
  const exited = events.find(([e]) => e === 'exited')![1];
  t.match(exited, { code: 3 });
  const restarting = events.filter(([e]) => e === 'restarting').map(([, p]) => p as { delayMs: number; attempt: number });
  t.equal(restarting[0].delayMs, 20, 'first delay = baseMs; the count resets once frames flow again');
  t.ok(s.stats().restarts >= 2);
});

t.test('unplugged camera: restarts wait for the device node and report unplugged/replugged', async (t) => {
  const node = join(dir, 'video0');
  writeFileSync(node, '');
  const s = source(['3', '1'], { deviceNode: node });
  t.teardown(() => s.stop());
  const seen: string[] = [];
  s.events.on('unplugged', () => seen.push('unplugged'));
  s.events.on('replugged', () => seen.push('replugged'));
  const unplugged = new Promise((r) => s.events.once('unplugged', r));
  await s.start();
  t.ok(await s.next(AbortSignal.timeout(5000)));
  unlinkSync(node);
  await unplugged;
  const before = s.stats().restarts;
  await new Promise((r) => setTimeout(r, 300));
  t.equal(s.stats().restarts, before, 'no process started while the device is gone');
  writeFileSync(node, '');
  const replugged = new Promise((r) => s.events.once('replugged', r));
  await replugged;
  let f: CameraFrame | undefined;
  while (!f || s.stats().restarts === before) f = await s.next(AbortSignal.timeout(5000));
  t.ok(f, 'frames again after replugging');
  t.same(seen.slice(0, 2), ['unplugged', 'replugged']);
});

t.test('a camera swapped for a virtual one while restarting is refused', async (t) => {
  let virtual = false;
  const s = source(['3', '1'], { identify: async () => ({ ...identity, virtual, virtualReason: virtual ? 'v4l2loopback' : undefined }) });
  t.teardown(() => s.stop());
  await s.start();
  t.ok(await s.next(AbortSignal.timeout(5000)));
  virtual = true;
  const failed = await new Promise<{ error: { code: string } }>((r) => s.events.once('failed', r));
  t.equal(failed.error.code, 'E_CAMERA_VIRTUAL');
  t.notOk(s.stats().running, 'not capturing from the virtual camera');
});

t.test('a stalled process (alive, no frames) is killed and restarted', async (t) => {
  const s = source(['2', '0'], { stallMs: 150 }); // two frames, then silent forever
  t.teardown(() => s.stop());
  await s.start();
  const stalled = new Promise((r) => s.events.once('stalled', r));
  await stalled;
  await new Promise((r) => s.events.once('started', r));
  t.ok(s.stats().restarts >= 1, 'restarted after the stall');
});

t.test('a missing tool fails start with a clear error', async (t) => {
  const s = new PipeFrameSource({
    command: { file: '/nonexistent/rpicam-vid', args: [], layout: rgb24(W, H), width: W, height: H },
    identify: async () => identity,
  });
  await t.rejects(s.start(), { code: 'E_CAMERA', message: /rpicam-vid/ });
  await s.stop();
});

t.test("I420 from the pipe matches ffmpeg's own RGB conversion", async (t) => {
  const lavfi = ['-v', 'error', '-f', 'lavfi', '-i', `testsrc=size=${W}x${H}:rate=1`, '-frames:v', '1', '-f', 'rawvideo'];
  const yuv = execFileSync('ffmpeg', [...lavfi, '-pix_fmt', 'yuv420p', '-']);
  const rgbFromYuv = execFileSync(
    'ffmpeg',
    ['-v', 'error', '-f', 'rawvideo', '-pix_fmt', 'yuv420p', '-s', `${W}x${H}`, '-i', '-', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'],
    { input: yuv },
  );
  const ours = i420(W, H).toRgb(new Uint8Array(yuv));
  let maxDiff = 0;
  for (let i = 0; i < FRAME; i++) maxDiff = Math.max(maxDiff, Math.abs(ours.data[i] - rgbFromYuv[i]));
  t.ok(maxDiff <= 6, `max difference ${maxDiff} (rounding and chroma filtering)`);
});
