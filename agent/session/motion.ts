/**
 * Motion consistency from landmark tracks. A flat photo or screen that is tilted moves like a
 * plane: its landmarks in any two views are related exactly by a homography. A real head is not
 * flat (the nose stands out, the jaw line and ears sit back), so when it turns the landmarks leave
 * a residual no homography can explain (parallax). The residual of a least-squares homography,
 * relative to the inter-ocular distance, is the live/flat signal.
 */
import type { Point } from '../../models/types.js';

/** A 3x3 homography, row-major, mapping (x, y, 1) to (u, v, w) ~ (u/w, v/w). */
export type Homography = readonly [number, number, number, number, number, number, number, number, number];

export interface MotionResidual {
  /** RMS reprojection error divided by the frontal frame's inter-ocular distance (dimensionless). */
  residual: number;
  /** RMS reprojection error in the frontal frame, px. */
  rmsPx: number;
  /** Inter-ocular distance of the frontal frame, px. */
  interEyePx: number;
}

/**
 * Least-squares homography mapping `src[i]` to `dst[i]` (direct linear transform with Hartley
 * normalisation of both point sets; the solution is the eigenvector of AᵀA of smallest eigenvalue).
 * Needs at least 4 point pairs, not all collinear.
 */
export function fitHomography(src: readonly Point[], dst: readonly Point[]): Homography {
  if (src.length !== dst.length) throw new RangeError(`point sets differ in size: ${src.length} vs ${dst.length}`);
  if (src.length < 4) throw new RangeError(`a homography needs at least 4 point pairs, got ${src.length}`);
  const ts = normaliser(src);
  const td = normaliser(dst);
  const ata = new Float64Array(81);
  const row = new Float64Array(9);
  const accumulate = () => {
    for (let i = 0; i < 9; i++) for (let j = i; j < 9; j++) ata[i * 9 + j] += row[i] * row[j];
  };
  for (let k = 0; k < src.length; k++) {
    const x = (src[k].x - ts.cx) * ts.s;
    const y = (src[k].y - ts.cy) * ts.s;
    const u = (dst[k].x - td.cx) * td.s;
    const v = (dst[k].y - td.cy) * td.s;
    row.set([-x, -y, -1, 0, 0, 0, u * x, u * y, u]);
    accumulate();
    row.set([0, 0, 0, -x, -y, -1, v * x, v * y, v]);
    accumulate();
  }
  for (let i = 0; i < 9; i++) for (let j = 0; j < i; j++) ata[i * 9 + j] = ata[j * 9 + i];
  const hn = smallestEigenvector(ata, 9);
  // H = Td^-1 * Hn * Ts, with Ts = [s 0 -s*cx; 0 s -s*cy; 0 0 1].
  const tsM = [ts.s, 0, -ts.s * ts.cx, 0, ts.s, -ts.s * ts.cy, 0, 0, 1];
  const tdInv = [1 / td.s, 0, td.cx, 0, 1 / td.s, td.cy, 0, 0, 1];
  const h = mul3(tdInv, mul3(hn, tsM));
  const scale = Math.abs(h[8]) > 1e-12 ? h[8] : Math.hypot(...h);
  const n = (i: number) => h[i] / scale;
  return [n(0), n(1), n(2), n(3), n(4), n(5), n(6), n(7), n(8)];
}

/** Applies `h` to a point. */
export function applyHomography(h: Homography, p: Point): Point {
  const w = h[6] * p.x + h[7] * p.y + h[8];
  return { x: (h[0] * p.x + h[1] * p.y + h[2]) / w, y: (h[3] * p.x + h[4] * p.y + h[5]) / w };
}

/** Root-mean-square distance between `h(src[i])` and `dst[i]`, px. */
export function reprojectionRms(h: Homography, src: readonly Point[], dst: readonly Point[]): number {
  let sum = 0;
  for (let i = 0; i < src.length; i++) {
    const p = applyHomography(h, src[i]);
    sum += (p.x - dst[i].x) ** 2 + (p.y - dst[i].y) ** 2;
  }
  return Math.sqrt(sum / src.length);
}

/** Inter-ocular distance of 68 iBUG landmarks: between the centres of points 36-41 and 42-47, px. */
export function interEyeDistance(landmarks: readonly Point[]): number {
  if (landmarks.length !== 68) throw new RangeError(`expected 68 landmarks, got ${landmarks.length}`);
  const centre = (from: number) => {
    let x = 0;
    let y = 0;
    for (let i = from; i < from + 6; i++) {
      x += landmarks[i].x;
      y += landmarks[i].y;
    }
    return { x: x / 6, y: y / 6 };
  };
  const a = centre(36);
  const b = centre(42);
  return Math.hypot(a.x - b.x, a.y - b.y);
}

/**
 * The live/flat signal between a frontal frame and a turned frame of the same face (68 iBUG
 * landmarks each): fits the homography turned -> frontal over all landmarks and measures the RMS
 * error in the frontal frame, divided by its inter-ocular distance, so that the score does not
 * depend on the distance to the camera. About 0 for a plane; clearly above 0 for a turning head.
 */
export function motionResidual(frontal: readonly Point[], turned: readonly Point[]): MotionResidual {
  const interEyePx = interEyeDistance(frontal);
  if (turned.length !== 68) throw new RangeError(`expected 68 landmarks, got ${turned.length}`);
  if (!(interEyePx > 0)) throw new RangeError('the frontal landmarks have no inter-ocular distance');
  const h = fitHomography(turned, frontal);
  const rmsPx = reprojectionRms(h, turned, frontal);
  return { residual: rmsPx / interEyePx, rmsPx, interEyePx };
}

/** Centroid and the scale that brings the mean distance to the centroid to sqrt(2). */
function normaliser(points: readonly Point[]): { cx: number; cy: number; s: number } {
  let cx = 0;
  let cy = 0;
  for (const p of points) {
    cx += p.x;
    cy += p.y;
  }
  cx /= points.length;
  cy /= points.length;
  let d = 0;
  for (const p of points) d += Math.hypot(p.x - cx, p.y - cy);
  d /= points.length;
  if (!(d > 0)) throw new RangeError('all points coincide');
  return { cx, cy, s: Math.SQRT2 / d };
}

function mul3(a: ArrayLike<number>, b: ArrayLike<number>): number[] {
  const out = new Array<number>(9).fill(0);
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 3; k++) out[i * 3 + j] += a[i * 3 + k] * b[k * 3 + j];
  return out;
}

/** Eigenvector of the smallest eigenvalue of a symmetric n x n matrix (cyclic Jacobi rotations). */
function smallestEigenvector(sym: Float64Array, n: number): number[] {
  const a = Float64Array.from(sym);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q] ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p];
          const akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k];
          const aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p];
          const vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  let best = 0;
  for (let i = 1; i < n; i++) if (a[i * n + i] < a[best * n + best]) best = i;
  const out: number[] = [];
  for (let k = 0; k < n; k++) out.push(v[k * n + best]);
  return out;
}
