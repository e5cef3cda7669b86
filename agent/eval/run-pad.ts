/**
 * `eval pad`: presentation-attack detection (ISO/IEC 30107-3 terms) at the OPERATING threshold
 * (the session's, from models/calibration.ts, unless given): APCER per attack species and BPCER
 * on labelled images (all, and on each subject half), and per presentation on labelled recordings
 * scored as a session scores them (pad-presentations.ts). A presentation is an attack when its
 * score exceeds the threshold, as in the session.
 *
 * As diagnostics, thresholds are also fitted on one subject half (BPCER <= target there) and
 * reported on the other, then the other way round (the two test halves cover every image once);
 * and with several presentation-attack models loaded, each model and their fusion get their AUC.
 */
import type { SessionConfig } from '../session/config.js';
import { splitBySubject, subjectOf, type SpoofRow, type VideoRow } from './labels.js';
import { decidePrimaryFace, failureOf, type EvalDeps, type FileFailure } from './deps.js';
import { chooseThreshold, errorRate, padRatesAt, rocAuc, share, sumRates, type PadSample, type Rate, type Share } from './metrics.js';
import { scorePresentations, type PresentationScore } from './pad-presentations.js';

export interface PadEvalOptions {
  /** The operating threshold: attack when a score exceeds it. */
  threshold: number;
  /** BPCER allowed on the calibration half of the diagnostic folds (default 0.05). */
  bpcerTarget?: number;
  /** Seed for the subject split; default: alternate subjects after sorting. */
  seed?: number;
  /** Recordings for the presentation level, with the session config that scores them. */
  videos?: { rows: readonly VideoRow[]; config: SessionConfig };
}

/** APCER per species and BPCER at the operating threshold (attack when score > threshold). */
export interface OperatingRates {
  apcer: Record<string, Rate>;
  bpcer: Rate;
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
  /** At the operating threshold. */
  operating: {
    threshold: number;
    images: OperatingRates & { halves: { subjects: string[]; rates: OperatingRates }[] };
    presentations: (OperatingRates & { fta: Rate; list: PresentationScore[] }) | null;
  };
  /** Every scored image: its (fused) attack score and each model's. */
  image_scores: { image: string; bona_fide: boolean; species: string; score: number; by_model: Record<string, number> }[];
  /** Each presentation-attack model's AUC on the images, and the fusion's (present with more than one model). */
  models: { model: string; auc: AucFigure; auc_by_species: Record<string, AucFigure> }[];
}

interface ScoredRow extends PadSample {
  image: string;
  byModel: Record<string, number>;
}

/** Operating rates over samples (attack when score > threshold, as the session decides). */
export function operatingRates(samples: readonly PadSample[], threshold: number): OperatingRates {
  const species = [...new Set(samples.filter((s) => !s.bonaFide).map((s) => s.species))].sort();
  const apcer: Record<string, Rate> = {};
  for (const sp of species) {
    const xs = samples.filter((s) => !s.bonaFide && s.species === sp);
    apcer[sp] = errorRate(xs.filter((s) => !(s.score > threshold)).length, xs.length);
  }
  const bona = samples.filter((s) => s.bonaFide);
  return { apcer, bpcer: errorRate(bona.filter((s) => s.score > threshold).length, bona.length) };
}

function aucOf(bona: readonly ScoredRow[], attacks: readonly ScoredRow[]): AucFigure {
  const r = rocAuc(
    attacks.map((s) => s.score),
    bona.map((s) => s.score),
  );
  return { auc: r.auc, attacks: r.positives, bona_fide: r.negatives };
}

function fold(calibration: readonly ScoredRow[], test: readonly ScoredRow[], subjects: [string[], string[]], bpcerMax: number): PadFold {
  const choice = chooseThreshold(
    calibration.map((s) => s.score),
    calibration.map((s) => !s.bonaFide),
    { bpcer: bpcerMax },
  );
  const rates = padRatesAt(test, choice.threshold);
  return {
    calibration_subjects: subjects[0],
    test_subjects: subjects[1],
    threshold: choice.threshold,
    calibration: { bpcer: choice.fpr, apcer: choice.fnr },
    test: { apcer: rates.apcer, apcer_max: rates.apcerMax, bpcer: rates.bpcer },
  };
}

