/**
 * Phase `challenge`: the plan's steps in order, read by the gesture detector (`gestures.ts`).
 * - A step counts from the moment it is armed: at once after the gate or a blink, and after a
 *   head move once the head has come back from it (or moved on into another direction).
 * - A move passes when the head reaches the asked direction's threshold for `holdFrames` frames,
 *   however much the other axis moves with it.
 * - A blink passes when the eyes, seen open, close and open again within `maxBlinkClosedMs`.
 * - A clear move in another direction (see `clearWrongMove`), held for `wrongActionFrames` frames
 *   and `wrongActionMs`, is `challenge_wrong_action`. Sway, overshoot on the way back and diagonal
 *   motion are not clear moves.
 * - A nonce plan may replace a failed step (wrong action, timeout) by one drawn from the same
 *   nonce, `stepRetries` times per session.
 */
import type { FaceSignals } from '../../../models/types.js';
import { clearWrongMove, eyesOpen, moveExtent, relativeTo, resetEyes, trackGesture, type RelPose } from '../gestures.js';
import { motionResidual } from '../motion.js';
import { drawReplacements } from '../../../protocol/plan.js';
import { finish } from '../result.js';
import { isContinuityEligible, isNeutral, isPadEligible, qualityIssue, type FaceView } from '../signals.js';
import type { StepProgress } from '../state.js';
import type { Transition } from '../transition.js';
import type { FrameEvent, MoveKind, StepKind, StepStatus, StepTiming } from '../types.js';
import { capture, missingSamples, type CaptureRequest } from './capture.js';
import { checkFaceLost, trackFace } from './continuity.js';
import { enterFinal } from './final.js';

/** Starts the step at `index` of `state.steps` now; it counts once armed. */
export function startStep(tr: Transition, index: number, replacement = false): Transition {
  const current: StepProgress = {
    index,
    kind: tr.state.steps[index].kind,
    startedMs: tr.state.nowMs,
    armedMs: null,
    baseline: null,
    wrongFrames: 0,
    wrongSinceMs: null,
    peakDeg: 0,
    peakLandmarks: null,
    replacement,
  };
  tr.set({ current });
  return tr.prompt(current.kind);
}

/** Arms the current step when no move is held any more; a blink step starts reading the eyes afresh. */
export function armStep(tr: Transition, face: FaceSignals | null): Transition {
  const s = tr.state;
  const cur = s.current!;
  if (cur.armedMs !== null || s.track.held !== null || !face) return tr;
  const baseline: RelPose = { yaw: face.pose.yaw, pitch: face.pose.pitch };
  tr.set({ current: { ...cur, armedMs: s.nowMs, baseline } });
  if (cur.kind === 'blink') tr.set({ track: resetEyes(s.track, face, s.config) });
  return tr;
}

export function challengeFrame(tr: Transition, e: FrameEvent): Transition {
  const view = trackFace(tr, e);
  if (!view || tr.done) return tr;
  // The step's prompt again after "look at the camera" or "only one person".
  tr.prompt(tr.state.current!.kind);
  const s = tr.state;
  const cfg = s.config;
  const face = view.face!;
  const anchor = s.anchor!;
  const rel = relativeTo(face.pose, anchor);
  const sample = sampleOf(tr, e, view, rel);
  if (sample) {
    const since = s.lastCaptureMs === null ? Number.POSITIVE_INFINITY : s.nowMs - s.lastCaptureMs;
    const missing = missingSamples(s);
    // Samples the verdict still needs are taken sooner (mostly right after the gate, while the
    // customer still looks straight), so that nothing is missing when the last step is done.
    const fills = (sample.frontal && missing.frontal > 0) || (sample.padEligible && missing.attack > 0);
    if (since >= cfg.captureIntervalMs || (fills && since >= cfg.finalCaptureSpacingMs)) capture(tr, { ...sample, purpose: 'challenge' });
  }

  const kind = s.current!.kind;
  const wasArmed = s.current!.armedMs !== null;
  const asked: MoveKind | undefined = kind === 'blink' ? undefined : kind;
  const seen = trackGesture(tr.state.track, { index: e.index, tMs: e.tMs, face }, anchor, cfg, wasArmed ? asked : undefined);
  tr.set({ track: seen.track });
  if (!wasArmed) {
    armStep(tr, seen.rel ? face : null);
    if (tr.state.current!.armedMs !== null) markStep(tr, sample);
    return tr;
  }
  if (!seen.rel) return tr; // a weak detection: no pose to judge

  const cur = tr.state.current!;
  const wrong = clearWrongMove(kind, seen.rel, relativeTo(face.pose, cur.baseline!), cfg);
  if (wrong) {
    const wrongSinceMs = cur.wrongSinceMs ?? s.nowMs;
    const wrongFrames = cur.wrongFrames + 1;
    if (wrongFrames >= cfg.wrongActionFrames && s.nowMs - wrongSinceMs >= cfg.wrongActionMs) return failStep(tr, 'wrong_action', face, sample);
    tr.set({ current: { ...cur, wrongFrames, wrongSinceMs } });
  } else if (cur.wrongFrames > 0) {
    tr.set({ current: { ...cur, wrongFrames: 0, wrongSinceMs: null } });
  }

  if (kind === 'blink') return seen.closure?.blink ? completeStep(tr, face, sample) : tr;
  const extent = moveExtent(kind, seen.rel);
  const now = tr.state.current!;
  if (extent > now.peakDeg) tr.set({ current: { ...now, peakDeg: extent, peakLandmarks: face.landmarks.map((p) => ({ x: p.x, y: p.y })) } });
  return seen.move?.kind === kind ? completeStep(tr, face, sample) : tr;
}

