import { cropResize, scaledInside, toGray, type Box, type RgbImage } from '../../base/rgb-image.js';
import type { ModelSession, TensorData } from '../runtime/types.js';
import type { FiveKeypoints, Point } from '../types.js';

export const LANDMARK_INPUT = 64;

/** iBUG 68-point indices used downstream. Points 36-41 are the subject's right eye (image left). */
export const IBUG = {
  jaw: [0, 16] as const,
  chin: 8,
  noseTip: 30,
  rightEye: [36, 37, 38, 39, 40, 41] as const,
  leftEye: [42, 43, 44, 45, 46, 47] as const,
  mouthRight: 48,
  mouthLeft: 54,
} as const;

export interface LandmarkInput {
  tensor: TensorData;
  /** The face crop in source pixels that the model saw. */
  crop: Box;
  /** The 64x64 grey crop (0-255), reused for the quality measures. */
  grey: Float32Array;
}

/** Face box (as is, shifted inside the frame) to 64x64 grey, scaled by 1/256, NCHW. */
export function preprocessLandmarks(frame: RgbImage, box: Box): LandmarkInput {
  const crop = scaledInside(box, 1, frame.width, frame.height);
  const grey = toGray(cropResize(frame, crop, LANDMARK_INPUT, LANDMARK_INPUT));
  const data = new Float32Array(grey.length);
  for (let i = 0; i < grey.length; i++) data[i] = grey[i] / 256;
  return { tensor: { data, shape: [1, 1, LANDMARK_INPUT, LANDMARK_INPUT] }, crop, grey };
}

/** Model output (68 x/y pairs normalised to the crop) to source-pixel points. */
export function decodeLandmarks(out: Float32Array, crop: Box): Point[] {
  const pts: Point[] = [];
  for (let i = 0; i + 1 < out.length; i += 2) pts.push({ x: crop.x + out[i] * crop.width, y: crop.y + out[i + 1] * crop.height });
  return pts;
}

function mean(points: Point[], idx: readonly number[]): Point {
  let x = 0;
  let y = 0;
  for (const i of idx) {
    x += points[i].x;
    y += points[i].y;
  }
  return { x: x / idx.length, y: y / idx.length };
}

/** The five alignment keypoints from 68 landmarks: eye centres, nose tip, mouth corners. */
export function fiveFrom68(p: Point[]): FiveKeypoints {
  return {
    eyeRight: mean(p, IBUG.rightEye),
    eyeLeft: mean(p, IBUG.leftEye),
    nose: p[IBUG.noseTip],
    mouthRight: p[IBUG.mouthRight],
    mouthLeft: p[IBUG.mouthLeft],
  };
}

/** 68-point landmark regressor (fr_landmark) on the detector's face box. */
export class Landmarks68 {
  constructor(private readonly session: ModelSession) {}

  async run(frame: RgbImage, box: Box): Promise<{ points: Point[]; grey: Float32Array }> {
    const input = preprocessLandmarks(frame, box);
    const out = await this.session.run({ [this.session.inputNames[0]]: input.tensor });
    const first = out[this.session.outputNames[0]];
    return { points: decodeLandmarks(first.data, input.crop), grey: input.grey };
  }
}
