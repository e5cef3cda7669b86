/** Asking the runner for decisions on frames, and recording its answers. */
import type { SessionState } from '../state.js';
import type { Transition } from '../transition.js';
import type { CapturePurpose, DecisionEvent, DecisionFailedEvent } from '../types.js';

export interface CaptureRequest {
  frameIndex: number;
  faceIndex: number;
  purpose: CapturePurpose;
  padEligible: boolean;
  /** Near enough to the anchor pose for the identity-continuity check. */
  continuityEligible: boolean;
  frontal: boolean;
}

/**
 * How many decisions a capture of this purpose may bring the session to. The budget
 * (`maxDecisions`) is shared out so that the interval captures can never starve what the end of
 * the session needs:
 * - `challenge` captures leave room for the step marks still ahead (one per step not yet armed,
 *   one for the frame that completes the last step) and for `finalCaptureFrames`;
 * - `step` marks leave room for `finalCaptureFrames`;
 * - the anchor and `final` captures may use the whole budget.
 * So whoever does the last step is always sampled (identity continuity up to the last frame that
 * counts), however long the challenge took.
 */
export function captureLimit(s: SessionState, purpose: CapturePurpose): number {
  const cfg = s.config;
  if (purpose === 'anchor' || purpose === 'final') return cfg.maxDecisions;
  if (purpose === 'step') return cfg.maxDecisions - cfg.finalCaptureFrames;
  const cur = s.current;
  const unarmed = cur ? s.steps.length - cur.index - (cur.armedMs !== null ? 1 : 0) : 0;
  return cfg.maxDecisions - cfg.finalCaptureFrames - unarmed - 1;
}

/** Requests a decision on a frame of the current event; false when the budget is spent or the frame was already asked for. */
export function capture(tr: Transition, req: CaptureRequest): boolean {
  const s = tr.state;
  if (s.samples.length >= captureLimit(s, req.purpose)) return false;
  if (s.samples.some((x) => x.frameIndex === req.frameIndex)) return false;
  tr.set({
    samples: [
      ...s.samples,
      {
        frameIndex: req.frameIndex,
        atMs: s.nowMs,
        purpose: req.purpose,
        padEligible: req.padEligible,
        continuityEligible: req.continuityEligible,
        frontal: req.frontal,
        status: 'pending',
        attackScore: null,
        referenceSimilarity: null,
        anchorSimilarity: null,
      },
    ],
    lastCaptureMs: s.nowMs,
  });
  tr.emit({ type: 'capture_for_decision', frameIndex: req.frameIndex, faceIndex: req.faceIndex, purpose: req.purpose });
  return true;
}

/**
 * Records the runner's answer for a pending capture. Answers for frames never asked for, or
 * answered twice, are ignored; an answer with a non-finite score counts as a failure.
 */
export function recordDecision(tr: Transition, e: DecisionEvent | DecisionFailedEvent): Transition {
  const i = tr.state.samples.findIndex((x) => x.frameIndex === e.frameIndex && x.status === 'pending');
  if (i < 0) return tr;
  const samples = [...tr.state.samples];
  const finite = (x: number | null) => x === null || Number.isFinite(x);
  if (e.type === 'decision_failed' || !Number.isFinite(e.attackScore) || !Number.isFinite(e.referenceSimilarity) || !finite(e.anchorSimilarity)) {
    samples[i] = { ...samples[i], status: 'failed' };
  } else {
    samples[i] = {
      ...samples[i],
      status: 'done',
      attackScore: e.attackScore,
      referenceSimilarity: e.referenceSimilarity,
      anchorSimilarity: samples[i].purpose === 'anchor' ? null : e.anchorSimilarity,
    };
  }
  return tr.set({ samples });
}

/** Captures still waiting for an answer. */
export function pendingCaptures(tr: Transition): number {
  return tr.state.samples.filter((x) => x.status === 'pending').length;
}

/** Samples not known to have failed (answered, or still pending). */
function usable(s: SessionState) {
  return s.samples.filter((x) => x.status !== 'failed');
}

/** Attack and frontal samples still missing for a verdict (pending captures count as there). */
export function missingSamples(s: SessionState): { attack: number; frontal: number } {
  const u = usable(s);
  return {
    attack: Math.max(0, s.config.minAttackSamples - u.filter((x) => x.padEligible).length),
    frontal: Math.max(0, s.config.minFrontalSamples - u.filter((x) => x.frontal).length),
  };
}

/** Enough samples for a verdict, or no budget left to get more. */
export function enoughSamples(s: SessionState): boolean {
  if (s.samples.length >= s.config.maxDecisions) return true;
  const m = missingSamples(s);
  return m.attack === 0 && m.frontal === 0;
}
