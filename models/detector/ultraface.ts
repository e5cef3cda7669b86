import { resize, toPlanar, type RgbImage } from '../../base/rgb-image.js';
import type { ModelSession, TensorData } from '../runtime/types.js';
import type { FaceDetection } from '../types.js';
import { nonMaxSuppression } from './nms.js';

export const ULTRAFACE_INPUT = { width: 320, height: 240 } as const;

export interface DetectorOptions {
  /** Minimum face probability to keep a box. */
  scoreThreshold: number;
  /** Boxes overlapping a better one by more than this IoU are dropped. */
  iouThreshold: number;
  /** At most this many faces per frame. */
  maxFaces: number;
  /** Boxes narrower than this many source pixels are ignored (too small to analyse). */
  minFacePx: number;
}

export const DEFAULT_DETECTOR_OPTIONS: DetectorOptions = { scoreThreshold: 0.7, iouThreshold: 0.3, maxFaces: 8, minFacePx: 24 };

/** Whole frame to 320x240, RGB, (x - 127) / 128, NCHW (the aspect ratio is not kept, as in training). */
export function preprocessUltraface(frame: RgbImage): TensorData {
  const small = resize(frame, ULTRAFACE_INPUT.width, ULTRAFACE_INPUT.height);
  return { data: toPlanar(small, 'rgb', 127, 128), shape: [1, 3, ULTRAFACE_INPUT.height, ULTRAFACE_INPUT.width] };
}

/**
 * Decodes UltraFace outputs: `scores` [N,2] (background, face) and `boxes` [N,4] as normalised
 * corners (x0, y0, x1, y1), already decoded against the priors inside the graph.
 */
export function decodeUltraface(scores: Float32Array, boxes: Float32Array, width: number, height: number, opts: DetectorOptions): FaceDetection[] {
  const n = scores.length / 2;
  const found: FaceDetection[] = [];
  for (let i = 0; i < n; i++) {
    const score = scores[2 * i + 1];
    if (score < opts.scoreThreshold) continue;
    const x0 = Math.max(0, boxes[4 * i] * width);
    const y0 = Math.max(0, boxes[4 * i + 1] * height);
    const x1 = Math.min(width, boxes[4 * i + 2] * width);
    const y1 = Math.min(height, boxes[4 * i + 3] * height);
    if (x1 - x0 < opts.minFacePx || y1 - y0 < opts.minFacePx) continue;
    found.push({ box: { x: x0, y: y0, width: x1 - x0, height: y1 - y0 }, score });
  }
  return nonMaxSuppression(found, opts.iouThreshold, opts.maxFaces);
}

/** UltraFace RFB-320 face detector (fr_detect). */
export class UltrafaceDetector {
  constructor(
    private readonly session: ModelSession,
    private readonly options: DetectorOptions = DEFAULT_DETECTOR_OPTIONS,
  ) {}

  async detect(frame: RgbImage): Promise<FaceDetection[]> {
    const out = await this.session.run({ [this.session.inputNames[0]]: preprocessUltraface(frame) });
    return decodeUltraface(out.scores.data, out.boxes.data, frame.width, frame.height, this.options);
  }
}
