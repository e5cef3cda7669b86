/**
 * Biometric evaluation metrics. Pure functions over score lists; every rate carries its counts
 * because the evaluation sets are small and "3/90" says more than "3.3 %".
 *
 * One convention throughout: the POSITIVE class is the one that should score HIGH
 * (mated pairs for matching, attack presentations for PAD), and a sample is flagged positive
 * when `score >= threshold` (accept a match, call it an attack). Thresholds are always chosen
 * among the observed scores (plus +Infinity, "flag nothing"), so a reported threshold is one
 * that produced the reported counts on the given data.
 */

/** An error rate with the counts it comes from; `rate` is null when `total` is 0. */
export interface Rate {
  rate: number | null;
  errors: number;
  total: number;
}

/** A success proportion (e.g. TAR) with its counts; `rate` is null when `total` is 0. */
export interface Share {
  rate: number | null;
  count: number;
  total: number;
}

/** Builds a Rate from counts. */
export function errorRate(errors: number, total: number): Rate {
  return { rate: total === 0 ? null : errors / total, errors, total };
}

/** Builds a Share from counts. */
export function share(count: number, total: number): Share {
  return { rate: total === 0 ? null : count / total, count, total };
}

/** Sums rates over folds (errors and totals add; the rate is recomputed). */
export function sumRates(rates: readonly Rate[]): Rate {
  let errors = 0;
  let total = 0;
  for (const r of rates) {
    errors += r.errors;
    total += r.total;
  }
  return errorRate(errors, total);
}

// Relative slack when comparing an achieved rate with a target, so that 2/40 counts as <= 0.05.
const EPS = 1e-9;

function checkScores(scores: readonly number[], what: string): void {
  for (const s of scores) if (!Number.isFinite(s)) throw new RangeError(`${what} contains a non-finite score (${s})`);
}

function sortedCopy(scores: readonly number[]): number[] {
  return [...scores].sort((a, b) => a - b);
}

/** Index of the first element >= x in an ascending array (= how many are < x). */
function lowerBound(sorted: readonly number[], x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Candidate thresholds: the distinct observed scores ascending, then +Infinity (flag nothing). */
function candidates(a: readonly number[], b: readonly number[]): number[] {
  const all = sortedCopy([...a, ...b]);
  const out: number[] = [];
  for (const s of all) if (out.length === 0 || out[out.length - 1] !== s) out.push(s);
  out.push(Number.POSITIVE_INFINITY);
  return out;
}

export interface AucResult {
  /** Probability that a random positive scores above a random negative, ties counted 0.5; null if a class is empty. */
  auc: number | null;
  positives: number;
  negatives: number;
}

/** ROC AUC by the Mann-Whitney U statistic with mid-ranks, so tied scores count as 0.5. */
export function rocAuc(positives: readonly number[], negatives: readonly number[]): AucResult {
  checkScores(positives, 'positives');
  checkScores(negatives, 'negatives');
  const n = positives.length;
  const m = negatives.length;
  if (n === 0 || m === 0) return { auc: null, positives: n, negatives: m };
  const all = [...positives.map((s) => ({ s, pos: true })), ...negatives.map((s) => ({ s, pos: false }))];
  all.sort((a, b) => a.s - b.s);
  let rankSumPos = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j < all.length && all[j].s === all[i].s) j++;
    const midRank = (i + 1 + j) / 2; // ranks i+1..j share their mean
    for (let k = i; k < j; k++) if (all[k].pos) rankSumPos += midRank;
    i = j;
  }
  const u = rankSumPos - (n * (n + 1)) / 2;
  return { auc: u / (n * m), positives: n, negatives: m };
}

export interface ThresholdRates {
  threshold: number;
  /** Negatives flagged (score >= threshold): FMR for matching, BPCER for PAD. */
  fpr: Rate;
  /** Positives not flagged (score < threshold): FNMR for matching, pooled APCER for PAD. */
  fnr: Rate;
}

