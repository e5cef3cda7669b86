/**
 * What the evaluation runners need from the outside world, passed in so that they run the same
 * against the real engine and decoders (the CLI) and against small fakes (the unit tests).
 */
import type { FaceEngine } from '../../models/engine.js';
import type { RgbImage } from '../../models/image/rgb-image.js';
import type { FaceSignals } from '../../models/types.js';
import { KioskError, toKioskError, type ErrorCode } from '../errors.js';

/** One decoded video frame. */
export interface VideoFrame {
  index: number;
  timeMs: number;
  image: RgbImage;
}

export interface EvalDeps {
  /** A started engine; the runners never start or stop it. */
  engine: FaceEngine;
  /** Decodes an image given its path as written in the label file (the caller resolves the root). */
  loadImage(path: string): Promise<RgbImage>;
  /** Decodes a video's frames in order, given its path as written in the label file. */
  frames(path: string): AsyncIterable<VideoFrame>;
  /** Called after each file, e.g. for a progress line on stderr. */
  onProgress?(done: number, total: number, file: string): void;
}

/** A file the evaluation could not use, and why; the batch goes on without it. */
export interface FileFailure {
  file: string;
  code: ErrorCode;
  message: string;
}

/** The face with the largest box: in a kiosk frame, the customer in front of the camera. */
export function largestFace(faces: readonly FaceSignals[]): FaceSignals | undefined {
  let best: FaceSignals | undefined;
  let bestArea = -1;
  for (const f of faces) {
    const area = f.detection.box.width * f.detection.box.height;
    if (area > bestArea) {
      best = f;
      bestArea = area;
    }
  }
  return best;
}

/** Turns a thrown error into a failure record naming the file. */
export function failureOf(file: string, err: unknown): FileFailure {
  const e = toKioskError(err, 'E_INTERNAL', file);
  return { file, code: e.code, message: e.message };
}

/** The decision path on the largest face of one image: loads, analyses, decides. `E_NO_FACE` when none. */
export async function decideLargestFace(deps: EvalDeps, file: string): Promise<{ attackScore: number; embedding: Float32Array }> {
  const image = await deps.loadImage(file);
  const signals = await deps.engine.analyze(image);
  const face = largestFace(signals.faces);
  if (!face) throw new KioskError('E_NO_FACE', 'no face detected', { subject: file });
  const d = await deps.engine.decide(image, face);
  return { attackScore: d.attackScore, embedding: d.embedding };
}
