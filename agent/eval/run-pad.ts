/**
 * `eval pad`: presentation-attack detection on labelled images (ISO/IEC 30107-3 terms).
 * The threshold is never chosen on the images it is reported on: the subjects are split in two
 * disjoint halves, the threshold is chosen on one half (BPCER <= target there) and APCER/BPCER
 * are reported on the other, then the other way round; the two test halves together cover every
 * image exactly once, so their counts also add up to an out-of-fold total.
 */
import { splitBySubject, subjectOf, type SpoofRow } from './labels.js';
import { decidePrimaryFace, failureOf, type EvalDeps, type FileFailure } from './deps.js';
import { chooseThreshold, padRatesAt, rocAuc, share, sumRates, type PadSample, type Rate, type Share } from './metrics.js';

export interface PadEvalOptions {
  /** BPCER allowed on the calibration half (default 0.05). */
  bpcerTarget?: number;
  /** Seed for the subject split; default: alternate subjects after sorting. */
  seed?: number;
}

/** AUC with the counts it rests on. */
export interface AucFigure {
  auc: number | null;
  attacks: number;
  bona_fide: number;
}

export interface PadFold {
  calibration_subjects: string[];
  test_subjects: string[];
  /** Chosen on the calibration half; +Infinity would mean "flag nothing" (printed as "Infinity"). */
  threshold: number;
  /** Achieved on the calibration half (for reference only). */
  calibration: { bpcer: Rate; apcer: Rate };
  /** Reported on the test half. */
  test: { apcer: Record<string, Rate>; apcer_max: (Rate & { species: string }) | null; bpcer: Rate };
}

export interface PadReport {
  presentations: number;
  scored: number;
  /** Images without a face, out of all. */
  ftd: Share;
  failed: number;
  failures: FileFailure[];
  /** All scored images, attacks of every species against bona fide. */
  auc: AucFigure;
  auc_by_species: Record<string, AucFigure>;
  rule: { bpcer_max: number; split: string };
  folds: PadFold[];
  /** Test-half counts of both folds added: every scored image tested once, at its fold's threshold. */
  out_of_fold: { apcer: Record<string, Rate>; bpcer: Rate };
}

interface ScoredRow extends PadSample {
  image: string;
}

function aucOf(bona: readonly ScoredRow[], attacks: readonly ScoredRow[]): AucFigure {
  const r = rocAuc(attacks.map((s) => s.score), bona.map((s) => s.score));
  return { auc: r.auc, attacks: r.positives, bona_fide: r.negatives };
}

function fold(calibration: readonly ScoredRow[], test: readonly ScoredRow[], subjects: [string[], string[]], bpcerMax: number): PadFold {
  const choice = chooseThreshold(calibration.map((s) => s.score), calibration.map((s) => !s.bonaFide), { bpcer: bpcerMax });
  const rates = padRatesAt(test, choice.threshold);
  return {
    calibration_subjects: subjects[0],
    test_subjects: subjects[1],
    threshold: choice.threshold,
    calibration: { bpcer: choice.fpr, apcer: choice.fnr },
    test: { apcer: rates.apcer, apcer_max: rates.apcerMax, bpcer: rates.bpcer },
  };
}

/** Scores each image's primary face (most confident, then largest), then reports AUC and the two cross-subject folds. */
export async function runPadEval(rows: readonly SpoofRow[], deps: EvalDeps, options: PadEvalOptions = {}): Promise<PadReport> {
  const bpcerMax = options.bpcerTarget ?? 0.05;
  const scored: ScoredRow[] = [];
  const failures: FileFailure[] = [];
  for (const [i, row] of rows.entries()) {
    try {
      const { attackScore } = await decidePrimaryFace(deps, row.image);
      scored.push({ image: row.image, score: attackScore, bonaFide: row.bonaFide, species: row.species });
    } catch (err) {
      failures.push(failureOf(row.image, err));
    }
    deps.onProgress?.(i + 1, rows.length, row.image);
  }
  const bona = scored.filter((s) => s.bonaFide);
  const attacks = scored.filter((s) => !s.bonaFide);
  const species = [...new Set(attacks.map((s) => s.species))].sort();
  const split = splitBySubject(scored, (s) => subjectOf(s.image), options.seed);
  const folds = [
    fold(split.a, split.b, [split.subjectsA, split.subjectsB], bpcerMax),
    fold(split.b, split.a, [split.subjectsB, split.subjectsA], bpcerMax),
  ];
  const ftdCount = failures.filter((f) => f.code === 'E_NO_FACE').length;
  return {
    presentations: rows.length,
    scored: scored.length,
    ftd: share(ftdCount, rows.length),
    failed: failures.length - ftdCount,
    failures,
    auc: aucOf(bona, attacks),
    auc_by_species: Object.fromEntries(species.map((sp) => [sp, aucOf(bona, attacks.filter((s) => s.species === sp))])),
    rule: {
      bpcer_max: bpcerMax,
      split: options.seed === undefined ? 'subjects sorted, alternate subjects to each half' : `subjects shuffled with seed ${options.seed}, cut in half`,
    },
    folds,
    out_of_fold: {
      apcer: Object.fromEntries(species.map((sp) => [sp, sumRates(folds.map((f) => f.test.apcer[sp] ?? { rate: null, errors: 0, total: 0 }))])),
      bpcer: sumRates(folds.map((f) => f.test.bpcer)),
    },
  };
}