/** Error rates of both classes at one threshold (flag when score >= threshold). */
export function ratesAt(positives: readonly number[], negatives: readonly number[], threshold: number): ThresholdRates {
  let fn = 0;
  for (const s of positives) if (s < threshold) fn++;
  let fp = 0;
  for (const s of negatives) if (s >= threshold) fp++;
  return { threshold, fpr: errorRate(fp, negatives.length), fnr: errorRate(fn, positives.length) };
}

export interface MatchRates {
  threshold: number;
  /** Mated pairs rejected (similarity < threshold). */
  fnmr: Rate;
  /** Non-mated pairs accepted (similarity >= threshold). */
  fmr: Rate;
}

/** FNMR and FMR at a given similarity threshold, with counts. */
export function matchRatesAt(genuine: readonly number[], impostor: readonly number[], threshold: number): MatchRates {
  const r = ratesAt(genuine, impostor, threshold);
  return { threshold, fnmr: r.fnr, fmr: r.fpr };
}

export interface EerResult {
  /** Mean of FMR and FNMR at the threshold where they are closest; null if a class is empty. */
  eer: number | null;
  threshold: number | null;
  fmr: Rate;
  fnmr: Rate;
}

/**
 * Equal error rate: over the candidate thresholds (observed scores), the one where |FMR - FNMR|
 * is smallest (ties: lower mean, then lower threshold); EER is the mean of the two there.
 * No interpolation between operating points: on small sets the counts say how coarse it is.
 */
export function equalErrorRate(positives: readonly number[], negatives: readonly number[]): EerResult {
  checkScores(positives, 'positives');
  checkScores(negatives, 'negatives');
  const n = positives.length;
  const m = negatives.length;
  if (n === 0 || m === 0) return { eer: null, threshold: null, fmr: errorRate(0, m), fnmr: errorRate(0, n) };
  const pos = sortedCopy(positives);
  const neg = sortedCopy(negatives);
  let best: { t: number; fn: number; fp: number; gap: number; mean: number } | undefined;
  for (const t of candidates(pos, neg)) {
    const fn = lowerBound(pos, t);
    const fp = m - lowerBound(neg, t);
    const gap = Math.abs(fp / m - fn / n);
    const mean = (fp / m + fn / n) / 2;
    if (!best || gap < best.gap - EPS || (Math.abs(gap - best.gap) <= EPS && mean < best.mean - EPS)) {
      best = { t, fn, fp, gap, mean };
    }
  }
  const b = best!;
  return { eer: b.mean, threshold: b.t, fmr: errorRate(b.fp, m), fnmr: errorRate(b.fn, n) };
}

export interface TarAtFarResult {
  /** The FAR the threshold was chosen for. */
  target: number;
  /** Smallest observed score whose FAR on the given impostors is <= target (+Infinity: none). */
  threshold: number;
  tar: Share;
  /** The FAR actually achieved at `threshold`, with counts. */
  far: Rate;
  /**
   * False when there are fewer than 1/target impostors: then no impostor error is allowed and
   * the operating point is really "FAR 0 on this set", not the target.
   */
  resolved: boolean;
}

/**
 * TAR at a target FAR. Threshold: the smallest observed score t with FAR(t) <= target on these
 * impostor scores, so that TAR is as high as the target allows; the achieved FAR is reported.
 */
export function tarAtFar(genuine: readonly number[], impostor: readonly number[], target: number): TarAtFarResult {
  checkScores(genuine, 'genuine');
  checkScores(impostor, 'impostor');
  const pos = sortedCopy(genuine);
  const neg = sortedCopy(impostor);
  const m = neg.length;
  let threshold = Number.POSITIVE_INFINITY;
  for (const t of candidates(pos, neg)) {
    const fp = m - lowerBound(neg, t);
    if (m === 0 || fp / m <= target + EPS) {
      threshold = t;
      break; // FAR only falls as t rises, so the first one is the smallest
    }
  }
  const accepted = pos.length - lowerBound(pos, threshold);
  const fp = m - lowerBound(neg, threshold);
  return {
    target,
    threshold,
    tar: share(accepted, pos.length),
    far: errorRate(fp, m),
    resolved: m * target >= 1 - EPS,
  };
}

