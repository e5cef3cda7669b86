/**
 * After the last step. The samples are normally all there already (anchor, interval captures, step
 * marks): the session goes straight to deciding. Only when frontal or attack samples are missing
 * (failed decisions, a customer turned away for most of the challenge) does phase `final_capture`
 * take good frontal frames until they are there, the budget is spent or `finalCaptureTimeoutMs`.
 */
import { relativeTo } from '../gestures.js';
import { ISSUE_PROMPT, isContinuityEligible, isPadEligible, qualityIssue } from '../signals.js';
import type { Transition } from '../transition.js';
import type { FrameEvent } from '../types.js';
import { capture, enoughSamples } from './capture.js';
import { checkFaceLost, trackFace } from './continuity.js';
import { toDeciding } from './decide.js';

export function enterFinal(tr: Transition): Transition {
  if (enoughSamples(tr.state)) return toDeciding(tr);
  return tr.enter('final_capture').prompt('look_straight');
}

export function finalFrame(tr: Transition, e: FrameEvent): Transition {
  const view = trackFace(tr, e);
  if (!view || tr.done) return tr;
  const s = tr.state;
  const cfg = s.config;
  const issue = qualityIssue(e.signals, view, cfg);
  if (issue) return tr.prompt(ISSUE_PROMPT[issue]);
  tr.prompt('look_straight');
  if (s.lastCaptureMs === null || s.nowMs - s.lastCaptureMs >= cfg.finalCaptureSpacingMs) {
    const rel = relativeTo(view.face!.pose, s.anchor!);
    capture(tr, {
      frameIndex: e.index,
      faceIndex: view.index,
      purpose: 'final',
      padEligible: isPadEligible(rel, cfg),
      continuityEligible: isContinuityEligible(rel, cfg),
      frontal: true,
    });
  }
  return enoughSamples(tr.state) ? toDeciding(tr) : tr;
}

/** After `finalCaptureTimeoutMs`: decide with the captures there are. Also the face-lost limit. */
export function finalTimeout(tr: Transition): Transition {
  const s = tr.state;
  checkFaceLost(tr);
  if (tr.done) return tr;
  return s.nowMs - s.phaseStartedMs > s.config.finalCaptureTimeoutMs ? toDeciding(tr) : tr;
}
