import type { RgbImage } from '../base/rgb-image.js';
import type { RuntimeInfo } from './runtime/types.js';
import type { FaceSignals, FrameSignals } from './types.js';

/** The decision path for one face: presentation-attack score and identity embedding. */
export interface FaceDecision {
  /** 0 = looks live, 1 = looks like an attack (print, screen replay); the fusion of `attackScores`. */
  attackScore: number;
  /** Each presentation-attack model's own score, by model id (for evaluation; the session uses the fusion). */
  attackScores?: Record<string, number>;
  /** L2-normalised identity embedding. Never leaves the process (not logged, not published). */
  embedding: Float32Array;
  timings: Record<string, number>;
}

export interface EngineModelInfo {
  id: string;
  task: string;
  sha256: string;
  runtime: 'onnx' | 'tfjs';
}

export interface EngineInfo {
  runtimes: RuntimeInfo[];
  models: EngineModelInfo[];
}

/**
 * The face engine: camera frames in, signals out. The liveness path (`analyze`) runs on every frame;
 * the decision path (`decide`) runs on selected frames. Implementations own their model sessions:
 * `start()` loads and verifies them, `stop()` releases them.
 */
export interface FaceEngine {
  start(): Promise<EngineInfo>;
  /** Detection, landmarks, eye openness, head pose and quality for every face in the frame. */
  analyze(frame: RgbImage): Promise<FrameSignals>;
  /** Presentation-attack score and embedding for one face found by `analyze` in the same frame. */
  decide(frame: RgbImage, face: FaceSignals): Promise<FaceDecision>;
  info(): EngineInfo;
  stop(): Promise<void>;
}

/** Cosine similarity of two embeddings (both L2-normalised: the dot product); also of embeddings read back from JSON. */
export function cosineSimilarity(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`embedding sizes differ: ${a.length} vs ${b.length}`);
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}
