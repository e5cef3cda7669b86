import t from 'tap';
import type { Point } from '../../models/types.js';
import { applyHomography, fitHomography, interEyeDistance, motionResidual, reprojectionRms, type Homography } from '../../agent/session/motion.js';
import { faceSignals, flatPhotoModel, headModel68, project, rotate } from '../helpers/session-frames.js';

const H: Homography = [1.1, 0.08, 12, -0.05, 0.95, -7, 0.0004, -0.0002, 1];

/** Deterministic noise in [-1, 1). */
function noise(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  };
}

t.test('fitHomography recovers a known projective transform', async (t) => {
  const src = project(headModel68());
  const dst = src.map((p) => applyHomography(H, p));
  const fit = fitHomography(src, dst);
  for (let i = 0; i < 9; i++) t.ok(Math.abs(fit[i] - H[i]) < 1e-6 * Math.max(1, Math.abs(H[i])), `h${i} ${fit[i]} vs ${H[i]}`);
  t.ok(reprojectionRms(fit, src, dst) < 1e-8);
});

t.test('points on a plane under a projective transform leave a residual of about 0', async (t) => {
  const frontal = project(headModel68());
  const turned = frontal.map((p) => applyHomography(H, p));
  t.ok(motionResidual(frontal, turned).residual < 1e-9);
});

t.test('a flat photo tilted by 25 degrees of yaw or pitch moves like a plane', async (t) => {
  const photo = flatPhotoModel();
  const frontal = project(photo);
  for (const [yaw, pitch] of [
    [25, 0],
    [-25, 0],
    [0, 20],
    [15, -15],
  ]) {
    const tilted = project(rotate(photo, yaw, pitch, 0, { x: 0, y: 0, z: 0 }));
    const r = motionResidual(frontal, tilted);
    t.ok(r.residual < 1e-6, `yaw ${yaw} pitch ${pitch}: ${r.residual}`);
  }
});

t.test('a 3-D head turned by 25 degrees shows parallax', async (t) => {
  const head = headModel68();
  const frontal = project(head);
  const r = motionResidual(frontal, project(rotate(head, 25, 0)));
  t.ok(r.residual > 0.08, `yaw 25: residual ${r.residual.toFixed(4)}`);
  t.ok(r.rmsPx > 5, `rms ${r.rmsPx.toFixed(2)} px`);
  t.ok(Math.abs(r.interEyePx - 95.3) < 1, `inter-ocular ${r.interEyePx.toFixed(1)} px`);
  t.ok(motionResidual(frontal, project(rotate(head, -25, 0))).residual > 0.08, 'turning right too');
  t.ok(motionResidual(frontal, project(rotate(head, 0, 20))).residual > 0.08, 'looking up too');
});

t.test('the residual grows with the turn and separates head from photo under landmark noise', async (t) => {
  const head = headModel68();
  const photo = flatPhotoModel();
  const jitter = (pts: Point[], rnd: () => number, px: number) => pts.map((p) => ({ x: p.x + px * rnd(), y: p.y + px * rnd() }));
  const r10 = motionResidual(project(head), project(rotate(head, 10, 0))).residual;
  const r20 = motionResidual(project(head), project(rotate(head, 20, 0))).residual;
  const r30 = motionResidual(project(head), project(rotate(head, 30, 0))).residual;
  t.ok(r10 < r20 && r20 < r30, `${r10.toFixed(3)} < ${r20.toFixed(3)} < ${r30.toFixed(3)}`);
  const rnd = noise(7);
  // 1 px of landmark noise on a ~95 px inter-ocular distance
  const flat = motionResidual(jitter(project(photo), rnd, 1), jitter(project(rotate(photo, 25, 0, 0, { x: 0, y: 0, z: 0 })), rnd, 1)).residual;
  const live = motionResidual(jitter(project(head), rnd, 1), jitter(project(rotate(head, 25, 0)), rnd, 1)).residual;
  t.ok(flat < 0.02, `noisy photo ${flat.toFixed(4)}`);
  t.ok(live > 3 * flat, `noisy head ${live.toFixed(4)} vs photo ${flat.toFixed(4)}`);
});

t.test('the score does not depend on the distance to the camera', async (t) => {
  const head = headModel68();
  const near = motionResidual(project(head), project(rotate(head, 25, 0))).residual;
  const cam = { f: 450, cx: 320, cy: 240, distance: 600 };
  const far = motionResidual(project(head, cam), project(rotate(head, 25, 0), cam)).residual;
  t.ok(Math.abs(near - far) < 1e-9, `${near} vs ${far}`);
});

t.test('the synthetic face helpers produce the same geometry', async (t) => {
  const lm = faceSignals().landmarks;
  t.equal(lm.length, 68);
  t.ok(Math.abs(interEyeDistance(lm) - faceSignals().quality.interEyePx) < 1e-9);
  // yaw > 0 is the subject's own left: the nose tip moves toward the image's right
  t.ok(faceSignals({ yaw: 20 }).landmarks[30].x > lm[30].x + 5);
  // pitch > 0 is up: the nose tip moves up in the image
  t.ok(faceSignals({ pitch: 20 }).landmarks[30].y < lm[30].y - 5);
  // the flat photo shows exactly the frontal head, so tilting it is a homography of the frontal frame
  t.ok(motionResidual(lm, faceSignals({ yaw: 25, flat: true }).landmarks).residual < 1e-6);
  t.ok(motionResidual(lm, faceSignals({ yaw: 25 }).landmarks).residual > 0.08);
});

t.test('bad input is refused', async (t) => {
  const p = project(headModel68());
  t.throws(() => fitHomography(p.slice(0, 3), p.slice(0, 3)), RangeError);
  t.throws(() => fitHomography(p, p.slice(1)), RangeError);
  t.throws(() => fitHomography(Array(10).fill({ x: 1, y: 1 }), Array(10).fill({ x: 2, y: 2 })), RangeError);
  t.throws(() => motionResidual(p.slice(0, 60), p.slice(0, 60)), RangeError);
  t.throws(() => motionResidual(p, p.slice(0, 60)), RangeError);
});
