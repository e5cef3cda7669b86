import type { Affine } from '../../base/rgb-image.js';
import type { FiveKeypoints, Point } from '../types.js';

/**
 * The standard 112x112 ArcFace alignment template (InsightFace): subject's right eye, left eye,
 * nose tip, right and left mouth corners, in output pixels.
 */
export const ARCFACE_TEMPLATE_112: readonly Point[] = [
  { x: 38.2946, y: 51.6963 },
  { x: 73.5318, y: 51.5014 },
  { x: 56.0252, y: 71.7366 },
  { x: 41.5493, y: 92.3655 },
  { x: 70.7299, y: 92.2041 },
];

export function keypointList(k: FiveKeypoints): Point[] {
  return [k.eyeRight, k.eyeLeft, k.nose, k.mouthRight, k.mouthLeft];
}

/**
 * Least-squares similarity transform (rotation, uniform scale, translation) taking `from` onto `to`
 * (Umeyama's method in 2-D, written with complex numbers: to ≈ z·from + t).
 * Returned as an Affine usable by warpAffine (which maps output pixels to source pixels).
 */
export function similarityTransform(from: readonly Point[], to: readonly Point[]): Affine {
  const n = from.length;
  let fx = 0,
    fy = 0,
    tx = 0,
    ty = 0;
  for (let i = 0; i < n; i++) {
    fx += from[i].x;
    fy += from[i].y;
    tx += to[i].x;
    ty += to[i].y;
  }
  fx /= n;
  fy /= n;
  tx /= n;
  ty /= n;
  let re = 0,
    im = 0,
    den = 0;
  for (let i = 0; i < n; i++) {
    const ax = from[i].x - fx,
      ay = from[i].y - fy;
    const bx = to[i].x - tx,
      by = to[i].y - ty;
    re += ax * bx + ay * by; // Re(conj(a) b)
    im += ax * by - ay * bx; // Im(conj(a) b)
    den += ax * ax + ay * ay;
  }
  const p = den === 0 ? 1 : re / den;
  const q = den === 0 ? 0 : im / den;
  return [p, -q, tx - (p * fx - q * fy), q, p, ty - (q * fx + p * fy)];
}

/** The warp that samples a 112x112 aligned face from a frame, given the face's five keypoints. */
export function alignmentWarp(k: FiveKeypoints): Affine {
  return similarityTransform(ARCFACE_TEMPLATE_112, keypointList(k));
}
