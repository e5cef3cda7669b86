/**
 * Aggregating the decision-path answers and the motion residuals into scores, and the reasons
 * they give. Robust aggregates (median, trimmed mean, outlier counts) so that one odd frame
 * neither passes nor fails a session.
 */
import type { SessionConfig } from './config.js';
import type { SessionState } from './state.js';
import { maxOf, median, minOf, trimmedMean } from './stats.js';
import type { AttackStats, ReasonCode, SessionScores } from './types.js';

export interface Assessment {
  scores: SessionScores;
  /** Reasons to reject, in a fixed order. */
  reject: ReasonCode[];
  /** A reason to retry when nothing says reject, or null. */
  retry: ReasonCode | null;
}

/** Scores of the session so far and what they say. */
export function assess(state: SessionState): Assessment {
  const cfg = state.config;
  const answered = state.samples.filter((s) => s.status === 'done');
  const anchor = state.samples.find((s) => s.purpose === 'anchor');

  const attackScores = answered.filter((s) => s.padEligible).map((s) => s.attackScore as number);
  const attack = attackStats(attackScores, cfg);

  const continuity = answered.flatMap((s) => (s.purpose !== 'anchor' && s.continuityEligible && s.anchorSimilarity !== null ? [s.anchorSimilarity] : []));
  const outliers = continuity.filter((x) => x < cfg.minContinuitySimilarity).length;

  const matches = answered.filter((s) => s.frontal).map((s) => s.referenceSimilarity as number);
  const match = median(matches);

  const measured = state.motion.flatMap((m) => (m.residual === null ? [] : [m.residual]));
  const residual = maxOf(measured);
  const planar = residual === null ? null : residual < cfg.motionPlanarMaxResidual;

  const scores: SessionScores = {
    match: { similarity: match, samples: matches.length, threshold: cfg.minMatchSimilarity },
    attack,
    continuity: { minSimilarity: minOf(continuity), outliers, samples: continuity.length, threshold: cfg.minContinuitySimilarity },
    motion: {
      residual,
      steps: state.motion.map((m) => ({ ...m })),
      planarThreshold: cfg.motionPlanarMaxResidual,
      canReject: cfg.motionCanReject,
      planar,
    },
  };

  const reject: ReasonCode[] = [];
  if (attack.aggregate !== null && attack.aggregate > cfg.maxAttackScore) reject.push('presentation_attack');
  if (outliers > cfg.maxContinuityOutliers) reject.push('identity_changed');
  if (planar === true && cfg.motionCanReject) reject.push('motion_inconsistent');
  if (match !== null && match < cfg.minMatchSimilarity) reject.push('no_match');

  let retry: ReasonCode | null = null;
  if (anchor?.status !== 'done') retry = 'decision_unavailable';
  else if (attackScores.length < cfg.minAttackSamples || matches.length < cfg.minFrontalSamples) retry = 'insufficient_samples';
  return { scores, reject, retry };
}

/** The session's aggregate of attack scores (median, or trimmed mean): what is compared with `maxAttackScore`. */
export function aggregateAttack(xs: readonly number[], cfg: Pick<SessionConfig, 'attackAggregate' | 'attackTrimFraction'>): number | null {
  return cfg.attackAggregate === 'median' ? median(xs) : trimmedMean(xs, cfg.attackTrimFraction);
}

function attackStats(xs: readonly number[], cfg: SessionConfig): AttackStats {
  const med = median(xs);
  return {
    aggregate: aggregateAttack(xs, cfg),
    method: cfg.attackAggregate,
    median: med,
    min: minOf(xs),
    max: maxOf(xs),
    samples: xs.length,
    threshold: cfg.maxAttackScore,
  };
}
