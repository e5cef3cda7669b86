/**
 * Phase `quality_gate`: a few consecutive good frames of one frontal face, held still (their yaw
 * and pitch within `qualityMaxPoseSpreadDeg`); the last one becomes the anchor, with the median
 * pose of the run as the pose every move is measured from.
 */
import { extendStillRun, NEW_TRACK } from '../gestures.js';
import { finish } from '../result.js';
import { dominantIssue, ISSUE_PROMPT, qualityIssue, viewFaces } from '../signals.js';
import type { Anchor } from '../state.js';
import type { Transition } from '../transition.js';
import type { FrameEvent, ReasonCode } from '../types.js';
import { capture } from './capture.js';
import { armStep, startStep } from './challenge.js';

export function gateFrame(tr: Transition, e: FrameEvent): Transition {
  const s = tr.state;
  const cfg = s.config;
  const view = viewFaces(e.signals, cfg);
  const issue = qualityIssue(e.signals, view, cfg);
  tr.set({ gateFrames: s.gateFrames + 1 });
  if (issue) {
    tr.set({ gateStreak: 0, gatePoses: [], issues: { ...s.issues, [issue]: s.issues[issue] + 1 } });
    return tr.prompt(ISSUE_PROMPT[issue]);
  }
  const f = view.face!;
  // A head sweeping through frontal is not still: the run is cut back to the frames this one agrees with.
  const still = extendStillRun(s.gatePoses, { yaw: f.pose.yaw, pitch: f.pose.pitch, tMs: s.nowMs }, cfg);
  tr.set({ gateStreak: still.run.length, gatePoses: still.run });
  if (!still.anchor) return still.broke ? tr.prompt('hold_still') : tr;

  const anchor: Anchor = {
    frameIndex: e.index,
    atMs: s.nowMs,
    yaw: still.anchor.yaw,
    pitch: still.anchor.pitch,
    roll: f.pose.roll,
    interEyePx: f.quality.interEyePx,
    brightness: f.quality.brightness,
    sharpness: f.quality.sharpness,
    landmarks: f.landmarks.map((p) => ({ x: p.x, y: p.y })),
  };
  tr.set({ anchor, gatePassedMs: s.nowMs, lastFaceMs: s.nowMs, multiStreak: 0, track: NEW_TRACK });
  capture(tr, { frameIndex: e.index, faceIndex: view.index, purpose: 'anchor', padEligible: true, continuityEligible: true, frontal: true });
  tr.enter('challenge');
  startStep(tr, 0);
  return armStep(tr, f);
}

/** After `qualityTimeoutMs` in the gate (or at the end of the input, `force`): retry, with the reason the gate mostly failed on. */
export function gateTimeout(tr: Transition, force = false): Transition {
  const s = tr.state;
  if (!force && s.nowMs - s.phaseStartedMs <= s.config.qualityTimeoutMs) return tr;
  const dominant = dominantIssue(s.issues);
  const reason: ReasonCode = dominant === 'no_face' || dominant === 'multiple_faces' ? dominant : 'quality';
  return finish(tr, 'retry', [reason]);
}
