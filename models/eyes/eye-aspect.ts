import type { Point } from '../types.js';
import { IBUG } from '../landmarks/landmarks68.js';

const dist = (a: Point, b: Point) => Math.hypot(a.x - b.x, a.y - b.y);

/**
 * Eye aspect ratio (Soukupová and Čech, 2016) of one eye given its six iBUG points p1..p6:
 * (|p2 - p6| + |p3 - p5|) / (2 |p1 - p4|). About 0.25-0.35 open, falls toward 0 when closed.
 */
export function eyeAspectRatio(p: Point[], idx: readonly number[]): number {
  const [p1, p2, p3, p4, p5, p6] = idx.map((i) => p[i]);
  const width = dist(p1, p4);
  return width === 0 ? 0 : (dist(p2, p6) + dist(p3, p5)) / (2 * width);
}

/** EAR of the subject's right and left eye from 68 landmarks. */
export function eyeOpenness(points: Point[]): { right: number; left: number } {
  return { right: eyeAspectRatio(points, IBUG.rightEye), left: eyeAspectRatio(points, IBUG.leftEye) };
}
