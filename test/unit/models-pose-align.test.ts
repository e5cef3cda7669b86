import t from 'tap';
import { estimateHeadPose, FACE_MODEL_3D, poseFromRotation, rotationFromPose } from '../../models/pose/head-pose.js';
import { alignmentWarp, ARCFACE_TEMPLATE_112, similarityTransform } from '../../models/embedding/align.js';
import type { HeadPose, Point } from '../../models/types.js';

/** Projects the generic 3-D face at a pose (scaled orthographic, 3 px/mm, centred at 320,240) into 68 points. */
function project(pose: HeadPose): Point[] {
  const r = rotationFromPose(pose);
  const pts: Point[] = Array.from({ length: 68 }, () => ({ x: 0, y: 0 }));
  for (const { index, p } of FACE_MODEL_3D) {
    pts[index] = {
      x: 320 + 3 * (r[0][0] * p[0] + r[0][1] * p[1] + r[0][2] * p[2]),
      y: 240 + 3 * (r[1][0] * p[0] + r[1][1] * p[1] + r[1][2] * p[2]),
    };
  }
  return pts;
}

const close = (a: number, b: number, tol = 0.5) => Math.abs(a - b) <= tol;

t.test('rotation <-> pose round trip', async (t) => {
  for (const pose of [
    { yaw: 30, pitch: -10, roll: 5 },
    { yaw: -45, pitch: 20, roll: -12 },
    { yaw: 0, pitch: 0, roll: 0 },
  ]) {
    const back = poseFromRotation(rotationFromPose(pose));
    t.ok(close(back.yaw, pose.yaw, 1e-6) && close(back.pitch, pose.pitch, 1e-6) && close(back.roll, pose.roll, 1e-6), JSON.stringify(pose));
  }
});

t.test('pose from projected landmarks recovers the pose', async (t) => {
  for (const pose of [
    { yaw: 0, pitch: 0, roll: 0 },
    { yaw: 30, pitch: 0, roll: 0 },
    { yaw: -25, pitch: 15, roll: 8 },
    { yaw: 10, pitch: -30, roll: -10 },
  ]) {
    const est = estimateHeadPose(project(pose));
    t.ok(close(est.yaw, pose.yaw) && close(est.pitch, pose.pitch) && close(est.roll, pose.roll), `${JSON.stringify(pose)} -> ${JSON.stringify(est)}`);
  }
});

t.test("sign convention is the subject's own: yaw > 0 moves the nose to the image right, pitch > 0 up", async (t) => {
  const front = project({ yaw: 0, pitch: 0, roll: 0 });
  const left = project({ yaw: 20, pitch: 0, roll: 0 });
  const up = project({ yaw: 0, pitch: 20, roll: 0 });
  const tilt = project({ yaw: 0, pitch: 0, roll: 15 });
  t.ok(left[30].x - (left[36].x + left[45].x) / 2 > front[30].x - (front[36].x + front[45].x) / 2, 'nose toward image right');
  t.ok(up[30].y - (up[36].y + up[45].y) / 2 < front[30].y - (front[36].y + front[45].y) / 2, 'nose rises toward the eyes');
  t.ok(tilt[45].y > tilt[36].y, "roll > 0 lowers the subject's left eye (image right)");
});

t.test('similarity transform: identity, and a known rotation/scale/shift', async (t) => {
  const id = similarityTransform(ARCFACE_TEMPLATE_112, ARCFACE_TEMPLATE_112);
  [1, 0, 0, 0, 1, 0].forEach((v, i) => t.ok(close(id[i], v, 1e-9), `identity[${i}]`));
  const th = Math.PI / 6,
    s = 2.5;
  const moved = ARCFACE_TEMPLATE_112.map((p) => ({
    x: s * (Math.cos(th) * p.x - Math.sin(th) * p.y) + 100,
    y: s * (Math.sin(th) * p.x + Math.cos(th) * p.y) - 40,
  }));
  const m = similarityTransform(ARCFACE_TEMPLATE_112, moved);
  [s * Math.cos(th), -s * Math.sin(th), 100, s * Math.sin(th), s * Math.cos(th), -40].forEach((v, i) => t.ok(close(m[i], v, 1e-9), `m[${i}]`));
  const k = { eyeRight: moved[0], eyeLeft: moved[1], nose: moved[2], mouthRight: moved[3], mouthLeft: moved[4] };
  const w = alignmentWarp(k);
  t.ok(close(w[0] * 38.2946 + w[1] * 51.6963 + w[2], moved[0].x, 1e-6), 'template eye samples the source eye');
});