/** Scores each image's primary face (most confident, then largest) and each recording; reports the operating point, AUC and the diagnostic folds. */
export async function runPadEval(rows: readonly SpoofRow[], deps: EvalDeps, options: PadEvalOptions): Promise<PadReport> {
  const bpcerMax = options.bpcerTarget ?? 0.05;
  const scored: ScoredRow[] = [];
  const failures: FileFailure[] = [];
  for (const [i, row] of rows.entries()) {
    try {
      const { attackScore, attackScores, embedding } = await decidePrimaryFace(deps, row.image);
      embedding.fill(0);
      scored.push({ image: row.image, score: attackScore, byModel: attackScores, bonaFide: row.bonaFide, species: row.species });
    } catch (err) {
      failures.push(failureOf(row.image, err));
    }
    deps.onProgress?.(i + 1, rows.length, row.image);
  }
  const bona = scored.filter((s) => s.bonaFide);
  const attacks = scored.filter((s) => !s.bonaFide);
  const species = [...new Set(attacks.map((s) => s.species))].sort();
  const split = splitBySubject(scored, (s) => subjectOf(s.image), options.seed);
  const folds = [fold(split.a, split.b, [split.subjectsA, split.subjectsB], bpcerMax), fold(split.b, split.a, [split.subjectsB, split.subjectsA], bpcerMax)];
  const ftdCount = failures.filter((f) => f.code === 'E_NO_FACE').length;
  const t = options.threshold;
  const presentations = options.videos ? await scorePresentations(options.videos.rows, deps, options.videos.config) : null;
  const acquired = presentations?.filter((p) => p.aggregate !== null) ?? [];
  const modelIds = [...new Set(scored.flatMap((s) => Object.keys(s.byModel)))];
  const models =
    modelIds.length > 1
      ? [
          ...modelIds.map((id) => ({ id, score: (s: ScoredRow) => s.byModel[id] })),
          { id: `fusion (${modelIds.join(' + ')})`, score: (s: ScoredRow) => s.score },
        ].map(({ id, score }) => {
          const withScore = scored.map((s) => ({ ...s, score: score(s) }));
          const b = withScore.filter((s) => s.bonaFide);
          const a = withScore.filter((s) => !s.bonaFide);
          return {
            model: id,
            auc: aucOf(b, a),
            auc_by_species: Object.fromEntries(
              species.map((sp) => [
                sp,
                aucOf(
                  b,
                  a.filter((s) => s.species === sp),
                ),
              ]),
            ),
          };
        })
      : [];
  return {
    presentations: rows.length,
    scored: scored.length,
    ftd: share(ftdCount, rows.length),
    failed: failures.length - ftdCount,
    failures,
    auc: aucOf(bona, attacks),
    auc_by_species: Object.fromEntries(
      species.map((sp) => [
        sp,
        aucOf(
          bona,
          attacks.filter((s) => s.species === sp),
        ),
      ]),
    ),
    rule: {
      bpcer_max: bpcerMax,
      split: options.seed === undefined ? 'subjects sorted, alternate subjects to each half' : `subjects shuffled with seed ${options.seed}, cut in half`,
    },
    folds,
    out_of_fold: {
      apcer: Object.fromEntries(species.map((sp) => [sp, sumRates(folds.map((f) => f.test.apcer[sp] ?? { rate: null, errors: 0, total: 0 }))])),
      bpcer: sumRates(folds.map((f) => f.test.bpcer)),
    },
    operating: {
      threshold: t,
      images: {
        ...operatingRates(scored, t),
        halves: [
          { subjects: split.subjectsA, rates: operatingRates(split.a, t) },
          { subjects: split.subjectsB, rates: operatingRates(split.b, t) },
        ],
      },
      presentations: presentations
        ? {
            ...operatingRates(
              acquired.map((p) => ({ score: p.aggregate!, bonaFide: p.bona_fide, species: p.species })),
              t,
            ),
            fta: errorRate(presentations.length - acquired.length, presentations.length),
            list: presentations,
          }
        : null,
    },
    image_scores: scored.map((s) => ({ image: s.image, bona_fide: s.bonaFide, species: s.species, score: s.score, by_model: s.byModel })),
    models,
  };
}
