import type { HeadPose, Point } from '../types.js';
import { IBUG } from '../landmarks/landmarks68.js';

/**
 * A generic 3-D face (millimetres, adult average proportions) for six iBUG landmarks, in camera-aligned
 * axes at the frontal pose: x toward the subject's own left (the image's right), y down, z away from
 * the camera (the nose tip is nearest).
 */
export const FACE_MODEL_3D: ReadonlyArray<{ index: number; p: readonly [number, number, number] }> = [
  { index: IBUG.noseTip, p: [0, 0, 0] },
  { index: IBUG.chin, p: [0, 63.6, 12.5] },
  { index: 36, p: [-43.3, -32.7, 26] }, // subject's right eye, outer corner
  { index: 45, p: [43.3, -32.7, 26] }, // subject's left eye, outer corner
  { index: IBUG.mouthRight, p: [-28.9, 28.9, 24.1] },
  { index: IBUG.mouthLeft, p: [28.9, 28.9, 24.1] },
];

export type Mat3 = [[number, number, number], [number, number, number], [number, number, number]];

const rad = Math.PI / 180;

/**
 * Rotation for a pose in our convention: R = Rz(roll) · Ry(-yaw) · Rx(-pitch), acting on model points.
 * yaw > 0 turns the nose toward the subject's own left (image right), pitch > 0 raises it (look up),
 * roll > 0 lowers the subject's left side (tilt toward the left shoulder).
 */
export function rotationFromPose({ yaw, pitch, roll }: HeadPose): Mat3 {
  const a = -yaw * rad;
  const b = -pitch * rad;
  const c = roll * rad;
  const [ca, sa, cb, sb, cc, sc] = [Math.cos(a), Math.sin(a), Math.cos(b), Math.sin(b), Math.cos(c), Math.sin(c)];
  // Rz(c) * Ry(a) * Rx(b)
  return [
    [cc * ca, cc * sa * sb - sc * cb, cc * sa * cb + sc * sb],
    [sc * ca, sc * sa * sb + cc * cb, sc * sa * cb - cc * sb],
    [-sa, ca * sb, ca * cb],
  ];
}

/** Inverse of rotationFromPose. */
export function poseFromRotation(r: Mat3): HeadPose {
  const a = Math.asin(Math.max(-1, Math.min(1, -r[2][0])));
  const b = Math.atan2(r[2][1], r[2][2]);
  const c = Math.atan2(r[1][0], r[0][0]);
  return { yaw: -a / rad, pitch: -b / rad, roll: c / rad };
}

/** Solves the 4x4 system M x = v by Gaussian elimination with partial pivoting. */
function solve4(m: number[][], v: number[]): number[] | null {
  const a = m.map((row, i) => [...row, v[i]]);
  for (let c = 0; c < 4; c++) {
    let p = c;
    for (let r = c + 1; r < 4; r++) if (Math.abs(a[r][c]) > Math.abs(a[p][c])) p = r;
    if (Math.abs(a[p][c]) < 1e-12) return null;
    [a[c], a[p]] = [a[p], a[c]];
    for (let r = 0; r < 4; r++) {
      if (r === c) continue;
      const f = a[r][c] / a[c][c];
      for (let k = c; k < 5; k++) a[r][k] -= f * a[c][k];
    }
  }
  return a.map((row, i) => row[4] / row[i]);
}

const cross = (u: number[], v: number[]) => [u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]];
const norm = (u: number[]) => Math.hypot(u[0], u[1], u[2]);

/**
 * Head pose from 68 landmarks by a scaled-orthographic fit (POS) of the generic 3-D face: a least-squares
 * 2x4 affine map from model to image, whose rows are orthonormalised into a rotation.
 * Weak perspective is accurate enough at kiosk distances (face depth << camera distance).
 */
export function estimateHeadPose(points: Point[]): HeadPose {
  const ata = [0, 1, 2, 3].map(() => [0, 0, 0, 0]);
  const atu = [0, 0, 0, 0];
  const atv = [0, 0, 0, 0];
  for (const { index, p } of FACE_MODEL_3D) {
    const row = [p[0], p[1], p[2], 1];
    const q = points[index];
    for (let i = 0; i < 4; i++) {
      for (let j = 0; j < 4; j++) ata[i][j] += row[i] * row[j];
      atu[i] += row[i] * q.x;
      atv[i] += row[i] * q.y;
    }
  }
  const r1 = solve4(ata, atu);
  const r2 = solve4(ata, atv);
  if (!r1 || !r2) return { yaw: 0, pitch: 0, roll: 0 };
  const a = r1.slice(0, 3);
  const b = r2.slice(0, 3);
  const n1 = norm(a);
  const n2 = norm(b);
  if (n1 === 0 || n2 === 0) return { yaw: 0, pitch: 0, roll: 0 };
  const u = a.map((x) => x / n1);
  let v = b.map((x) => x / n2);
  // Gram-Schmidt: make the second row orthogonal to the first.
  const d = u[0] * v[0] + u[1] * v[1] + u[2] * v[2];
  v = v.map((x, i) => x - d * u[i]);
  const nv = norm(v);
  v = v.map((x) => x / nv);
  const w = cross(u, v);
  return poseFromRotation([u as [number, number, number], v as [number, number, number], w as [number, number, number]]);
}
