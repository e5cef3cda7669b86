import t from 'tap';
import { KioskError } from '../../base/errors.js';
import type { EvalDeps, VideoFrame } from '../../agent/eval/deps.js';
import type { SpoofRow, VerifyPair, VideoRow } from '../../agent/eval/labels.js';
import { formatMatchReport, formatPadReport, formatVideoReport } from '../../agent/eval/format.js';
import { runMatchEval } from '../../agent/eval/run-match.js';
import { runPadEval } from '../../agent/eval/run-pad.js';
import { runVideoEval } from '../../agent/eval/run-video.js';
import type { EngineInfo, FaceDecision, FaceEngine } from '../../models/engine.js';
import { makeImage, type RgbImage } from '../../base/rgb-image.js';
import type { FaceSignals, FrameSignals } from '../../models/types.js';

/** What the fake engine "sees" in one image or frame. */
interface FakeFace {
  size: number;
  attackScore?: number;
  embedding?: number[];
  ear?: number;
  yaw?: number;
  pitch?: number;
}

/** A FaceEngine over a table of images: each image object is tagged with the faces it shows. */
class FakeEngine implements FaceEngine {
  readonly scenes = new WeakMap<RgbImage, FakeFace[]>();
  private readonly decisions = new WeakMap<FaceSignals, FakeFace>();
  analyzed = 0;

  image(faces: FakeFace[]): RgbImage {
    const img = makeImage(1, 1);
    this.scenes.set(img, faces);
    return img;
  }

  async start(): Promise<EngineInfo> {
    return this.info();
  }
  info(): EngineInfo {
    return { runtimes: [], models: [] };
  }
  async stop(): Promise<void> {}

  async analyze(frame: RgbImage): Promise<FrameSignals> {
    this.analyzed++;
    const faces = (this.scenes.get(frame) ?? []).map((f) => {
      const p = { x: 0, y: 0 };
      const signals: FaceSignals = {
        detection: { box: { x: 0, y: 0, width: f.size, height: f.size }, score: 0.9 },
        landmarks: [],
        keypoints: { eyeRight: p, eyeLeft: p, nose: p, mouthRight: p, mouthLeft: p },
        eyes: { right: f.ear ?? 0.3, left: f.ear ?? 0.3 },
        pose: { yaw: f.yaw ?? 0, pitch: f.pitch ?? 0, roll: 0 },
        quality: { interEyePx: f.size / 3, faceWidthPx: f.size, sharpness: 100, brightness: 128, contrast: 40 },
      };
      this.decisions.set(signals, f);
      return signals;
    });
    return { width: frame.width, height: frame.height, faces, timings: {} };
  }

  async decide(_frame: RgbImage, face: FaceSignals): Promise<FaceDecision> {
    const f = this.decisions.get(face)!;
    return { attackScore: f.attackScore ?? 0, embedding: Float32Array.from(f.embedding ?? [1]), timings: {} };
  }
}

/** Deps over a table of files: a path maps to the faces in it, or to the error its decoding raises. */
function fakeDeps(engine: FakeEngine, files: Record<string, FakeFace[] | Error>, videos: Record<string, FakeFace[][] | Error> = {}) {
  const loads: string[] = [];
  const deps: EvalDeps = {
    engine,
    loadImage: async (path) => {
      loads.push(path);
      const f = files[path];
      if (f === undefined) throw new KioskError('E_INPUT_NOT_FOUND', 'no such file', { subject: path });
      if (f instanceof Error) throw f;
      return engine.image(f);
    },
    frames: (path) =>
      (async function* (): AsyncGenerator<VideoFrame> {
        const v = videos[path];
        if (v instanceof Error) throw v;
        for (const [index, faces] of (v ?? []).entries()) yield { index, timeMs: (index * 1000) / 30, image: engine.image(faces) };
      })(),
  };
  return { deps, loads };
}

const pair = (imageA: string, imageB: string, same: boolean, source = 'set1'): VerifyPair => ({ imageA, imageB, same, source, line: 0 });

