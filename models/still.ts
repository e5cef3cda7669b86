import type { FaceEngine } from './engine.js';
import { makeImage, type RgbImage } from '../base/rgb-image.js';
import type { FaceSignals, FiveKeypoints, FrameSignals, Point } from './types.js';
import { primaryFace } from './select.js';

/** Margin added around a still whose face fills the frame, as a fraction of each side. */
export const STILL_PAD_FRACTION = 0.4;

/**
 * Copies `src` into the middle of a larger canvas filled with the mean border colour, so that a
 * tight face crop (a chip portrait, a dataset crop) looks like a face in a scene to the detector.
 */
export function padImage(src: RgbImage, fraction: number): { image: RgbImage; dx: number; dy: number } {
  const dx = Math.round(src.width * fraction);
  const dy = Math.round(src.height * fraction);
  const out = makeImage(src.width + 2 * dx, src.height + 2 * dy);
  const fill = borderMean(src);
  for (let i = 0; i < out.data.length; i += 3) out.data.set(fill, i);
  for (let y = 0; y < src.height; y++) {
    out.data.set(src.data.subarray(y * src.width * 3, (y + 1) * src.width * 3), ((y + dy) * out.width + dx) * 3);
  }
  return { image: out, dx, dy };
}

function borderMean(src: RgbImage): [number, number, number] {
  const acc = [0, 0, 0];
  let n = 0;
  const add = (x: number, y: number) => {
    const i = (y * src.width + x) * 3;
    acc[0] += src.data[i];
    acc[1] += src.data[i + 1];
    acc[2] += src.data[i + 2];
    n++;
  };
  for (let x = 0; x < src.width; x++) {
    add(x, 0);
    add(x, src.height - 1);
  }
  for (let y = 0; y < src.height; y++) {
    add(0, y);
    add(src.width - 1, y);
  }
  return [Math.round(acc[0] / n), Math.round(acc[1] / n), Math.round(acc[2] / n)];
}

/** Below this detection score a still is also tried with a margin, and the more confident result kept. */
export const STILL_CONFIDENT_SCORE = 0.9;

const best = (s: FrameSignals) => primaryFace(s.faces)?.detection.score ?? 0;

const shift = (p: Point, dx: number, dy: number): Point => ({ x: p.x - dx, y: p.y - dy });

function shiftKeypoints(k: FiveKeypoints, dx: number, dy: number): FiveKeypoints {
  return {
    eyeRight: shift(k.eyeRight, dx, dy),
    eyeLeft: shift(k.eyeLeft, dx, dy),
    nose: shift(k.nose, dx, dy),
    mouthRight: shift(k.mouthRight, dx, dy),
    mouthLeft: shift(k.mouthLeft, dx, dy),
  };
}

/** Moves a face found in the padded canvas back into the original image's coordinates. */
export function unpadFace(f: FaceSignals, dx: number, dy: number): FaceSignals {
  const keypoints = shiftKeypoints(f.keypoints, dx, dy);
  return {
    ...f,
    detection: { ...f.detection, box: { ...f.detection.box, x: f.detection.box.x - dx, y: f.detection.box.y - dy }, keypoints },
    landmarks: f.landmarks.map((p) => shift(p, dx, dy)),
    keypoints,
  };
}

/**
 * Analyses a still image; when no confident face is found (a tight crop cuts the face at the frame
 * edge, which the detector was not trained on), tries again with a margin around it and keeps the
 * more confident result, mapped back to the original image's coordinates. `frame` is always the
 * original image: the decision path must see real pixels only, never the synthetic margin (the
 * presentation-attack model reads the context around the face).
 */
export async function analyzeStill(engine: FaceEngine, image: RgbImage): Promise<{ frame: RgbImage; signals: FrameSignals; padded: boolean }> {
  const signals = await engine.analyze(image);
  if (best(signals) >= STILL_CONFIDENT_SCORE) return { frame: image, signals, padded: false };
  const { image: canvas, dx, dy } = padImage(image, STILL_PAD_FRACTION);
  const retry = await engine.analyze(canvas);
  if (best(retry) <= best(signals)) return { frame: image, signals, padded: false };
  return { frame: image, signals: { ...retry, width: image.width, height: image.height, faces: retry.faces.map((f) => unpadFace(f, dx, dy)) }, padded: true };
}
