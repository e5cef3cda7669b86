/** Fits, thresholds and counts of the PAD probe (probe.ts): every threshold from training people's own leave-one-subject-out scores. */
import { fitLogistic, thresholdAtBpcer } from './logistic.js';

export const MAX_BPCER = 0.05;

export interface Counts {
  apcer: number;
  attacks: number;
  bpcer: number;
  bona: number;
}

export interface Fitted {
  model: (v: readonly number[]) => number;
  /** Threshold on the model's logit: an attack above it. */
  t: number;
  /** The counts of the leave-one-subject-out scores the threshold came from, at `t`. */
  inner: Counts;
}

export function counts(scores: readonly number[], y: readonly boolean[], t: number): Counts {
  return {
    apcer: scores.filter((v, k) => y[k] && v <= t).length,
    attacks: y.filter(Boolean).length,
    bpcer: scores.filter((v, k) => !y[k] && v > t).length,
    bona: y.filter((a) => !a).length,
  };
}

/**
 * Fitted on the rows `tr`; the threshold at BPCER <= MAX_BPCER on the leave-one-subject-out scores of
 * the rows `thr` (default `tr`): each person's rows scored by a fit on `tr` without that person.
 * `inner` counts those scores at the threshold.
 */
export function fitWithThreshold(x: number[][], y: boolean[], people: string[], tr: number[], l2: number, thr: number[] = tr): Fitted {
  const inner = new Map<number, number>();
  for (const s of new Set(thr.map((i) => people[i]))) {
    const fitOn = tr.filter((i) => people[i] !== s);
    const model = fitLogistic(
      fitOn.map((i) => x[i]),
      fitOn.map((i) => y[i]),
      l2,
    );
    for (const i of thr) if (people[i] === s) inner.set(i, model(x[i]));
  }
  const innerScores = thr.map((i) => inner.get(i)!);
  const t = thresholdAtBpcer(
    innerScores.filter((_, k) => !y[thr[k]]),
    MAX_BPCER,
  );
  const model = fitLogistic(
    tr.map((i) => x[i]),
    tr.map((i) => y[i]),
    l2,
  );
  return {
    model,
    t,
    inner: counts(
      innerScores,
      thr.map((i) => y[i]),
      t,
    ),
  };
}

/** Fitted on `train`, reported on the rest. */
export function fold(x: number[][], y: boolean[], subj: string[], train: boolean[], l2: number): { counts: Counts; scores: number[] } {
  const te = x.map((_, i) => i).filter((i) => !train[i]);
  const f = fitWithThreshold(
    x,
    y,
    subj,
    x.map((_, i) => i).filter((i) => train[i]),
    l2,
  );
  const scores = te.map((i) => f.model(x[i]));
  return {
    counts: counts(
      scores,
      te.map((i) => y[i]),
      f.t,
    ),
    scores,
  };
}

/** The rule that picks an input and an L2 strength from training people only: the fewest errors on their own leave-one-subject-out scores, then the fewest attacks passed, then the order of CONFIGS. */
export function better(a: Counts, b: Counts): boolean {
  return a.apcer + a.bpcer < b.apcer + b.bpcer || (a.apcer + a.bpcer === b.apcer + b.bpcer && a.apcer < b.apcer);
}

/** The (APCER, BPCER) counts at the threshold that makes the larger of the two smallest (ties: the smaller sum, then the lower threshold). */
export function bestAnyThreshold(scores: number[], y: boolean[]): [number, number] {
  let best: [number, number] = [Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY];
  const key = (c: [number, number]) => Math.max(...c) * 1e6 + c[0] + c[1];
  for (const t of [...new Set(scores)].sort((p, q) => p - q)) {
    const c: [number, number] = [scores.filter((v, k) => y[k] && v < t).length, scores.filter((v, k) => !y[k] && v >= t).length];
    if (key(c) < key(best)) best = c;
  }
  return best;
}

export const ZERO: Readonly<Counts> = { apcer: 0, attacks: 0, bpcer: 0, bona: 0 };

export function add(a: Counts, b: Counts): Counts {
  return { apcer: a.apcer + b.apcer, attacks: a.attacks + b.attacks, bpcer: a.bpcer + b.bpcer, bona: a.bona + b.bona };
}

export function cell(c: Counts): string {
  return `APCER ${c.apcer}/${c.attacks} BPCER ${c.bpcer}/${c.bona}`;
}
