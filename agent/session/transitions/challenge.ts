/**
 * Phase `challenge`: the plan's steps in order. Each step starts from a neutral pose (relative to
 * the anchor), then must be observed within its window:
 * - a move when the head passes the threshold in the asked direction for `holdFrames` frames;
 * - a blink when the eyes, seen open, close (below the closed threshold) and open again within
 *   `maxBlinkClosedMs`.
 * A clear move in another direction is `challenge_wrong_action`.
 */
import type { FaceSignals } from '../../../models/types.js';
import { motionResidual } from '../motion.js';
import { finish } from '../result.js';
import {
  eyesClosed, eyesOpen, isNeutral, isPadEligible, isWrongMove, moveExtent, moveThreshold, qualityIssue, relativePose, type FaceView,
} from '../signals.js';
import type { StepProgress } from '../state.js';
import type { Transition } from '../transition.js';
import type { FrameEvent, MoveKind } from '../types.js';
import { capture, missingSamples, type CaptureRequest } from './capture.js';
import { checkFaceLost, trackFace } from './continuity.js';
import { enterFinal } from './final.js';

/** Starts step `index` now; it is armed once a neutral pose is seen. */
export function startStep(tr: Transition, index: number): Transition {
  const current: StepProgress = {
    index,
    startedMs: tr.state.nowMs,
    armedMs: null,
    hold: 0,
    wrong: 0,
    peakDeg: 0,
    peakLandmarks: null,
    openSeen: false,
    closedAtMs: null,
  };
  return tr.set({ current });
}

/** Arms the current step when `face` is neutral and shows its prompt; otherwise asks to look straight. */
export function armStep(tr: Transition, face: FaceSignals): Transition {
  const s = tr.state;
  const cur = s.current!;
  if (cur.armedMs !== null) return tr.prompt(s.plan.steps[cur.index].kind);
  if (!isNeutral(relativePose(face, s.anchor!), s.config)) return tr.prompt('look_straight');
  // A blink needs open eyes first; the arming frame may already show them.
  tr.set({ current: { ...cur, armedMs: s.nowMs, openSeen: eyesOpen(face, s.config) } });
  return tr.prompt(s.plan.steps[cur.index].kind);
}

export function challengeFrame(tr: Transition, e: FrameEvent): Transition {
  const view = trackFace(tr, e);
  if (!view || tr.done) return tr;
  const s = tr.state;
  const cfg = s.config;
  const face = view.face!;
  const rel = relativePose(face, s.anchor!);
  const sample = sampleOf(tr, e, view, rel);
  if (sample) {
    const since = s.lastCaptureMs === null ? Number.POSITIVE_INFINITY : s.nowMs - s.lastCaptureMs;
    const missing = missingSamples(s);
    // Samples the verdict still needs are taken sooner (mostly right after the gate, while the
    // customer still looks straight), so that nothing is missing when the last step is done.
    const fills = (sample.frontal && missing.frontal > 0) || (sample.padEligible && missing.attack > 0);
    if (since >= cfg.captureIntervalMs || (fills && since >= cfg.finalCaptureSpacingMs)) capture(tr, { ...sample, purpose: 'challenge' });
  }

  const wasArmed = tr.state.current!.armedMs !== null;
  armStep(tr, face);
  const cur = tr.state.current!;
  if (cur.armedMs === null) return tr;
  if (!wasArmed) markStep(tr, sample);
  const kind = s.plan.steps[cur.index].kind;
  if (isWrongMove(kind, rel, cfg)) {
    const wrong = cur.wrong + 1;
    if (wrong >= cfg.wrongActionFrames) return finish(tr, 'reject', ['challenge_wrong_action'], 'wrong_action');
    return tr.set({ current: { ...cur, wrong, hold: 0 } });
  }
  const next: StepProgress = { ...cur, wrong: 0 };
  if (kind === 'blink') return blinkFrame(tr, next, face, sample);
  return moveFrame(tr, next, kind, face, moveExtent(kind, rel), sample);
}

/** What a capture of this frame would be, or null when the face is too small or blurred to decide on. */
type Sampling = Omit<CaptureRequest, 'purpose'> | null;

