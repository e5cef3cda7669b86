/**
 * The pure half of the arm64 parity check: the dump each machine writes (scripts/arm64/parity.ts) and
 * the comparison of two dumps (largest differences per model, per signal, per input). No I/O here.
 */
import { cosineSimilarity } from '../../models/engine.js';
import type { FaceSignals } from '../../models/types.js';

/** What each model gave on one frame when fed the anchor's face (the same crop on both machines). */
export interface ModelOutputs {
  /** fr_detect on the whole frame: the primary face's box [x, y, w, h] (px) and score. */
  detect: { box: number[]; score: number } | null;
  /** fr_landmark on the anchor's box: 68 points flattened [x0, y0, x1, ...] (px). */
  landmarks: number[];
  /** fr_eye on the anchor's landmarks: closed/open probability per eye. */
  eyes: { right: number; left: number } | null;
  /** Each presentation-attack model's score on the anchor's box, by model id. */
  pad: Record<string, number>;
  /** fr_feature on the anchor's keypoints: the L2-normalised embedding. */
  embedding: number[];
}

/** The session-level signals of one frame, each machine on its own chain (own detection, own landmarks). */
export interface FrameSignalsOut {
  yaw: number;
  pitch: number;
  roll: number;
  eyeOpen: number | null;
  attack: number;
  /** Cosine similarity to the embedding of the clip's first frame with a face, on the same machine. */
  similarity: number;
}

export interface DumpFrame {
  index: number;
  timeMs: number;
  /** Only when the frames were decoded on this machine: difference to the shared (host-decoded) frame. */
  pixelDiff?: { max: number; mean: number } | null;
  /** The primary face this machine found (its own chain); null when none. */
  face: FaceSignals | null;
  signals: FrameSignalsOut | null;
  /** Isolated model outputs on the anchor's face; null when the anchor found no face. */
  models: ModelOutputs | null;
  ms: number;
}

export interface ParityDump {
  version: 1;
  arch: string;
  node: string;
  /** `shared`: the frames file decoded on the host; `self`: decoded here with the kiosk's own decoder. */
  inputs: 'shared' | 'self';
  /** Which machine's faces fed the isolated model runs: `self` or the arch of the anchor dump. */
  anchor: string;
  models: { id: string; sha256: string }[];
  clips: { clip: string; frames: DumpFrame[] }[];
}

/** Largest absolute difference, where it happened, and over how many values. */
export interface MaxDiff {
  max: number;
  clip: string | null;
  frame: number | null;
  compared: number;
}

const SIGNALS = ['yaw', 'pitch', 'roll', 'eyeOpen', 'attack', 'similarity'] as const;
export type SignalName = (typeof SIGNALS)[number];

export interface ParityComparison {
  a: { arch: string; inputs: string };
  b: { arch: string; inputs: string; anchor: string };
  /** Per model output: the largest absolute difference (px for boxes and landmarks, probability or score otherwise). */
  models: Record<string, MaxDiff>;
  /** Smallest cosine similarity between the two machines' embeddings of the same crop. */
  embeddingCosineMin: number | null;
  signals: Record<SignalName, MaxDiff>;
  /** Frames where one machine found a face and the other did not. */
  faceFoundMismatch: number;
  frames: number;
  /** Largest pixel difference of self-decoded frames against the shared ones (only for a `self` dump). */
  decode: { maxPixel: number; meanPixel: number; sizeMismatch: number } | null;
}

function emptyDiff(): MaxDiff {
  return { max: 0, clip: null, frame: null, compared: 0 };
}

/** Folds |a - b| of two equal-length number lists into `d`; unequal lengths count as infinitely different. */
export function foldDiff(d: MaxDiff, a: readonly number[], b: readonly number[], clip: string, frame: number): void {
  if (a.length !== b.length) {
    d.max = Number.POSITIVE_INFINITY;
    d.clip = clip;
    d.frame = frame;
    return;
  }
  for (let i = 0; i < a.length; i++) {
    const x = Math.abs(a[i] - b[i]);
    d.compared++;
    if (x > d.max || Number.isNaN(x)) {
      d.max = Number.isNaN(x) ? Number.POSITIVE_INFINITY : x;
      d.clip = clip;
      d.frame = frame;
    }
  }
}

function diffOf(out: Record<string, MaxDiff>, key: string): MaxDiff {
  out[key] ??= emptyDiff();
  return out[key];
}

