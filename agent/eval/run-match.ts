/**
 * `eval match`: 1:1 verification accuracy on labelled pairs. Each distinct image is embedded
 * once (primary face: most confident, then largest); images without a face are failures to detect (FTD), counted and listed,
 * and the pairs that use them are left out of the rates (and counted as left out).
 */
import { cosineSimilarity } from '../../models/engine.js';
import type { VerifyPair } from './labels.js';
import { decidePrimaryFace, failureOf, type EvalDeps, type FileFailure } from './deps.js';
import {
  equalErrorRate, matchRatesAt, rocAuc, share, tarAtFar,
  type EerResult, type MatchRates, type Share, type TarAtFarResult,
} from './metrics.js';

export interface MatchEvalOptions {
  /** Similarity threshold at which to report FNMR/FMR (accept when similarity >= threshold). */
  threshold?: number;
}

/** Accuracy figures for one set of scored pairs. Keys are snake_case: this is the `--json` document. */
export interface MatchFigures {
  pairs: number;
  genuine: number;
  impostor: number;
  auc: number | null;
  eer: EerResult;
  tar_at_far_1pct: TarAtFarResult;
  tar_at_far_0_1pct: TarAtFarResult;
  /** FNMR/FMR at the given threshold; null when none was given (never one tuned on these pairs). */
  at_threshold: MatchRates | null;
}

export interface MatchReport extends MatchFigures {
  /** Pairs in the label file. */
  pairs_total: number;
  /** Pairs left out because an image failed (FTD or unreadable). */
  pairs_excluded: number;
  /** Distinct images: how many had no face (FTD) out of all. */
  ftd: Share;
  /** Distinct images that could not be read or analysed, FTD excluded. */
  failed: number;
  failures: FileFailure[];
  by_source: ({ source: string } & MatchFigures)[];
}

interface ScoredPair {
  source: string;
  same: boolean;
  similarity: number;
}

function figures(scored: readonly ScoredPair[], threshold: number | undefined): MatchFigures {
  const genuine = scored.filter((p) => p.same).map((p) => p.similarity);
  const impostor = scored.filter((p) => !p.same).map((p) => p.similarity);
  return {
    pairs: scored.length,
    genuine: genuine.length,
    impostor: impostor.length,
    auc: rocAuc(genuine, impostor).auc,
    eer: equalErrorRate(genuine, impostor),
    tar_at_far_1pct: tarAtFar(genuine, impostor, 0.01),
    tar_at_far_0_1pct: tarAtFar(genuine, impostor, 0.001),
    at_threshold: threshold === undefined ? null : matchRatesAt(genuine, impostor, threshold),
  };
}

/** Embeds every distinct image once, scores every pair by cosine similarity, computes the figures. */
export async function runMatchEval(pairs: readonly VerifyPair[], deps: EvalDeps, options: MatchEvalOptions = {}): Promise<MatchReport> {
  const images = [...new Set(pairs.flatMap((p) => [p.imageA, p.imageB]))];
  const embeddings = new Map<string, Float32Array>();
  const failures: FileFailure[] = [];
  for (const [i, file] of images.entries()) {
    try {
      embeddings.set(file, (await decidePrimaryFace(deps, file)).embedding);
    } catch (err) {
      failures.push(failureOf(file, err));
    }
    deps.onProgress?.(i + 1, images.length, file);
  }
  const scored: ScoredPair[] = [];
  for (const p of pairs) {
    const a = embeddings.get(p.imageA);
    const b = embeddings.get(p.imageB);
    if (a && b) scored.push({ source: p.source, same: p.same, similarity: cosineSimilarity(a, b) });
  }
  const ftdCount = failures.filter((f) => f.code === 'E_NO_FACE').length;
  const sources = [...new Set(pairs.map((p) => p.source))].sort();
  return {
    pairs_total: pairs.length,
    pairs_excluded: pairs.length - scored.length,
    ftd: share(ftdCount, images.length),
    failed: failures.length - ftdCount,
    failures,
    ...figures(scored, options.threshold),
    by_source: sources.map((source) => ({ source, ...figures(scored.filter((p) => p.source === source), options.threshold) })),
  };
}
