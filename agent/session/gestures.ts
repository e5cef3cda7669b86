/**
 * Head moves and eye closures read from per-frame signals: the one detector behind the session's
 * challenge steps and `eval video`, so that what the evaluation reports is what the kiosk does.
 * Pure: a small immutable track is threaded through `trackGesture()` frame by frame.
 *
 * Moves. Angles are relative to the anchor (the pose of the frame that passed the quality gate).
 * A move of kind K is seen when the head reaches K's threshold (20 deg yaw / 15 deg pitch by
 * default) and stays there for `holdFrames` frames. From then on K is *held* until the head comes
 * back below `releaseFraction` of K's threshold: the next move cannot start from inside the last
 * one, and the way back from a move is never read as a move of its own. Nothing else is asked of
 * the way back: real people rarely return to exactly the pose they started from, they sway, they
 * overshoot past neutral, and they often flow from one move into the next along a diagonal.
 *
 * A held move is also released when the head moves further into another direction than into it
 * (past that direction's own threshold): a look up still slightly held while the customer already
 * turns is over. Either release, like a move, needs `holdFrames` consecutive usable frames: one
 * frame of a half-hidden face (a deep bow past the detector's range gives a few such frames, their
 * pose off by 10 degrees and more) neither releases a move nor arms the next step on its pose.
 *
 * Eye closures. The eye-state model's probability of open eyes (else the eye aspect ratio) reads
 * open / closed with hysteresis. A closure counts only when open eyes were seen before it, when
 * it lasts at least `minBlinkClosedMs` (shorter is a flicker of the eye model), and only while the
 * head stays within `blinkMaxPoseDeg` of the anchor pose: lids look closed when the head is bowed
 * or turned far, which is a look down, not a blink.
 */
import type { FaceSignals } from '../../models/types.js';
import type { SessionConfig } from './config.js';
import { MOVE_KINDS, type MoveKind, type StepKind } from './types.js';

/** Yaw and pitch relative to a reference pose, degrees (yaw > 0: the subject's own left; pitch > 0: up). */
export interface RelPose {
  yaw: number;
  pitch: number;
}

/** The settings the detector reads (a subset of the session config, so `eval video` runs the kiosk's values). */
export type GestureConfig = Pick<
  SessionConfig,
  | 'turnYawDeg'
  | 'turnPitchDeg'
  | 'holdFrames'
  | 'releaseFraction'
  | 'minPoseFaceScore'
  | 'blinkMaxPoseDeg'
  | 'minBlinkClosedMs'
  | 'eyeClosedProbability'
  | 'eyeOpenProbability'
  | 'eyeClosedThreshold'
  | 'eyeOpenThreshold'
  | 'maxBlinkClosedMs'
  | 'wrongActionMarginDeg'
  | 'qualityStableFrames'
  | 'qualityStableMs'
  | 'qualityMaxPoseSpreadDeg'
>;