/** Compares dump `b` (e.g. arm64) with dump `a` (e.g. x86) frame by frame, matching clips by name and frames by index. */
export function compareDumps(a: ParityDump, b: ParityDump): ParityComparison {
  const models: Record<string, MaxDiff> = {};
  const signals = Object.fromEntries(SIGNALS.map((s) => [s, emptyDiff()])) as Record<SignalName, MaxDiff>;
  let embeddingCosineMin: number | null = null;
  let faceFoundMismatch = 0;
  let frames = 0;
  let decode: ParityComparison['decode'] = b.inputs === 'self' ? { maxPixel: 0, meanPixel: 0, sizeMismatch: 0 } : null;
  let meanSum = 0;
  let meanCount = 0;
  const byClip = new Map(a.clips.map((c) => [c.clip, new Map(c.frames.map((f) => [f.index, f]))]));
  for (const clip of b.clips) {
    const other = byClip.get(clip.clip);
    if (!other) continue;
    for (const fb of clip.frames) {
      const fa = other.get(fb.index);
      if (!fa) continue;
      frames++;
      if (decode) {
        if (fb.pixelDiff === null || fb.pixelDiff === undefined) decode.sizeMismatch++;
        else {
          decode.maxPixel = Math.max(decode.maxPixel, fb.pixelDiff.max);
          meanSum += fb.pixelDiff.mean;
          meanCount++;
        }
      }
      if ((fa.face === null) !== (fb.face === null)) faceFoundMismatch++;
      if (fa.signals && fb.signals) {
        for (const s of SIGNALS) {
          const x = fa.signals[s];
          const y = fb.signals[s];
          if (x !== null && y !== null) foldDiff(signals[s], [x], [y], clip.clip, fb.index);
        }
      }
      const ma = fa.models;
      const mb = fb.models;
      if (!ma || !mb) continue;
      if (ma.detect && mb.detect) {
        foldDiff(diffOf(models, 'detect.box_px'), ma.detect.box, mb.detect.box, clip.clip, fb.index);
        foldDiff(diffOf(models, 'detect.score'), [ma.detect.score], [mb.detect.score], clip.clip, fb.index);
      }
      foldDiff(diffOf(models, 'landmarks_px'), ma.landmarks, mb.landmarks, clip.clip, fb.index);
      if (ma.eyes && mb.eyes) foldDiff(diffOf(models, 'eyes.probability'), [ma.eyes.right, ma.eyes.left], [mb.eyes.right, mb.eyes.left], clip.clip, fb.index);
      for (const [id, score] of Object.entries(mb.pad)) {
        if (ma.pad[id] !== undefined) foldDiff(diffOf(models, `pad.${id}`), [ma.pad[id]], [score], clip.clip, fb.index);
      }
      foldDiff(diffOf(models, 'embedding.element'), ma.embedding, mb.embedding, clip.clip, fb.index);
      if (ma.embedding.length === mb.embedding.length && ma.embedding.length > 0) {
        const c = cosineSimilarity(ma.embedding, mb.embedding);
        embeddingCosineMin = embeddingCosineMin === null ? c : Math.min(embeddingCosineMin, c);
      }
    }
  }
  if (decode) decode = { ...decode, meanPixel: meanCount ? meanSum / meanCount : 0 };
  return {
    a: { arch: a.arch, inputs: a.inputs },
    b: { arch: b.arch, inputs: b.inputs, anchor: b.anchor },
    models,
    embeddingCosineMin,
    signals,
    faceFoundMismatch,
    frames,
    decode,
  };
}

/** One verdict per case, as `eval sessions --json` prints them. */
export interface SessionVerdict {
  case: string;
  expected: string;
  verdict: string;
  reasons: string[];
  match: number | null;
  attack: number | null;
}

/** Picks the verdicts out of an `eval sessions --json` document. */
export function sessionVerdicts(doc: unknown): SessionVerdict[] {
  const cases = (doc as { cases?: unknown }).cases;
  if (!Array.isArray(cases)) throw new Error('not an eval sessions document: no "cases" array');
  return cases.map((c: Record<string, unknown>) => {
    const actual = c.actual as { verdict: string; reasons: string[] };
    const expected = c.expected as { verdict: string };
    const scores = (c.scores ?? {}) as { match?: number | null; attack?: number | null };
    return {
      case: String(c.case),
      expected: expected.verdict,
      verdict: actual.verdict,
      reasons: actual.reasons,
      match: scores.match ?? null,
      attack: scores.attack ?? null,
    };
  });
}

/** Side-by-side verdicts of the same cases on two machines; `same` is false when the verdict or first reason differs. */
export function compareVerdicts(
  a: readonly SessionVerdict[],
  b: readonly SessionVerdict[],
): { case: string; expected: string; a: SessionVerdict | null; b: SessionVerdict | null; same: boolean }[] {
  const names = [...new Set([...a.map((v) => v.case), ...b.map((v) => v.case)])];
  return names.map((name) => {
    const va = a.find((v) => v.case === name) ?? null;
    const vb = b.find((v) => v.case === name) ?? null;
    const same = va !== null && vb !== null && va.verdict === vb.verdict && (va.reasons[0] ?? null) === (vb.reasons[0] ?? null);
    return { case: name, expected: (va ?? vb)?.expected ?? '?', a: va, b: vb, same };
  });
}