function sampleOf(tr: Transition, e: FrameEvent, view: FaceView, rel: { yaw: number; pitch: number }): Sampling {
  const cfg = tr.state.config;
  const face = view.face!;
  if (face.quality.interEyePx < cfg.minInterEyePx || face.quality.sharpness < cfg.minSharpness) return null;
  // Frontal: a frame that would pass the quality gate, near the anchor pose, eyes open.
  const frontal = qualityIssue(e.signals, view, cfg) === null && isNeutral(rel, cfg) && eyesOpen(face, cfg);
  return { frameIndex: e.index, faceIndex: view.index, padEligible: isPadEligible(rel, cfg), frontal };
}

/** Captures a step mark (the frame that arms a step, or completes the last one). */
function markStep(tr: Transition, sample: Sampling): Transition {
  if (sample) capture(tr, { ...sample, purpose: 'step' });
  return tr;
}

function moveFrame(tr: Transition, cur: StepProgress, kind: MoveKind, face: FaceSignals, extent: number, sample: Sampling): Transition {
  const cfg = tr.state.config;
  let next = cur;
  if (extent > cur.peakDeg) next = { ...next, peakDeg: extent, peakLandmarks: face.landmarks.map((p) => ({ x: p.x, y: p.y })) };
  next = { ...next, hold: extent >= moveThreshold(kind, cfg) ? cur.hold + 1 : 0 };
  tr.set({ current: next });
  return next.hold >= cfg.holdFrames ? completeStep(tr, face, sample) : tr;
}

function blinkFrame(tr: Transition, cur: StepProgress, face: FaceSignals, sample: Sampling): Transition {
  const s = tr.state;
  const cfg = s.config;
  if (eyesOpen(face, cfg)) {
    if (cur.openSeen && cur.closedAtMs !== null && s.nowMs - cur.closedAtMs <= cfg.maxBlinkClosedMs) {
      tr.set({ current: cur });
      return completeStep(tr, face, sample);
    }
    // Open, or reopened after a closure too long to be a blink: wait for a proper one.
    return tr.set({ current: { ...cur, openSeen: true, closedAtMs: null } });
  }
  if (eyesClosed(face, cfg) && cur.openSeen && cur.closedAtMs === null) {
    return tr.set({ current: { ...cur, closedAtMs: s.nowMs } });
  }
  return tr.set({ current: cur });
}

/**
 * Records the step as passed (with the motion residual of a move) and moves on: to the next step
 * (armed on this frame already if it is neutral), or, after the last one, to the verdict, with
 * this frame sampled too (whoever completed the challenge is compared to the first face).
 */
function completeStep(tr: Transition, face: FaceSignals, sample: Sampling): Transition {
  const s = tr.state;
  const cur = s.current!;
  const kind = s.plan.steps[cur.index].kind;
  const steps = s.steps.map((st, i) => (i !== cur.index ? st : {
    ...st,
    status: 'passed' as const,
    startedAtMs: cur.startedMs - s.startedMs,
    completedAtMs: s.nowMs - s.startedMs,
    durationMs: s.nowMs - cur.startedMs,
    peakDeg: kind === 'blink' ? null : cur.peakDeg,
  }));
  tr.set({ steps });
  if (kind !== 'blink') {
    tr.set({ motion: [...s.motion, { kind, residual: residualOf(s.anchor!.landmarks, cur.peakLandmarks) }] });
  }
  if (cur.index + 1 < s.plan.steps.length) {
    startStep(tr, cur.index + 1);
    tr.progress();
    armStep(tr, face);
    return tr.state.current!.armedMs !== null ? markStep(tr, sample) : tr;
  }
  markStep(tr, sample);
  tr.set({ current: null, challengeDoneMs: s.nowMs });
  return enterFinal(tr);
}

function residualOf(frontal: readonly { x: number; y: number }[], turned: readonly { x: number; y: number }[] | null): number | null {
  if (!turned || frontal.length !== 68 || turned.length !== 68) return null;
  try {
    const r = motionResidual(frontal, turned).residual;
    return Number.isFinite(r) ? r : null;
  } catch {
    // Degenerate landmarks (all on a line, coincident): no measurement rather than a wrong one.
    return null;
  }
}

/** The current step's window has passed: `challenge_timeout`. Also the face-lost limit. */
export function challengeTimeout(tr: Transition): Transition {
  const s = tr.state;
  const cur = s.current;
  if (cur && s.nowMs - cur.startedMs > s.plan.steps[cur.index].timeLimitMs) {
    return finish(tr, 'reject', ['challenge_timeout'], 'timeout');
  }
  return checkFaceLost(tr);
}