t.test('match: each image embedded once, largest face, FTD counted and excluded', async (t) => {
  const engine = new FakeEngine();
  const { deps, loads } = fakeDeps(engine, {
    a1: [{ size: 100, embedding: [1, 0] }],
    a2: [{ size: 100, embedding: [0.8, 0.6] }],
    b1: [{ size: 100, embedding: [0, 1] }],
    // two faces: the small one is someone else; the large one is person a
    m: [
      { size: 20, embedding: [0, 1] },
      { size: 120, embedding: [1, 0] },
    ],
    c: [],
    d: new KioskError('E_IMAGE_CORRUPT', 'truncated JPEG', { subject: 'd' }),
  });
  const pairs = [
    pair('a1', 'a2', true), // cos 0.8
    pair('a1', 'b1', false), // 0
    pair('a2', 'b1', false, 'set2'), // 0.6
    pair('a1', 'm', true, 'set2'), // 1.0 (0 if the small face were taken)
    pair('a1', 'c', true), // FTD: excluded
    pair('b1', 'd', false), // unreadable: excluded
  ];
  const r = await runMatchEval(pairs, deps, { threshold: 0.9 });
  // five decodable images analysed once each, and the faceless one once more with a margin (analyzeStill)
  t.equal(engine.analyzed, 6, 'each decodable image analysed once, plus one padded retry for the faceless image');
  t.same([...loads].sort(), ['a1', 'a2', 'b1', 'c', 'd', 'm'], 'each distinct path loaded once');
  t.same([r.pairs_total, r.pairs, r.pairs_excluded, r.genuine, r.impostor], [6, 4, 2, 2, 2]);
  t.same(r.ftd, { rate: 1 / 6, count: 1, total: 6 });
  t.equal(r.failed, 1);
  t.same(
    r.failures.map((f) => [f.file, f.code]),
    [
      ['c', 'E_NO_FACE'],
      ['d', 'E_IMAGE_CORRUPT'],
    ],
  );
  // genuine [0.8, 1.0] vs impostor [0, 0.6]: separable
  t.equal(r.auc, 1);
  t.equal(r.eer.eer, 0);
  t.ok(Math.abs(r.eer.threshold! - 0.8) < 1e-6, 'EER at the lowest genuine similarity');
  // 2 impostors cannot resolve FAR 1 %: no error allowed, threshold = lowest score above 0.6 = 0.8
  t.same(r.tar_at_far_1pct.tar, { rate: 1, count: 2, total: 2 });
  t.same(r.tar_at_far_1pct.far, { rate: 0, errors: 0, total: 2 });
  t.equal(r.tar_at_far_1pct.resolved, false);
  // at 0.9: genuine 0.8 rejected, no impostor accepted
  t.same(r.at_threshold!.fnmr, { rate: 0.5, errors: 1, total: 2 });
  t.same(r.at_threshold!.fmr, { rate: 0, errors: 0, total: 2 });
  t.same(
    r.by_source.map((s) => [s.source, s.genuine, s.impostor]),
    [
      ['set1', 1, 1],
      ['set2', 1, 1],
    ],
  );
  const text = formatMatchReport(r);
  t.match(text, /FTD 1\/6/);
  t.match(text, /FNMR 1\/2 \(50\.0%\)/);
  t.equal(
    (await runMatchEval(pairs, fakeDeps(new FakeEngine(), { a1: [], a2: [], b1: [], m: [], c: [], d: [] }).deps)).at_threshold,
    null,
    'no threshold given: none reported',
  );
});

