/** Reading the engine's per-frame signals: which face counts, whether it is good enough, where it points. */
import type { FaceSignals, FrameSignals } from '../../models/types.js';
import type { SessionConfig } from './config.js';
import type { Anchor } from './state.js';
import type { MoveKind, PromptId, QualityIssue, StepKind } from './types.js';
import { MOVE_KINDS } from './types.js';

export interface FaceView {
  /** The largest face, or null when there is none. */
  face: FaceSignals | null;
  /** Its index in `FrameSignals.faces` (what `capture_for_decision` refers to). */
  index: number;
  /** Faces that count: the largest and any not much smaller than it (background passers-by are ignored). */
  count: number;
}

/** The primary face of a frame and how many faces count. */
export function viewFaces(frame: FrameSignals, cfg: SessionConfig): FaceView {
  let index = -1;
  for (let i = 0; i < frame.faces.length; i++) {
    if (index < 0 || frame.faces[i].quality.interEyePx > frame.faces[index].quality.interEyePx) index = i;
  }
  if (index < 0) return { face: null, index: -1, count: 0 };
  const largest = frame.faces[index].quality.interEyePx;
  const count = frame.faces.filter((f) => f.quality.interEyePx >= cfg.backgroundFaceRatio * largest).length;
  return { face: frame.faces[index], index, count };
}

/** Mean eye aspect ratio of both eyes. */
export function eyeOpenness(face: FaceSignals): number {
  return (face.eyes.left + face.eyes.right) / 2;
}

/** Eyes open for the blink step: the eye-state model when it answered, else the eye aspect ratio. */
export function eyesOpen(face: FaceSignals, cfg: SessionConfig): boolean {
  const p = face.eyes.openProbability;
  return p !== undefined ? p >= cfg.eyeOpenProbability : eyeOpenness(face) >= cfg.eyeOpenThreshold;
}

/** Eyes closed for the blink step: the eye-state model when it answered, else the eye aspect ratio. */
export function eyesClosed(face: FaceSignals, cfg: SessionConfig): boolean {
  const p = face.eyes.openProbability;
  return p !== undefined ? p < cfg.eyeClosedProbability : eyeOpenness(face) < cfg.eyeClosedThreshold;
}

/** The first quality check a frame fails, in the gate's order, or null when it passes. */
export function qualityIssue(frame: FrameSignals, view: FaceView, cfg: SessionConfig): QualityIssue | null {
  const f = view.face;
  if (!f || view.count === 0) return 'no_face';
  if (view.count > 1) return 'multiple_faces';
  const q = f.quality;
  if (q.interEyePx < cfg.minInterEyePx) return 'too_small';
  if (q.faceWidthPx > cfg.maxFaceWidthRatio * frame.width) return 'too_close';
  if (q.brightness < cfg.minBrightness) return 'too_dark';
  if (q.brightness > cfg.maxBrightness) return 'too_bright';
  const p = f.pose;
  if (Math.abs(p.yaw) > cfg.maxFrontalYawDeg || Math.abs(p.pitch) > cfg.maxFrontalPitchDeg || Math.abs(p.roll) > cfg.maxFrontalRollDeg) {
    return 'not_frontal';
  }
  if (q.sharpness < cfg.minSharpness) return 'blurry';
  if (eyeOpenness(f) < cfg.eyeOpenThreshold) return 'eyes_closed';
  return null;
}

/** The guidance shown for each quality issue. */
export const ISSUE_PROMPT: Readonly<Record<QualityIssue, PromptId>> = {
  no_face: 'look_at_camera',
  multiple_faces: 'only_one_person',
  too_small: 'move_closer',
  too_close: 'move_back',
  too_dark: 'more_light',
  too_bright: 'less_light',
  not_frontal: 'look_straight',
  blurry: 'hold_still',
  eyes_closed: 'open_eyes',
};

/** Yaw and pitch relative to the anchor, so that a camera mounted above the screen does not count as a move. */
export function relativePose(face: FaceSignals, anchor: Anchor): { yaw: number; pitch: number } {
  return { yaw: face.pose.yaw - anchor.yaw, pitch: face.pose.pitch - anchor.pitch };
}

/** How far the head went in the direction of `kind`, degrees (negative: the other way). */
export function moveExtent(kind: MoveKind, rel: { yaw: number; pitch: number }): number {
  switch (kind) {
    case 'turn_left':
      return rel.yaw;
    case 'turn_right':
      return -rel.yaw;
    case 'look_up':
      return rel.pitch;
    case 'look_down':
      return -rel.pitch;
  }
}

/** The angle a move must reach. */
export function moveThreshold(kind: MoveKind, cfg: SessionConfig): number {
  return kind === 'turn_left' || kind === 'turn_right' ? cfg.turnYawDeg : cfg.turnPitchDeg;
}

/** Whether the head is back near the anchor pose. */
export function isNeutral(rel: { yaw: number; pitch: number }, cfg: SessionConfig): boolean {
  return Math.abs(rel.yaw) <= cfg.neutralMaxDeg && Math.abs(rel.pitch) <= cfg.neutralMaxDeg;
}

/**
 * A clear move in a direction other than the one asked: past that direction's threshold by the
 * margin and further than the asked direction. For `blink` every move counts.
 */
export function isWrongMove(asked: StepKind, rel: { yaw: number; pitch: number }, cfg: SessionConfig): boolean {
  const askedExtent = asked === 'blink' ? 0 : moveExtent(asked, rel);
  return MOVE_KINDS.some(
    (k) => k !== asked && moveExtent(k, rel) >= moveThreshold(k, cfg) + cfg.wrongActionMarginDeg && moveExtent(k, rel) > askedExtent,
  );
}

/** Whether a capture at this relative pose is close enough to frontal for the attack model. */
export function isPadEligible(rel: { yaw: number; pitch: number }, cfg: SessionConfig): boolean {
  return Math.abs(rel.yaw) <= cfg.padMaxPoseDeg && Math.abs(rel.pitch) <= cfg.padMaxPoseDeg;
}

/** The issue the gate failed on most often, null when none. */
export function dominantIssue(issues: Readonly<Record<QualityIssue, number>>): QualityIssue | null {
  let dominant: QualityIssue | null = null;
  for (const [issue, n] of Object.entries(issues) as [QualityIssue, number][]) {
    if (n > 0 && (dominant === null || n > issues[dominant])) dominant = issue;
  }
  return dominant;
}