/** One presentation scored by the PAD model (higher = more likely an attack). */
export interface PadSample {
  score: number;
  bonaFide: boolean;
  /** Attack species (ISO/IEC 30107 PAI species), e.g. "print", "replay"; ignored for bona fide. */
  species: string;
}

export interface PadRates {
  threshold: number;
  /** APCER per attack species: attacks of that species classified bona fide (score < threshold). */
  apcer: Record<string, Rate>;
  /** The worst species (ISO/IEC 30107-3 APCER_AP is the maximum over species); null if no attacks. */
  apcerMax: (Rate & { species: string }) | null;
  /** Bona fide presentations classified as attacks (score >= threshold). */
  bpcer: Rate;
}

/** APCER per species and BPCER at a threshold (ISO/IEC 30107-3), with counts. */
export function padRatesAt(samples: readonly PadSample[], threshold: number): PadRates {
  const perSpecies = new Map<string, { errors: number; total: number }>();
  let bpErrors = 0;
  let bpTotal = 0;
  for (const s of samples) {
    if (s.bonaFide) {
      bpTotal++;
      if (s.score >= threshold) bpErrors++;
      continue;
    }
    const c = perSpecies.get(s.species) ?? { errors: 0, total: 0 };
    c.total++;
    if (s.score < threshold) c.errors++;
    perSpecies.set(s.species, c);
  }
  const apcer: Record<string, Rate> = {};
  let apcerMax: PadRates['apcerMax'] = null;
  for (const species of [...perSpecies.keys()].sort()) {
    const c = perSpecies.get(species)!;
    const r = errorRate(c.errors, c.total);
    apcer[species] = r;
    if (!apcerMax || (r.rate ?? 0) > (apcerMax.rate ?? 0)) apcerMax = { species, ...r };
  }
  return { threshold, apcer, apcerMax, bpcer: errorRate(bpErrors, bpTotal) };
}

/**
 * How to pick a threshold on a calibration split. `bpcer`/`fmr`: the negatives' error rate
 * must stay <= the value, and the smallest such threshold is taken (fewest missed positives).
 * `apcer`/`fnmr`: the positives' error rate (pooled over species) must stay <= the value, and
 * the largest such threshold is taken (fewest false alarms).
 */
export type ThresholdRule = { bpcer: number } | { fmr: number } | { apcer: number } | { fnmr: number };

export interface ThresholdChoice extends ThresholdRates {
  rule: ThresholdRule;
}

/**
 * Chooses a threshold on calibration scores by `rule`; report it on a DISJOINT split.
 * `positive[i]` is true for the class that should score high (attack for PAD, mated for matching).
 */
export function chooseThreshold(scores: readonly number[], positive: readonly boolean[], rule: ThresholdRule): ThresholdChoice {
  if (scores.length !== positive.length) throw new RangeError(`scores (${scores.length}) and labels (${positive.length}) differ in length`);
  checkScores(scores, 'scores');
  const pos = sortedCopy(scores.filter((_, i) => positive[i]));
  const neg = sortedCopy(scores.filter((_, i) => !positive[i]));
  const cands = candidates(pos, neg);
  const at = (t: number): ThresholdChoice => ({ rule, ...ratesAt(pos, neg, t) });
  if ('bpcer' in rule || 'fmr' in rule) {
    const max = 'bpcer' in rule ? rule.bpcer : rule.fmr;
    for (const t of cands) {
      const fp = neg.length - lowerBound(neg, t);
      if (neg.length === 0 || fp / neg.length <= max + EPS) return at(t);
    }
    return at(Number.POSITIVE_INFINITY); // unreachable: +Infinity flags nothing
  }
  const max = 'apcer' in rule ? rule.apcer : rule.fnmr;
  // The positives' error only grows with t, so scan down from the top for the largest allowed.
  for (let i = cands.length - 1; i >= 0; i--) {
    const fn = lowerBound(pos, cands[i]);
    if (pos.length === 0 || fn / pos.length <= max + EPS) return at(cands[i]);
  }
  return at(cands[0]); // unreachable: the lowest score flags every positive
}