/** What a capture of this frame would be, or null when the face is too small or blurred to decide on. */
type Sampling = Omit<CaptureRequest, 'purpose'> | null;

function sampleOf(tr: Transition, e: FrameEvent, view: FaceView, rel: RelPose): Sampling {
  const cfg = tr.state.config;
  const face = view.face!;
  if (face.quality.interEyePx < cfg.minInterEyePx || face.quality.sharpness < cfg.minSharpness) return null;
  // Frontal: a frame that would pass the quality gate, near the anchor pose, eyes open.
  const frontal = qualityIssue(e.signals, view, cfg) === null && isNeutral(rel, cfg) && eyesOpen(face, cfg);
  return { frameIndex: e.index, faceIndex: view.index, padEligible: isPadEligible(rel, cfg), continuityEligible: isContinuityEligible(rel, cfg), frontal };
}

/** Captures a step mark (the frame that arms a step, or completes the last one). */
function markStep(tr: Transition, sample: Sampling): Transition {
  if (sample) capture(tr, { ...sample, purpose: 'step' });
  return tr;
}

function timing(tr: Transition, status: StepStatus, cur: StepProgress): StepTiming {
  const s = tr.state;
  const done = status === 'passed';
  return {
    ...s.steps[cur.index],
    status,
    startedAtMs: cur.startedMs - s.startedMs,
    completedAtMs: done ? s.nowMs - s.startedMs : null,
    durationMs: done ? s.nowMs - cur.startedMs : null,
    peakDeg: cur.kind === 'blink' ? null : cur.peakDeg,
  };
}

/**
 * Records the step as passed (with the motion residual of a move) and moves on: to the next step
 * (armed on this frame already when nothing is held), or, after the last one, to the verdict,
 * with this frame sampled too (whoever completed the challenge is compared to the first face).
 */
function completeStep(tr: Transition, face: FaceSignals, sample: Sampling): Transition {
  const s = tr.state;
  const cur = s.current!;
  tr.set({ steps: s.steps.map((st, i) => (i === cur.index ? timing(tr, 'passed', cur) : st)) });
  if (cur.kind !== 'blink') {
    tr.set({ motion: [...s.motion, { kind: cur.kind, residual: residualOf(s.anchor!.landmarks, cur.peakLandmarks) }] });
  }
  return nextStep(tr, face, sample);
}

function nextStep(tr: Transition, face: FaceSignals | null, sample: Sampling): Transition {
  const s = tr.state;
  const cur = s.current!;
  if (cur.index + 1 < s.steps.length) {
    startStep(tr, cur.index + 1, s.steps[cur.index + 1].replacement === true);
    tr.progress();
    armStep(tr, face);
    return tr.state.current!.armedMs !== null ? markStep(tr, sample) : tr;
  }
  markStep(tr, sample);
  tr.set({ current: null, challengeDoneMs: s.nowMs });
  return enterFinal(tr);
}

/** Replacements the plan still allows: nonce plans only, `stepRetries` per session. */
function canReplace(tr: Transition): boolean {
  const s = tr.state;
  return s.plan.nonce !== null && s.steps.filter((x) => x.replacement).length < s.config.stepRetries;
}

/**
 * The current step failed (`wrong_action` or `timeout`): a nonce plan with a retry left inserts a
 * replacement step drawn from the nonce and goes on; otherwise the session is rejected.
 */
function failStep(tr: Transition, status: 'wrong_action' | 'timeout', face: FaceSignals | null, sample: Sampling): Transition {
  if (!canReplace(tr)) return finish(tr, 'reject', [status === 'timeout' ? 'challenge_timeout' : 'challenge_wrong_action'], status);
  const s = tr.state;
  const cur = s.current!;
  // Every step that failed so far, this one included, in order: the n-th replacement is the n-th draw.
  const failures = s.steps
    .slice(0, cur.index + 1)
    .flatMap((st, i) =>
      i === cur.index || st.status === 'wrong_action' || st.status === 'timeout' ? [{ failed: st.kind, previous: i > 0 ? s.steps[i - 1].kind : null }] : [],
    );
  const kinds = drawReplacements(s.plan.nonce!, failures);
  const replacement: StepTiming = {
    kind: kinds[kinds.length - 1] as StepKind,
    timeLimitMs: s.steps[cur.index].timeLimitMs,
    status: 'not_started',
    startedAtMs: null,
    completedAtMs: null,
    durationMs: null,
    peakDeg: null,
    replacement: true,
  };
  const steps = [...s.steps];
  steps[cur.index] = timing(tr, status, cur);
  steps.splice(cur.index + 1, 0, { ...replacement, timeLimitMs: timeLimitOf(s.plan.steps, replacement.kind, replacement.timeLimitMs) });
  tr.set({ steps });
  return nextStep(tr, face, sample);
}

/** The window of a replacement step: that kind's window in the plan when it has one, else the failed step's. */
function timeLimitOf(planSteps: readonly { kind: StepKind; timeLimitMs: number }[], kind: StepKind, fallback: number): number {
  return planSteps.find((p) => p.kind === kind)?.timeLimitMs ?? fallback;
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

/** The current step's window has passed: `challenge_timeout` (or its replacement). Also the face-lost limit. */
export function challengeTimeout(tr: Transition): Transition {
  const s = tr.state;
  const cur = s.current;
  if (cur && s.nowMs - cur.startedMs > s.steps[cur.index].timeLimitMs) return failStep(tr, 'timeout', null, null);
  return checkFaceLost(tr);
}
