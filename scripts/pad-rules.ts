/**
 * The threshold rules of scripts/choose-pad.ts, as pure functions of the design group's scores (an
 * attack is a score above the threshold, as in the session). Unit-tested in test/unit/pad-rules.test.ts.
 */

const clip = (p: number) => Math.min(1 - 1e-6, Math.max(1e-6, p));
export const logit = (p: number) => Math.log(clip(p) / (1 - clip(p)));
export const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/**
 * The lowest threshold that calls at most floor(maxRate x n) of these bona fide scores attacks (the
 * score at that rank from the top; minus infinity with no scores).
 */
export function bpcerFloor(bonaScores: readonly number[], maxRate: number): number {
  const sorted = [...bonaScores].sort((a, b) => b - a);
  return sorted[Math.floor(maxRate * sorted.length + 1e-9)] ?? Number.NEGATIVE_INFINITY;
}

/** Rule 2: the log-odds midpoint between the highest bona fide recording and the lowest attack recording. */
export function recordingMidpoint(bonaRecordings: readonly number[], attackRecordings: readonly number[]): { t: number; margin: number } {
  const low = Math.max(...bonaRecordings.map(logit));
  const high = Math.min(...attackRecordings.map(logit));
  return { t: sigmoid((low + high) / 2), margin: high - low };
}

/**
 * Rule 3: the room between (a) the lowest threshold that keeps image BPCER <= maxRate and accepts
 * every bona fide recording and (b) the lowest attack recording; the threshold is its log-odds
 * midpoint. `room` <= 0 means no threshold keeps both bounds.
 */
export function roomMidpoint(
  bonaImages: readonly number[],
  bonaRecordings: readonly number[],
  attackRecordings: readonly number[],
  maxRate: number,
): { t: number; room: number } {
  const low = Math.max(bpcerFloor(bonaImages.map(logit), maxRate), ...bonaRecordings.map(logit));
  const high = Math.min(...attackRecordings.map(logit));
  return { t: sigmoid((low + high) / 2), room: high - low };
}
