import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeImage } from '../../base/rgb-image.js';
import { FramesWriter, pixelDiff, readClipFrames, readFramesIndex } from '../../scripts/arm64/frames-file.js';
import { compareDumps, compareVerdicts, foldDiff, sessionVerdicts, type DumpFrame, type ParityDump } from '../../scripts/arm64/parity-compare.js';

function frame(index: number, over: Partial<DumpFrame> = {}, shift = 0): DumpFrame {
  return {
    index,
    timeMs: index * 40,
    face: { detection: { box: { x: 1, y: 2, width: 3, height: 4 }, score: 0.9 } } as DumpFrame['face'],
    signals: { yaw: 10 + shift, pitch: -5, roll: 0, eyeOpen: 0.8, attack: 0.1, similarity: 1 },
    models: {
      detect: { box: [1, 2, 3, 4 + shift], score: 0.9 },
      landmarks: [10, 20, 30 + shift, 40],
      eyes: { right: 0.9, left: 0.8 },
      pad: { fr_liveness: 0.2, minifasnet_v1se: 0.3 },
      embedding: [0.6, 0.8],
    },
    ms: 5,
    ...over,
  };
}

function dump(arch: string, frames: DumpFrame[], over: Partial<ParityDump> = {}): ParityDump {
  return { version: 1, arch, node: 'v20', inputs: 'shared', anchor: 'self', models: [], clips: [{ clip: 'a/real.mp4', frames }], ...over };
}

t.test('identical dumps differ by zero everywhere', async (t) => {
  const c = compareDumps(dump('x64', [frame(0), frame(1)]), dump('arm64', [frame(0), frame(1)]));
  t.equal(c.frames, 2);
  for (const [k, d] of Object.entries(c.models)) t.equal(d.max, 0, k);
  for (const [k, d] of Object.entries(c.signals)) t.equal(d.max, 0, k);
  t.equal(c.embeddingCosineMin, 1);
  t.equal(c.faceFoundMismatch, 0);
  t.equal(c.decode, null);
});

t.test('the largest difference is reported with its clip and frame', async (t) => {
  const c = compareDumps(dump('x64', [frame(0), frame(1), frame(2)]), dump('arm64', [frame(0, {}, 0.25), frame(1, {}, 0.7), frame(2)]));
  t.ok(Math.abs(c.signals.yaw.max - 0.7) < 1e-9);
  t.equal(c.signals.yaw.frame, 1);
  t.equal(c.signals.yaw.clip, 'a/real.mp4');
  t.ok(Math.abs(c.models.landmarks_px.max - 0.7) < 1e-9);
  t.ok(Math.abs(c.models['detect.box_px'].max - 0.7) < 1e-9);
  t.equal(c.models['pad.fr_liveness'].max, 0);
  t.equal(c.signals.pitch.max, 0);
});

t.test('a face found on one side only is counted, not compared', async (t) => {
  const c = compareDumps(dump('x64', [frame(0)]), dump('arm64', [frame(0, { face: null, signals: null, models: null })]));
  t.equal(c.faceFoundMismatch, 1);
  t.equal(c.signals.yaw.compared, 0);
});

t.test('embeddings: element difference and the smallest cosine across machines', async (t) => {
  const c = compareDumps(dump('x64', [frame(0)]), dump('arm64', [frame(0, { models: { ...frame(0).models!, embedding: [0.8, 0.6] } })]));
  t.ok(Math.abs(c.models['embedding.element'].max - 0.2) < 1e-9);
  t.ok(Math.abs((c.embeddingCosineMin ?? 0) - 0.96) < 1e-9);
});

t.test('outputs of different lengths or NaN count as infinitely different', async (t) => {
  const d = { max: 0, clip: null, frame: null, compared: 0 };
  foldDiff(d, [1, 2], [1], 'c', 3);
  t.equal(d.max, Number.POSITIVE_INFINITY);
  const e = { max: 0, clip: null, frame: null, compared: 0 };
  foldDiff(e, [1], [Number.NaN], 'c', 4);
  t.equal(e.max, Number.POSITIVE_INFINITY);
  t.equal(e.frame, 4);
});

t.test('self-decoded dumps report pixel differences separately', async (t) => {
  const b = dump('arm64', [frame(0, { pixelDiff: { max: 3, mean: 0.5 } }), frame(1, { pixelDiff: null })], { inputs: 'self' });
  const c = compareDumps(dump('x64', [frame(0), frame(1)]), b);
  t.same(c.decode, { maxPixel: 3, meanPixel: 0.5, sizeMismatch: 1 });
});

t.test('session verdicts side by side: a flipped verdict or first reason is not the same', async (t) => {
  const doc = (verdict: string, reasons: string[]) => ({
    cases: [
      { case: 'genuine-headturn', expected: { verdict: 'accept' }, actual: { verdict, reasons }, scores: { match: 0.7, attack: 0.1 } },
      { case: 'impostor', expected: { verdict: 'reject' }, actual: { verdict: 'reject', reasons: ['no_match'] }, scores: {} },
    ],
  });
  const rows = compareVerdicts(sessionVerdicts(doc('accept', [])), sessionVerdicts(doc('reject', ['challenge_wrong_action'])));
  t.same(
    rows.map((r) => [r.case, r.same]),
    [
      ['genuine-headturn', false],
      ['impostor', true],
    ],
  );
  t.equal(rows[0].b?.reasons[0], 'challenge_wrong_action');
  const missing = compareVerdicts(sessionVerdicts(doc('accept', [])), []);
  t.equal(missing[0].same, false, 'a case run on one side only is not the same');
  t.throws(() => sessionVerdicts({ nope: 1 }));
});

t.test('frames file: written frames read back byte for byte; pixel differences', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'arm64-frames-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const w = new FramesWriter(dir);
  await w.start();
  const a = makeImage(2, 1, new Uint8Array([1, 2, 3, 4, 5, 6]));
  const b = makeImage(1, 1, new Uint8Array([9, 8, 7]));
  await w.add('x.mp4', 0, 0, a);
  await w.add('x.mp4', 1, 40, b);
  await w.add('y.mp4', 0, 0, b);
  await w.close();
  const index = await readFramesIndex(dir);
  t.same(
    index.clips.map((c) => [c.clip, c.frames.length]),
    [
      ['x.mp4', 2],
      ['y.mp4', 1],
    ],
  );
  const got = [];
  for await (const f of readClipFrames(dir, index.clips[0])) got.push([...f.image.data]);
  t.same(got, [
    [1, 2, 3, 4, 5, 6],
    [9, 8, 7],
  ]);
  t.same(pixelDiff(a, makeImage(2, 1, new Uint8Array([1, 2, 3, 4, 5, 0]))), { max: 6, mean: 1 });
  t.equal(pixelDiff(a, b), null);
});

t.test('the same verdict with another first reason is not the same', async (t) => {
  const v = (reason: string) => ({ case: 'c', expected: 'reject', verdict: 'reject', reasons: [reason], match: null, attack: null });
  t.equal(compareVerdicts([v('no_match')], [v('challenge_wrong_action')])[0].same, false);
  t.equal(compareVerdicts([v('no_match')], [v('no_match')])[0].same, true);
});
