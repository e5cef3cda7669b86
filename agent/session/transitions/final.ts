/** Phase `final_capture`: after the last step, a few frontal frames for matching and the attack check. */
import { ISSUE_PROMPT, isPadEligible, qualityIssue, relativePose } from '../signals.js';
import type { Transition } from '../transition.js';
import type { FrameEvent } from '../types.js';
import { capture } from './capture.js';
import { checkFaceLost, trackFace } from './continuity.js';
import { toDeciding } from './decide.js';

export function enterFinal(tr: Transition): Transition {
  tr.enter('final_capture').prompt('look_straight');
  return finalSatisfied(tr) ? toDeciding(tr) : tr;
}

export function finalFrame(tr: Transition, e: FrameEvent): Transition {
  const view = trackFace(tr, e);
  if (!view || tr.done) return tr;
  const s = tr.state;
  const cfg = s.config;
  const issue = qualityIssue(e.signals, view, cfg);
  if (issue) return tr.prompt(ISSUE_PROMPT[issue]);
  tr.prompt('look_straight');
  const spaced = s.finalCaptures === 0 || s.lastCaptureMs === null || s.nowMs - s.lastCaptureMs >= cfg.finalCaptureSpacingMs;
  if (spaced) {
    const rel = relativePose(view.face!, s.anchor!);
    const req = { frameIndex: e.index, faceIndex: view.index, purpose: 'final' as const, padEligible: isPadEligible(rel, cfg), frontal: true };
    if (capture(tr, req)) tr.set({ finalCaptures: tr.state.finalCaptures + 1 });
  }
  return finalSatisfied(tr) ? toDeciding(tr) : tr;
}

/** After `finalCaptureTimeoutMs`: decide with the captures there are. Also the face-lost limit. */
export function finalTimeout(tr: Transition): Transition {
  const s = tr.state;
  checkFaceLost(tr);
  if (tr.done) return tr;
  return s.nowMs - s.phaseStartedMs > s.config.finalCaptureTimeoutMs ? toDeciding(tr) : tr;
}

/** Enough final frames and enough frames for the attack check, or no budget left. */
function finalSatisfied(tr: Transition): boolean {
  const s = tr.state;
  const cfg = s.config;
  if (s.samples.length >= cfg.maxDecisions) return true;
  const padUsable = s.samples.filter((x) => x.padEligible && x.status !== 'failed').length;
  return s.finalCaptures >= cfg.finalCaptureFrames && padUsable >= cfg.minAttackSamples;
}
