import t from 'tap';
import { decodeLandmarks, fiveFrom68, preprocessLandmarks } from '../../models/landmarks/landmarks68.js';
import { eyeAspectRatio, eyeOpenness } from '../../models/eyes/eye-aspect.js';
import { eyeBox, preprocessEye, softmax } from '../../models/eyes/eye-state.js';
import { makeImage } from '../../base/rgb-image.js';
import type { Point } from '../../models/types.js';

function points68(): Point[] {
  return Array.from({ length: 68 }, (_, i) => ({ x: i, y: 2 * i }));
}

/** Six eye points of a horizontal eye 40 px wide and `gap` px open. */
function eye(x0: number, gap: number): Point[] {
  return [
    { x: x0, y: 100 },
    { x: x0 + 13, y: 100 - gap / 2 },
    { x: x0 + 27, y: 100 - gap / 2 },
    { x: x0 + 40, y: 100 },
    { x: x0 + 27, y: 100 + gap / 2 },
    { x: x0 + 13, y: 100 + gap / 2 },
  ];
}

t.test('landmark preprocess: the face box as a 64x64 grey crop scaled by 1/256', async (t) => {
  const img = makeImage(200, 100);
  img.data.fill(128);
  const { tensor, crop, grey } = preprocessLandmarks(img, { x: 50, y: 10, width: 40, height: 40 });
  t.same(tensor.shape, [1, 1, 64, 64]);
  t.same(crop, { x: 50, y: 10, width: 40, height: 40 });
  t.ok(Math.abs(grey[100] - 128) < 0.01);
  t.ok(Math.abs(tensor.data[100] - 0.5) < 0.001);
  const edge = preprocessLandmarks(img, { x: 180, y: 80, width: 40, height: 40 });
  t.same(edge.crop, { x: 159, y: 59, width: 40, height: 40 }, 'a box past the edge is shifted inside');
});

t.test('landmark decode maps crop-normalised output to source pixels; five keypoints', async (t) => {
  const out = new Float32Array(136);
  for (let i = 0; i < 68; i++) {
    out[2 * i] = i / 68;
    out[2 * i + 1] = 0.5;
  }
  const pts = decodeLandmarks(out, { x: 10, y: 20, width: 68, height: 100 });
  t.equal(pts.length, 68);
  t.same(pts[34], { x: 44, y: 70 });
  const k = fiveFrom68(points68());
  t.same(k.eyeRight, { x: 38.5, y: 77 }, 'mean of points 36-41');
  t.same(k.eyeLeft, { x: 44.5, y: 89 }, 'mean of points 42-47');
  t.same(k.nose, { x: 30, y: 60 });
  t.same([k.mouthRight.x, k.mouthLeft.x], [48, 54]);
});

t.test('eye aspect ratio: known geometry', async (t) => {
  const pts = points68();
  pts.splice(36, 6, ...eye(0, 12));
  pts.splice(42, 6, ...eye(100, 2));
  t.equal(eyeAspectRatio(pts, [36, 37, 38, 39, 40, 41]), 12 / 40, 'open: gap / width');
  const o = eyeOpenness(pts);
  t.equal(o.right, 0.3);
  t.equal(o.left, 2 / 40);
  t.equal(eyeAspectRatio(Array(6).fill({ x: 1, y: 1 }), [0, 1, 2, 3, 4, 5]), 0, 'degenerate eye');
});

t.test('eye crop and eye-state input', async (t) => {
  const pts = points68();
  pts.splice(36, 6, ...eye(0, 12));
  const b = eyeBox(pts, [36, 37, 38, 39, 40, 41]);
  t.same(b, { x: 20 - 32, y: 100 - 32, width: 64, height: 64 }, 'centred on the lids, 1.6 x eye width');
  const img = makeImage(100, 200);
  img.data.fill(255);
  const tns = preprocessEye(img, { x: 10, y: 10, width: 20, height: 20 });
  t.same(tns.shape, [1, 1, 24, 24]);
  t.ok(Math.abs(tns.data[30] - 1) < 1e-3);
  const p = softmax([0, Math.log(3)]);
  t.ok(Math.abs(p[1] - 0.75) < 1e-9);
});
