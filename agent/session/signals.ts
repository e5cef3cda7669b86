/** Reading the engine's per-frame signals: which face counts, whether it is good enough, where it points. */
import type { FaceSignals, FrameSignals } from '../../models/types.js';
import type { SessionConfig } from './config.js';
import type { PromptId, QualityIssue } from './types.js';

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
  // A face the camera shows in colour whose lower half has no skin tint: a mask (no answer: not covered).
  if (q.lowerFaceSkin !== undefined && q.lowerFaceSkin !== null && q.lowerFaceSkin < cfg.minLowerFaceSkin) return 'face_covered';
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
  face_covered: 'uncover_face',
};

/** Whether the head is near the anchor pose (a frontal sample for matching). */
export function isNeutral(rel: { yaw: number; pitch: number }, cfg: SessionConfig): boolean {
  return Math.abs(rel.yaw) <= cfg.neutralMaxDeg && Math.abs(rel.pitch) <= cfg.neutralMaxDeg;
}

/** Whether a capture at this relative pose is close enough to frontal for the attack model. */
export function isPadEligible(rel: { yaw: number; pitch: number }, cfg: SessionConfig): boolean {
  return Math.abs(rel.yaw) <= cfg.padMaxPoseDeg && Math.abs(rel.pitch) <= cfg.padMaxPoseDeg;
}

/** Whether a capture at this relative pose is close enough to the anchor pose for the continuity check. */
export function isContinuityEligible(rel: { yaw: number; pitch: number }, cfg: SessionConfig): boolean {
  return Math.abs(rel.yaw) <= cfg.continuityMaxPoseDeg && Math.abs(rel.pitch) <= cfg.continuityMaxPoseDeg;
}

/**
 * The issue the gate failed on most often, null when none; except that a covered face seen on at
 * least a quarter of the checked frames comes first: a mask is not something the customer cures
 * by waiting or turning back, and it is what the customer must be told (a masked customer who also
 * turns around fails `not_frontal` on as many frames).
 */
export function dominantIssue(issues: Readonly<Record<QualityIssue, number>>): QualityIssue | null {
  const total = Object.values(issues).reduce((a, b) => a + b, 0);
  if (issues.face_covered > 0 && issues.face_covered >= total / 4) return 'face_covered';
  let dominant: QualityIssue | null = null;
  for (const [issue, n] of Object.entries(issues) as [QualityIssue, number][]) {
    if (n > 0 && (dominant === null || n > issues[dominant])) dominant = issue;
  }
  return dominant;
}
