/** Ending a session: the result object and the `done` effect. */
import { assess } from './scores.js';
import type { SessionState } from './state.js';
import type { Transition } from './transition.js';
import { dominantIssue } from './signals.js';
import { quantile } from './stats.js';
import type { QualitySummary, ReasonCode, SessionResult, StepStatus, Verdict } from './types.js';

/**
 * Ends the session with `verdict` and `reasons`. `stepStatus` is what happened to the step in
 * progress, if any. Scores are reported as far as they were measured.
 *
 * An evident attack is never hidden behind a procedural reason: when a session ends early
 * (face lost, timeout, wrong action, second face; not a cancellation) and the attack scores
 * gathered so far, at least `minAttackSamples` of them, are above the threshold even at their
 * lower quartile (three in four samples say attack, not only the median), `presentation_attack`
 * comes first and a retry becomes a reject. (A replay that loses the face while the screen is
 * tilted is reported as the attack it is.) The bar is higher than for a full verdict because it
 * overrides what the session saw happen: a live face whose first few samples sit near the
 * threshold, in a session that failed its challenge, stays a challenge failure.
 */
export function finish(tr: Transition, verdict: Verdict, reasons: ReasonCode[], stepStatus: StepStatus = 'interrupted'): Transition {
  const s = tr.state;
  const assessment = assess(s);
  if (verdict !== 'accept' && s.cancelReason === null && !reasons.includes('presentation_attack') && evidentAttack(s)) {
    verdict = 'reject';
    reasons = ['presentation_attack', ...reasons];
  }
  const current = s.current;
  const steps = s.steps.map((st, i) =>
    current && i === current.index && st.status === 'not_started'
      ? { ...st, status: stepStatus, startedAtMs: current.startedMs - s.startedMs, peakDeg: st.peakDeg ?? peakOf(s, st.kind) }
      : { ...st },
  );
  const decided = s.samples.filter((x) => x.status === 'done').length;
  const result: SessionResult = {
    verdict,
    reasons: [...reasons],
    cancelReason: s.cancelReason,
    endedIn: s.phase,
    plan: { ...s.plan, steps: s.plan.steps.map((x) => ({ ...x })) },
    steps,
    scores: assessment.scores,
    quality: qualitySummary(s),
    timings: {
      gatePassedAtMs: rel(s, s.gatePassedMs),
      challengeDoneAtMs: rel(s, s.challengeDoneMs),
      finishedAtMs: s.nowMs - s.startedMs,
      framesSeen: s.framesSeen,
      decisionsRequested: s.samples.length,
      decisionsReceived: decided,
      decisionsFailed: s.samples.filter((x) => x.status === 'failed').length,
      lastStepToVerdictMs: s.challengeDoneMs === null ? null : s.nowMs - s.challengeDoneMs,
    },
  };
  tr.set({ phase: 'done', current: null, steps, result });
  return tr.emit({ type: 'done', result });
}

/** At least `minAttackSamples` answered attack scores whose lower quartile is above the threshold. */
function evidentAttack(s: SessionState): boolean {
  const scores = s.samples.filter((x) => x.status === 'done' && x.padEligible).map((x) => x.attackScore as number);
  const lowerQuartile = quantile(scores, 0.25);
  return scores.length >= s.config.minAttackSamples && lowerQuartile !== null && lowerQuartile > s.config.maxAttackScore;
}

function peakOf(s: SessionState, kind: string): number | null {
  return kind === 'blink' || !s.current ? null : s.current.peakDeg;
}

function rel(s: SessionState, t: number | null): number | null {
  return t === null ? null : t - s.startedMs;
}

function qualitySummary(s: SessionState): QualitySummary {
  const a = s.anchor;
  return {
    gateFrames: s.gateFrames,
    issues: { ...s.issues },
    dominantIssue: dominantIssue(s.issues),
    anchor: a ? { interEyePx: a.interEyePx, brightness: a.brightness, sharpness: a.sharpness, yaw: a.yaw, pitch: a.pitch, roll: a.roll } : null,
  };
}