t.test('pad: threshold chosen on one subject half, reported on the other', async (t) => {
  const rows: SpoofRow[] = [];
  const files: Record<string, FakeFace[]> = {};
  const add = (path: string, species: string, score: number | null) => {
    rows.push({ image: path, bonaFide: species === 'real', species, line: rows.length + 2 });
    files[path] = score === null ? [] : [{ size: 100, attackScore: score }];
  };
  // half A = subjects 0001, 0003 (alternate after sorting); half B = 0002, 0004
  [0.1, 0.2].forEach((s, i) => add(`n/ClientFace/0001/${i}.jpg`, 'real', s));
  [0.3, 0.9].forEach((s, i) => add(`n/ClientFace/0003/${i}.jpg`, 'real', s));
  add('n/ImposterFace/0001/0.jpg', 'print', 0.8);
  [0.95, 0.4].forEach((s, i) => add(`n/ImposterFace/0003/${i}.jpg`, 'print', s));
  [0.05, 0.5].forEach((s, i) => add(`n/ClientFace/0002/${i}.jpg`, 'real', s));
  [0.15, 0.25].forEach((s, i) => add(`n/ClientFace/0004/${i}.jpg`, 'real', s));
  [0.6, 0.35].forEach((s, i) => add(`n/ImposterFace/0002/${i}.jpg`, 'print', s));
  add('n/ImposterFace/0004/r.jpg', 'replay', 0.7);
  add('n/ClientFace/0002/noface.jpg', 'real', null);

  const r = await runPadEval(rows, fakeDeps(new FakeEngine(), files).deps, { threshold: 0.5, bpcerTarget: 0.25 });
  t.same([r.presentations, r.scored, r.failed], [15, 14, 0]);
  // At the operating threshold 0.5 (attack when > 0.5, as the session): a score of exactly 0.5 is bona fide.
  const op = r.operating.images;
  t.same([op.bpcer.errors, op.bpcer.total, op.apcer.print.errors, op.apcer.print.total, op.apcer.replay.errors], [1, 8, 2, 5, 0]);
  t.same(
    op.halves.map((h) => [h.subjects, h.rates.bpcer.errors, h.rates.apcer.print.errors, h.rates.apcer.print.total]),
    [
      [['n/0001', 'n/0003'], 1, 1, 3],
      [['n/0002', 'n/0004'], 0, 1, 2],
    ],
  );
  t.equal(r.operating.presentations, null, 'no recordings given');
  t.same(r.ftd, { rate: 1 / 15, count: 1, total: 15 });
  // AUC: attacks 0.8, 0.95, 0.4, 0.6, 0.35, 0.7 beat 7, 8, 6, 7, 6, 7 of the 8 bona fide = 41/48
  t.same(r.auc, { auc: 41 / 48, attacks: 6, bona_fide: 8 });
  t.same(r.auc_by_species.print, { auc: 34 / 40, attacks: 5, bona_fide: 8 });
  t.same(r.auc_by_species.replay, { auc: 7 / 8, attacks: 1, bona_fide: 8 });

  const [f1, f2] = r.folds;
  t.same(f1.calibration_subjects, ['n/0001', 'n/0003']);
  t.same(f1.test_subjects, ['n/0002', 'n/0004']);
  // fold 1: A bona fide 0.1 0.2 0.3 0.9, one error allowed -> smallest threshold above 0.3 = 0.4
  t.equal(f1.threshold, 0.4);
  t.same(f1.calibration.bpcer, { rate: 0.25, errors: 1, total: 4 });
  // on B at 0.4: bona fide 0.5 flagged (1/4); print 0.35 missed (1/2); replay 0.7 caught (0/1)
  t.same(f1.test.bpcer, { rate: 0.25, errors: 1, total: 4 });
  t.same(f1.test.apcer, { print: { rate: 0.5, errors: 1, total: 2 }, replay: { rate: 0, errors: 0, total: 1 } });
  // fold 2: B bona fide 0.05 0.15 0.25 0.5 -> smallest threshold above 0.25 = 0.35; on A: 0.9 flagged, prints all caught
  t.equal(f2.threshold, 0.35);
  t.same(f2.test.bpcer, { rate: 0.25, errors: 1, total: 4 });
  t.same(f2.test.apcer, { print: { rate: 0, errors: 0, total: 3 } });
  t.same(r.out_of_fold.apcer, { print: { rate: 0.2, errors: 1, total: 5 }, replay: { rate: 0, errors: 0, total: 1 } });
  t.same(r.out_of_fold.bpcer, { rate: 0.25, errors: 2, total: 8 });
  const text = formatPadReport(r);
  t.match(text, /out of fold\s+1\/5 \(20\.0%\)\s+0\/1 \(0\.0%\)\s+2\/8 \(25\.0%\)/);
});