/** How far the head went in the direction of `kind`, degrees (negative: the other way). */
export function moveExtent(kind: MoveKind, rel: RelPose): number {
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
export function moveThreshold(kind: MoveKind, cfg: Pick<SessionConfig, 'turnYawDeg' | 'turnPitchDeg'>): number {
  return kind === 'turn_left' || kind === 'turn_right' ? cfg.turnYawDeg : cfg.turnPitchDeg;
}

/** The direction the head points furthest into, as a fraction of that direction's threshold. */
export function dominantMove(rel: RelPose, cfg: Pick<SessionConfig, 'turnYawDeg' | 'turnPitchDeg'>): { kind: MoveKind; ratio: number } {
  let best: { kind: MoveKind; ratio: number } = { kind: MOVE_KINDS[0], ratio: Number.NEGATIVE_INFINITY };
  for (const kind of MOVE_KINDS) {
    const ratio = moveExtent(kind, rel) / moveThreshold(kind, cfg);
    if (ratio > best.ratio) best = { kind, ratio };
  }
  return best;
}

/** `pose - reference` in yaw and pitch. */
export function relativeTo(pose: RelPose, reference: RelPose): RelPose {
  return { yaw: pose.yaw - reference.yaw, pitch: pose.pitch - reference.pitch };
}

/**
 * A clear move in a direction other than `asked`, or null. Clear means: measured both from the
 * anchor and from the pose the step started at (`fromStep`), the head went past that direction's
 * full threshold plus `wrongActionMarginDeg`, and further into it, relative to the thresholds,
 * than into the asked direction. Measuring from both references keeps a head that was already
 * offset when the step began (held lower after a look up, still swinging back from a turn) from
 * being read as a new move. For a blink step every head move is another direction.
 */
export function clearWrongMove(asked: StepKind, fromAnchor: RelPose, fromStep: RelPose, cfg: GestureConfig): MoveKind | null {
  const askedRatio = asked === 'blink' ? 0 : moveExtent(asked, fromAnchor) / moveThreshold(asked, cfg);
  let found: MoveKind | null = null;
  let foundRatio = Number.NEGATIVE_INFINITY;
  for (const kind of MOVE_KINDS) {
    if (kind === asked) continue;
    const threshold = moveThreshold(kind, cfg);
    const extent = Math.min(moveExtent(kind, fromAnchor), moveExtent(kind, fromStep));
    const ratio = extent / threshold;
    if (extent >= threshold + cfg.wrongActionMarginDeg && ratio > askedRatio && ratio > foundRatio) {
      found = kind;
      foundRatio = ratio;
    }
  }
  return found;
}

/** Eyes open: the eye-state model when it answered, else the eye aspect ratio. */
export function eyesOpen(face: Pick<FaceSignals, 'eyes'>, cfg: Pick<SessionConfig, 'eyeOpenProbability' | 'eyeOpenThreshold'>): boolean {
  const p = face.eyes.openProbability;
  return p !== undefined ? p >= cfg.eyeOpenProbability : (face.eyes.left + face.eyes.right) / 2 >= cfg.eyeOpenThreshold;
}

/** Eyes closed: the eye-state model when it answered, else the eye aspect ratio. */
export function eyesClosed(face: Pick<FaceSignals, 'eyes'>, cfg: Pick<SessionConfig, 'eyeClosedProbability' | 'eyeClosedThreshold'>): boolean {
  const p = face.eyes.openProbability;
  return p !== undefined ? p < cfg.eyeClosedProbability : (face.eyes.left + face.eyes.right) / 2 < cfg.eyeClosedThreshold;
}

/** A move that reached its threshold: frames from the first one past it to the last one before it was released. */
export interface MoveEvent {
  kind: MoveKind;
  first: number;
  last: number;
  /** When it was seen (the frame that completed the hold), ms. */
  atMs: number;
  /** Largest extent in its direction, degrees from the anchor. */
  peakDeg: number;
  /** True once the head came back below the release level. */
  released: boolean;
}

/** An eye closure that ended with open eyes: first and last closed frame. */
export interface ClosureEvent {
  first: number;
  last: number;
  durationMs: number;
  /** Short enough to be a blink (`maxBlinkClosedMs`). */
  blink: boolean;
}

export interface GestureTrack {
  /** The move being held (seen, not yet released), or null. */
  readonly held: MoveEvent | null;
  /** Consecutive usable frames on which the held move met a release condition (released at `holdFrames`). */
  readonly releasing: number;
  /** The move under way: its kind, consecutive frames past the threshold, first frame. */
  readonly run: { kind: MoveKind; frames: number; first: number; peakDeg: number } | null;
  /** Open eyes seen since the last closure (or the last reset). */
  readonly openSeen: boolean;
  /** The closure under way: first and last closed frame. */
  readonly closed: { first: number; firstMs: number; last: number } | null;
}

export const NEW_TRACK: GestureTrack = Object.freeze({ held: null, releasing: 0, run: null, openSeen: false, closed: null });

/** One frame as the detector reads it: the primary face's pose and eyes, or none. */
export interface GestureFrame {
  index: number;
  tMs: number;
  face: Pick<FaceSignals, 'pose' | 'eyes' | 'detection'> | null;
}

export interface GestureStep {
  track: GestureTrack;
  /** A move seen on this frame. */
  move: MoveEvent | null;
  /** The held move that was released on this frame. */
  released: MoveEvent | null;
  /** A closure that ended on this frame. */
  closure: ClosureEvent | null;
  /** The frame's pose relative to the anchor, when it has a usable face. */
  rel: RelPose | null;
}

/**
 * Advances the detector by one frame. `asked` is the move a challenge step waits for: the head
 * then counts as moving when that direction reaches its threshold, whatever the other axis does
 * (a diagonal look up is a look up); without it (`eval video`) the dominant direction counts.
 * Frames whose face was detected below `minPoseFaceScore` are gaps: their pose is unreliable.
 */
export function trackGesture(track: GestureTrack, frame: GestureFrame, anchor: RelPose, cfg: GestureConfig, asked?: MoveKind): GestureStep {
  const face = frame.face && frame.face.detection.score >= cfg.minPoseFaceScore ? frame.face : null;
  if (!face) return { track, move: null, released: null, closure: null, rel: null };
  const rel = relativeTo(face.pose, anchor);
  let { held, run, releasing } = track;
  let move: MoveEvent | null = null;
  let released: MoveEvent | null = null;

  if (held) {
    const extent = moveExtent(held.kind, rel);
    const other = dominantMove(rel, cfg);
    const overtaken = other.kind !== held.kind && other.ratio >= 1 && other.ratio > extent / moveThreshold(held.kind, cfg);
    if (extent < cfg.releaseFraction * moveThreshold(held.kind, cfg) || overtaken) {
      releasing += 1;
      if (releasing >= cfg.holdFrames) {
        released = { ...held, released: true };
        held = null;
        releasing = 0;
      }
    } else {
      releasing = 0;
      held = { ...held, last: frame.index, peakDeg: Math.max(held.peakDeg, extent) };
    }
  }
  // A new move's frames count from the first frame it is past its threshold, also while the last
  // move is being released by it (flowing from one move into the next); it is seen after the release.
  const kind = asked ?? dominantMove(rel, cfg).kind;
  if ((!held || releasing > 0) && kind !== held?.kind) {
    const extent = moveExtent(kind, rel);
    if (extent >= moveThreshold(kind, cfg)) {
      run =
        run && run.kind === kind
          ? { ...run, frames: run.frames + 1, peakDeg: Math.max(run.peakDeg, extent) }
          : { kind, frames: 1, first: frame.index, peakDeg: extent };
      if (!held && !released && run.frames >= cfg.holdFrames) {
        move = { kind, first: run.first, last: frame.index, atMs: frame.tMs, peakDeg: run.peakDeg, released: false };
        held = move;
        run = null;
      }
    } else {
      run = null;
    }
  } else {
    run = null;
  }

  const eyes = trackEyes(track, face, frame, rel, cfg);
  return { track: { held, releasing, run, openSeen: eyes.openSeen, closed: eyes.closed }, move, released, closure: eyes.closure, rel };
}

function trackEyes(
  track: GestureTrack,
  face: Pick<FaceSignals, 'eyes'>,
  frame: GestureFrame,
  rel: RelPose,
  cfg: GestureConfig,
): Pick<GestureTrack, 'openSeen' | 'closed'> & { closure: ClosureEvent | null } {
  if (Math.abs(rel.yaw) > cfg.blinkMaxPoseDeg || Math.abs(rel.pitch) > cfg.blinkMaxPoseDeg) {
    // Not readable: a closure under way is dropped, the open eyes seen before it still count.
    return { openSeen: track.openSeen, closed: null, closure: null };
  }
  if (eyesOpen(face, cfg)) {
    if (track.closed && track.openSeen) {
      const durationMs = frame.tMs - track.closed.firstMs;
      const closure =
        durationMs >= cfg.minBlinkClosedMs
          ? { first: track.closed.first, last: track.closed.last, durationMs, blink: durationMs <= cfg.maxBlinkClosedMs }
          : null;
      return { openSeen: true, closed: null, closure };
    }
    return { openSeen: true, closed: null, closure: null };
  }
  if (eyesClosed(face, cfg) && track.openSeen) {
    const closed = track.closed ? { ...track.closed, last: frame.index } : { first: frame.index, firstMs: frame.tMs, last: frame.index };
    return { openSeen: true, closed, closure: null };
  }
  return { openSeen: track.openSeen, closed: track.closed, closure: null };
}

/** The track for a new blink step: only closures that start from open eyes seen now or later count. */
export function resetEyes(track: GestureTrack, face: Pick<FaceSignals, 'eyes'> | null, cfg: GestureConfig): GestureTrack {
  return { ...track, openSeen: face !== null && eyesOpen(face, cfg), closed: null };
}

/** One good gate frame's pose and time. */
export interface StillPose {
  yaw: number;
  pitch: number;
  tMs: number;
}

/**
 * The gate's stillness rule, shared with `eval video`: adds a good frame to the run of good frames,
 * cut back to the frames this one agrees with (yaw and pitch each within `qualityMaxPoseSpreadDeg`),
 * and keeps no more than it needs. `still` once the run has `qualityStableFrames` frames spanning
 * `qualityStableMs`; the anchor pose is then the run's median yaw and pitch. `broke` when the new
 * frame disagreed with earlier ones (the head moved: "hold still").
 */
export function extendStillRun(
  run: readonly StillPose[],
  pose: StillPose,
  cfg: GestureConfig,
): { run: StillPose[]; still: boolean; broke: boolean; anchor: RelPose | null } {
  const poses = [...run, pose];
  const spread = (xs: number[]) => Math.max(...xs) - Math.min(...xs);
  while (poses.length > 1 && (spread(poses.map((p) => p.yaw)) > cfg.qualityMaxPoseSpreadDeg || spread(poses.map((p) => p.pitch)) > cfg.qualityMaxPoseSpreadDeg))
    poses.shift();
  const broke = poses.length < run.length + 1;
  while (poses.length > cfg.qualityStableFrames && pose.tMs - poses[1].tMs >= cfg.qualityStableMs) poses.shift();
  const still = poses.length >= cfg.qualityStableFrames && pose.tMs - poses[0].tMs >= cfg.qualityStableMs;
  return { run: poses, still, broke, anchor: still ? { yaw: middle(poses.map((p) => p.yaw)), pitch: middle(poses.map((p) => p.pitch)) } : null };
}

function middle(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
