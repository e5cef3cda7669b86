/**
 * `eval match`: 1:1 verification accuracy on labelled pairs. Each distinct image is embedded
 * once (primary face: most confident, then largest); images without a face are failures to detect (FTD), counted and listed,
 * and the pairs that use them are left out of the rates (and counted as left out).
 */
import { cosineSimilarity } from '../../models/engine.js';
import type { VerifyPair } from './labels.js';
import { decidePrimaryFace, failureOf, type EvalDeps, type FileFailure } from './deps.js';
import {
  chooseThreshold,
  equalErrorRate,
  matchRatesAt,
  rocAuc,
  share,
  tarAtFar,
  type EerResult,
  type MatchRates,
  type Rate,
  type Share,
  type TarAtFarResult,
} from './metrics.js';
import { KioskError } from '../../base/errors.js';

export interface MatchEvalOptions {
  /** Operating threshold at which to report FNMR/FMR (accept when similarity >= threshold): the session's by default at the CLI. */
  threshold?: number;
  /**
   * Choose a threshold on some pairs (the lowest similarity with FMR <= `fmrTarget` there) and
   * report FNMR/FMR at it on others: how an operating threshold is fitted on one group of people
   * and reported on another. `source`: the pairs whose source contains the text, reported on the
   * rest; `half`: the identities (connected components of mated pairs), sorted and dealt
   * alternately into halves a and b, calibrated on the pairs within one half, reported on the pairs
   * within the other (pairs across the halves are used for neither).
   */
  calibrate?: { source: string } | { half: 'a' | 'b' };
  /** FMR allowed on the calibration pairs (default 0.001). */
  fmrTarget?: number;
}

/** A threshold chosen on some pairs and reported on the others. */
export interface MatchCalibration {
  calibration_source: string;
  rule: string;
  threshold: number;
  calibration: { pairs: number; fmr: Rate; fnmr: Rate };
  held_out: { pairs: number; fmr: Rate; fnmr: Rate };
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
  /** Present with `calibrate`. */
  calibrated?: MatchCalibration;
  /** The similarity of every scored pair, by class (for the pictures). */
  scores: { genuine: number[]; impostor: number[] };
}

interface ScoredPair {
  imageA: string;
  imageB: string;
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
    if (a && b) scored.push({ imageA: p.imageA, imageB: p.imageB, source: p.source, same: p.same, similarity: cosineSimilarity(a, b) });
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
    by_source: sources.map((source) => ({
      source,
      ...figures(
        scored.filter((p) => p.source === source),
        options.threshold,
      ),
    })),
    ...(options.calibrate !== undefined ? { calibrated: calibrate(scored, options.calibrate, options.fmrTarget ?? 0.001) } : {}),
    scores: { genuine: scored.filter((p) => p.same).map((p) => p.similarity), impostor: scored.filter((p) => !p.same).map((p) => p.similarity) },
  };
}

/**
 * Identity halves: images joined by mated pairs are one identity (connected components); the
 * identities, sorted by their first image path, go alternately to half a and half b.
 */
export function identityHalves(pairs: readonly { imageA: string; imageB: string; same: boolean }[]): Map<string, 'a' | 'b'> {
  const parent = new Map<string, string>();
  const find = (x: string): string => {
    let r = x;
    while (parent.get(r) !== r) r = parent.get(r)!;
    parent.set(x, r);
    return r;
  };
  for (const p of pairs) for (const i of [p.imageA, p.imageB]) if (!parent.has(i)) parent.set(i, i);
  for (const p of pairs) if (p.same) parent.set(find(p.imageA), find(p.imageB));
  const clusters = new Map<string, string[]>();
  for (const i of parent.keys()) clusters.set(find(i), [...(clusters.get(find(i)) ?? []), i]);
  const ordered = [...clusters.values()].map((c) => c.sort()).sort((x, y) => (x[0] < y[0] ? -1 : 1));
  const half = new Map<string, 'a' | 'b'>();
  ordered.forEach((c, k) => c.forEach((i) => half.set(i, k % 2 === 0 ? 'a' : 'b')));
  return half;
}

/** Chooses the threshold on some pairs and reports it on others (see `MatchEvalOptions.calibrate`). */
function calibrate(scored: readonly ScoredPair[], how: NonNullable<MatchEvalOptions['calibrate']>, fmrTarget: number): MatchCalibration {
  let cal: ScoredPair[];
  let rest: ScoredPair[];
  let name: string;
  if ('source' in how) {
    cal = scored.filter((p) => p.source.includes(how.source));
    rest = scored.filter((p) => !p.source.includes(how.source));
    name = [...new Set(cal.map((p) => p.source))].join(', ');
  } else {
    const halves = identityHalves(scored);
    const other = how.half === 'a' ? 'b' : 'a';
    const within = (h: 'a' | 'b') => scored.filter((p) => halves.get(p.imageA) === h && halves.get(p.imageB) === h);
    cal = within(how.half);
    rest = within(other);
    name = `identity half ${how.half} (identities = connected components of mated pairs, sorted, dealt alternately; reported on half ${other})`;
  }
  if (cal.length === 0 || rest.length === 0) {
    throw new KioskError('E_USAGE', `the calibration must select some pairs and leave others (${cal.length} calibration, ${rest.length} reported)`, {
      subject: 'calibrate',
    });
  }
  const choice = chooseThreshold(
    cal.map((p) => p.similarity),
    cal.map((p) => p.same),
    { fmr: fmrTarget },
  );
  const held = matchRatesAt(
    rest.filter((p) => p.same).map((p) => p.similarity),
    rest.filter((p) => !p.same).map((p) => p.similarity),
    choice.threshold,
  );
  return {
    calibration_source: name,
    rule: `lowest similarity with FMR <= ${fmrTarget} on the calibration pairs`,
    threshold: choice.threshold,
    calibration: { pairs: cal.length, fmr: choice.fpr, fnmr: choice.fnr },
    held_out: { pairs: rest.length, fmr: held.fmr, fnmr: held.fnmr },
  };
}
