/** Phase `quality_gate`: a few consecutive good frames of one frontal face; the last one becomes the anchor. */
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
    tr.set({ gateStreak: 0, issues: { ...s.issues, [issue]: s.issues[issue] + 1 } });
    return tr.prompt(ISSUE_PROMPT[issue]);
  }
  const streak = s.gateStreak + 1;
  tr.set({ gateStreak: streak });
  if (streak < cfg.qualityStableFrames) return tr;

  const f = view.face!;
  const anchor: Anchor = {
    frameIndex: e.index,
    atMs: s.nowMs,
    yaw: f.pose.yaw,
    pitch: f.pose.pitch,
    roll: f.pose.roll,
    interEyePx: f.quality.interEyePx,
    brightness: f.quality.brightness,
    sharpness: f.quality.sharpness,
    landmarks: f.landmarks.map((p) => ({ x: p.x, y: p.y })),
  };
  tr.set({ anchor, gatePassedMs: s.nowMs, lastFaceMs: s.nowMs, multiStreak: 0 });
  capture(tr, { frameIndex: e.index, faceIndex: view.index, purpose: 'anchor', padEligible: true, frontal: true });
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
