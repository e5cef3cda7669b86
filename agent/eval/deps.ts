/**
 * What the evaluation runners need from the outside world, passed in so that they run the same
 * against the real engine and decoders (the CLI) and against small fakes (the unit tests).
 */
import type { FaceEngine } from '../../models/engine.js';
import type { RgbImage } from '../../base/rgb-image.js';
import { primaryFace } from '../../models/select.js';
import { analyzeStill } from '../../models/still.js';
import { KioskError, toKioskError, type ErrorCode } from '../../base/errors.js';

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

/** Turns a thrown error into a failure record naming the file. */
export function failureOf(file: string, err: unknown): FileFailure {
  const e = toKioskError(err, 'E_INTERNAL', file);
  return { file, code: e.code, message: e.message };
}

/**
 * The decision path on the primary face of one still image (see primaryFace; a tight crop is retried
 * with a margin, see analyzeStill): loads, analyses, decides. `E_NO_FACE` when none.
 */
export async function decidePrimaryFace(
  deps: EvalDeps,
  file: string,
): Promise<{ attackScore: number; attackScores: Record<string, number>; embedding: Float32Array }> {
  const { frame, signals } = await analyzeStill(deps.engine, await deps.loadImage(file));
  const face = primaryFace(signals.faces);
  if (!face) throw new KioskError('E_NO_FACE', 'no face detected', { subject: file });
  const d = await deps.engine.decide(frame, face);
  return { attackScore: d.attackScore, attackScores: d.attackScores ?? {}, embedding: d.embedding };
}
