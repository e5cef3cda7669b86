/** Asking the runner for decisions on frames, and recording its answers. */
import type { Transition } from '../transition.js';
import type { CapturePurpose, DecisionEvent, DecisionFailedEvent } from '../types.js';

export interface CaptureRequest {
  frameIndex: number;
  faceIndex: number;
  purpose: CapturePurpose;
  padEligible: boolean;
  frontal: boolean;
}

/** Requests a decision on a frame of the current event; false when the budget is spent or the frame was already asked for. */
export function capture(tr: Transition, req: CaptureRequest): boolean {
  const s = tr.state;
  if (s.samples.length >= s.config.maxDecisions) return false;
  if (s.samples.some((x) => x.frameIndex === req.frameIndex)) return false;
  tr.set({
    samples: [
      ...s.samples,
      {
        frameIndex: req.frameIndex,
        atMs: s.nowMs,
        purpose: req.purpose,
        padEligible: req.padEligible,
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
