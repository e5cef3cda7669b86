import t from 'tap';
import type { FaceDecision, FaceEngine } from '../../models/engine.js';
import { makeImage, type RgbImage } from '../../base/rgb-image.js';
import type { FaceSignals, FrameSignals } from '../../models/types.js';
import { buildReference, pixelDigest, rotate } from '../../agent/reference/portrait.js';
import { parseStillSpec } from '../../agent/reference/source.js';
import { faceSignals } from '../helpers/session-frames.js';

const unit = (...v: number[]) => {
  const n = Math.hypot(...v);
  return Float32Array.from(v.map((x) => x / n));
};
const HOLDER = unit(1, 0.1, 0);
const OTHER = unit(0, 1, 0.2);

interface FakeFace {
  score?: number;
  iod?: number;
  contrast?: number;
  sharpness?: number;
  yaw?: number;
  who?: Float32Array;
}

/** Faces by description; `decide` answers with each face's identity. Faces are seen only in a wide image, a tall one, or never. */
function engineWith(faces: FakeFace[], seenIn: 'wide' | 'tall' | 'never' = 'wide') {
  const made: FaceSignals[] = faces.map((f) => {
    const s = faceSignals({ yaw: f.yaw ?? 0, sharpness: f.sharpness ?? 200, interEyePx: f.iod ?? 60 });
    return { ...s, detection: { ...s.detection, score: f.score ?? 0.99 }, quality: { ...s.quality, contrast: f.contrast ?? 40 } };
  });
  const who = new Map(made.map((m, i) => [m, faces[i].who ?? HOLDER]));
  let calls = 0;
  const engine: Pick<FaceEngine, 'analyze' | 'decide'> = {
    analyze: async (image: RgbImage): Promise<FrameSignals> => {
      const seen = seenIn === 'wide' ? image.width > image.height : seenIn === 'tall' ? image.height > image.width : false;
      calls++;
      return { width: image.width, height: image.height, faces: seen ? made : [], timings: {} };
    },
    decide: async (_image, face): Promise<FaceDecision> => ({ attackScore: 0, embedding: who.get(face)!, timings: {} }),
  };
  return { engine, calls: () => calls };
}

/** A wide 2x1 image (tall once rotated by 90 or 270 degrees). */
function marked(): RgbImage {
  return makeImage(2, 1, new Uint8Array([0, 0, 0, 90, 90, 90]));
}

t.test('one clear portrait: template, summary without arrays, id from the pixels', async (t) => {
  const { engine } = engineWith([{ iod: 60 }]);
  const ref = await buildReference(engine, marked());
  t.same(Array.from(ref.template), Array.from(HOLDER));
  t.equal(ref.summary.facesFound, 1);
  t.equal(ref.summary.interEyePx, 60);
  t.equal(ref.templateId, pixelDigest(marked()));
  t.match(ref.templateId, /^[0-9a-f]{16}$/);
  t.notOk(
    Object.values(ref.summary).some((v) => ArrayBuffer.isView(v)),
    'no typed array in the summary',
  );
});

t.test('the ghost image (a smaller copy of the same person) is set aside', async (t) => {
  const { engine } = engineWith([
    { iod: 40, score: 0.99 },
    { iod: 13, score: 0.92, contrast: 16 },
  ]);
  const ref = await buildReference(engine, marked());
  t.equal(ref.summary.ignored.length, 1);
  t.equal(ref.summary.ignored[0].reason, 'same_holder_copy');
  t.equal(ref.summary.interEyePx, 40, 'the real portrait, not the ghost');
});

t.test('a faint ghost too poor to embed as the holder is set aside as a faint copy', async (t) => {
  const { engine } = engineWith([{ iod: 40 }, { iod: 12, contrast: 15, who: OTHER }]);
  const ref = await buildReference(engine, marked());
  t.equal(ref.summary.ignored[0].reason, 'faint_or_small_copy');
});

t.test('the ghost is never picked over the portrait even when listed first', async (t) => {
  const { engine } = engineWith([
    { iod: 14, score: 0.99, contrast: 15 },
    { iod: 42, score: 0.99, contrast: 30 },
  ]);
  const ref = await buildReference(engine, marked());
  t.equal(ref.summary.interEyePx, 42);
});

t.test('two genuinely different faces of similar size: E_MULTIPLE_FACES', async (t) => {
  const { engine } = engineWith([{ iod: 40 }, { iod: 38, who: OTHER }]);
  await t.rejects(buildReference(engine, marked(), { subject: 'doc.jpg' }), { code: 'E_MULTIPLE_FACES', subject: 'doc.jpg' });
});

t.test('no face at any rotation: E_NO_FACE; a document photographed sideways is found rotated', async (t) => {
  const none = engineWith([{}], 'never');
  await t.rejects(buildReference(none.engine, marked()), { code: 'E_NO_FACE' });
  const sideways = engineWith([{}], 'tall');
  const ref = await buildReference(sideways.engine, marked());
  t.equal(ref.summary.rotationDeg, 90);
});

t.test('quality: too small, too blurred, not frontal, each with its issue', async (t) => {
  await t.rejects(buildReference(engineWith([{ iod: 8 }]).engine, marked()), { code: 'E_FACE_QUALITY', details: { issue: 'too_small' } });
  await t.rejects(buildReference(engineWith([{ sharpness: 3 }]).engine, marked()), { code: 'E_FACE_QUALITY', details: { issue: 'blurry' } });
  await t.rejects(buildReference(engineWith([{ yaw: 45 }]).engine, marked()), { code: 'E_FACE_QUALITY', details: { issue: 'not_frontal' } });
  t.ok(await buildReference(engineWith([{ iod: 8 }]).engine, marked(), { minInterEyePx: 5 }), 'limits are options');
});

t.test('rotate: 90 degrees clockwise moves the top-left pixel to the top-right', async (t) => {
  const img = makeImage(2, 1, new Uint8Array([1, 1, 1, 2, 2, 2]));
  t.same(Array.from(rotate(img, 90).data), [1, 1, 1, 2, 2, 2]);
  t.equal(rotate(img, 90).width, 1);
  t.same(Array.from(rotate(img, 180).data), [2, 2, 2, 1, 1, 1]);
  t.same(Array.from(rotate(rotate(img, 90), 270).data), Array.from(img.data));
});

t.test('still specs: path or path#frame=N', async (t) => {
  t.same(parseStillSpec('a/b.jpg'), { path: 'a/b.jpg', frame: null });
  t.same(parseStillSpec('clip.mp4#frame=600'), { path: 'clip.mp4', frame: 600 });
  t.throws(() => parseStillSpec('#frame=2'), { code: 'E_USAGE' });
});