t.test('video: events scored per video, directions mapped, failures counted as missed', async (t) => {
  const frames = (n: number, f: (i: number) => FakeFace | null) =>
    Array.from({ length: n }, (_, i) => {
      const face = f(i);
      return face ? [face] : [];
    });
  const row = (video: string, events: VideoRow['events'], toleranceFrames?: number, blinksLabelled = true): VideoRow => ({
    video,
    bonaFide: true,
    species: 'real',
    fps: 30,
    frames: 100,
    events,
    labelQuality: '',
    toleranceFrames,
    blinksLabelled,
    line: 2,
  });
  const labels = [
    { kind: 'frontal' as const, first: 0, last: 9 },
    { kind: 'blink' as const, first: 10, last: 14 },
    { kind: 'yaw_image_right' as const, first: 40, last: 70 },
  ];
  const rows = [row('good.mp4', labels, 2), row('wrong.mp4', labels, 2), row('broken.mp4', labels)];
  const videos = {
    // blink 11-13; subject turns to their own left (yaw > 0) 40-70 = face toward the image right
    'good.mp4': frames(100, (i) => ({ size: 100, ear: i >= 11 && i <= 13 ? 0.1 : 0.3, yaw: i >= 40 && i <= 70 ? 30 : 0 })),
    // no blink where labelled but one at 85-87; turns the other way; no face 20-25
    'wrong.mp4': frames(100, (i) => (i >= 20 && i <= 25 ? null : { size: 100, ear: i >= 85 && i <= 87 ? 0.1 : 0.3, yaw: i >= 40 && i <= 70 ? -30 : 0 })),
    'broken.mp4': new KioskError('E_VIDEO_DECODE', 'ffmpeg failed', { subject: 'broken.mp4' }),
  };
  const r = await runVideoEval(rows, fakeDeps(new FakeEngine(), {}, videos).deps);
  const [good, wrong, broken] = r.videos;
  const counts = (c: { labelled: number; detected: number; matched: number; missed: number; false: number; wrong_direction: number }) => [
    c.labelled,
    c.detected,
    c.matched,
    c.missed,
    c.false,
    c.wrong_direction,
  ];
  t.same(counts(good), [2, 2, 2, 0, 0, 0], 'blink and yaw_image_right (= turn_left) both matched');
  t.same(
    good.events.matched.map((m) => `${m.label}->${m.kind}@${m.detected.join('-')}`),
    ['blink->eyes_closed@11-13', 'yaw_image_right->turn_left@40-70'],
  );
  t.same(counts(wrong), [2, 2, 0, 2, 1, 1], 'blink missed, false blink at 85, turn in the wrong direction');
  t.same(counts(wrong.eyes), [1, 1, 0, 1, 1, 0]);
  t.same(counts(wrong.head), [1, 1, 0, 1, 0, 1]);
  t.same([wrong.frames_analysed, wrong.frames_with_face], [100, 94]);
  t.equal(broken.error?.code, 'E_VIDEO_DECODE');
  t.same(counts(broken), [2, 0, 0, 2, 0, 0], 'a failed video still owes its labelled events');
  t.equal(broken.tolerance_frames, 5, 'default tolerance when the labels state none');
  t.same(counts(r.totals), [6, 4, 2, 4, 1, 1]);
  t.same(counts(r.totals.eyes), [3, 2, 1, 2, 1, 0]);

  const mirrored = await runVideoEval([rows[1]], fakeDeps(new FakeEngine(), {}, videos).deps, { mirrored: true });
  t.same(counts(mirrored.videos[0].head), [1, 1, 1, 0, 0, 0], 'with --mirrored the same turn is the right one');
  t.match(formatVideoReport(r), /wrong\s+turn_right@40-70/);

  // Blinks not labelled: the closure at 85-87 is listed, not counted as false; the head is still scored.
  const unlabelled = await runVideoEval(
    [
      row(
        'wrong.mp4',
        labels.filter((l) => l.kind !== 'blink'),
        2,
        false,
      ),
    ],
    fakeDeps(new FakeEngine(), {}, videos).deps,
  );
  const v = unlabelled.videos[0];
  t.equal(v.eyes_scored, false);
  t.same(counts(v.eyes), [0, 0, 0, 0, 0, 0]);
  t.same(
    v.events.unscored.map((e) => `${e.kind}@${e.first}-${e.last}`),
    ['eyes_closed@85-87'],
  );
  t.same(counts(v.head), [1, 1, 0, 1, 0, 1]);
  t.match(formatVideoReport(unlabelled), /unscored eyes_closed@85-87/);
  t.same(v.anchor, { frame: 6, yaw: 0, pitch: 0 }, 'the anchor: 200 ms of still frontal frames (frames 0-6 at 30 fps)');
});
