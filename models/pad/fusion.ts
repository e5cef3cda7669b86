/**
 * Several presentation-attack models into one score: the mean of their log-odds, back to a
 * probability (the geometric mean of the odds). No weight is fitted: each model counts the same,
 * and a model that is sure (p near 0 or 1) counts more than one that hesitates, which a plain
 * mean of probabilities would not do. Scores are clipped to [1e-4, 1 - 1e-4] so that one model's
 * certainty cannot veto the others.
 */
const EPS = 1e-4;

export function fuseAttackScores(scores: readonly number[]): number {
  if (scores.length === 0) throw new RangeError('no attack score to fuse');
  if (scores.length === 1) return scores[0];
  let sum = 0;
  for (const s of scores) {
    const p = Math.min(1 - EPS, Math.max(EPS, s));
    sum += Math.log(p / (1 - p));
  }
  return 1 / (1 + Math.exp(-sum / scores.length));
}
