import { cropResize, toGray, type Box, type RgbImage } from '../../base/rgb-image.js';
import type { ModelSession, TensorData } from '../runtime/types.js';
import type { Point } from '../types.js';
import { IBUG } from '../landmarks/landmarks68.js';

export const EYE_INPUT = 24;

/**
 * Square eye crop from the six eye points: centred on the four lid points, side = 1.6 x the
 * corner-to-corner width.
 */
export function eyeBox(points: Point[], idx: readonly number[]): Box {
  const [c1, u1, u2, c2, l1, l2] = idx.map((i) => points[i]);
  const cx = (u1.x + u2.x + l1.x + l2.x) / 4;
  const cy = (u1.y + u2.y + l1.y + l2.y) / 4;
  const side = Math.max(4, Math.abs(c2.x - c1.x) * 1.6);
  return { x: cx - side / 2, y: cy - side / 2, width: side, height: side };
}

/** 24x24 grey eye crop scaled by 1/255, NCHW. */
export function preprocessEye(frame: RgbImage, box: Box): TensorData {
  const grey = toGray(cropResize(frame, box, EYE_INPUT, EYE_INPUT));
  for (let i = 0; i < grey.length; i++) grey[i] /= 255;
  return { data: grey, shape: [1, 1, EYE_INPUT, EYE_INPUT] };
}

export function softmax(v: ArrayLike<number>): number[] {
  let max = -Infinity;
  for (let i = 0; i < v.length; i++) max = Math.max(max, v[i]);
  const e = Array.from({ length: v.length }, (_, i) => Math.exp(v[i] - max));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

/** Index of the "open" class in the eye-state model's two outputs (measured on the blink video). */
export const EYE_OPEN_CLASS = 1;

/** Open/closed eye classifier (fr_eye); returns the probability that each eye is open. */
export class EyeState {
  constructor(private readonly session: ModelSession) {}

  async run(frame: RgbImage, points: Point[]): Promise<{ right: number; left: number }> {
    const name = this.session.inputNames[0];
    const outName = this.session.outputNames[0];
    const r = await this.session.run({ [name]: preprocessEye(frame, eyeBox(points, IBUG.rightEye)) });
    const l = await this.session.run({ [name]: preprocessEye(frame, eyeBox(points, IBUG.leftEye)) });
    return { right: softmax(r[outName].data)[EYE_OPEN_CLASS], left: softmax(l[outName].data)[EYE_OPEN_CLASS] };
  }
}
