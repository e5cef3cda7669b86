/**
 * The session state: plain immutable data, replaced (never mutated) by every `step()`.
 * It holds landmarks of two frames for the motion check, but never an image or an embedding:
 * the runner turns embeddings into similarities before they reach the machine.
 */
import type { Point } from '../../models/types.js';
import type { SessionConfig } from './config.js';
import type { GestureTrack, RelPose } from './gestures.js';
import type {
  CancelReason,
  CapturePurpose,
  ChallengePlan,
  MotionStepScore,
  Phase,
  PromptId,
  QualityIssue,
  SessionResult,
  StepKind,
  StepTiming,
} from './types.js';

/** The frame that passed the quality gate: the session's first face and its reference pose. */
export interface Anchor {
  frameIndex: number;
  atMs: number;
  yaw: number;
  pitch: number;
  roll: number;
  interEyePx: number;
  brightness: number;
  sharpness: number;
  /** 68 landmarks, for the motion check only. */
  landmarks: readonly Point[];
}

/** Progress within the current challenge step. */
export interface StepProgress {
  index: number;
  /** The step's kind (a replacement step's kind is not in the plan's list). */
  kind: StepKind;
  startedMs: number;
  /**
   * When the step began to count: the previous move was released (the head came back from it),
   * or at once after the gate or a blink; null until then.
   */
  armedMs: number | null;
  /** Absolute pose when the step was armed: wrong moves are also measured from it. */
  baseline: RelPose | null;
  /** Consecutive frames of a clear move in another direction, and since when. */
  wrongFrames: number;
  wrongSinceMs: number | null;
  /** Largest angle in the asked direction so far, degrees from the anchor. */
  peakDeg: number;
  /** Landmarks at that peak, for the motion check. */
  peakLandmarks: readonly Point[] | null;
  /** True for the one replacement step a nonce plan may draw after a failed step. */
  replacement: boolean;
}

/** A frame the machine asked the runner to decide on. */
export interface Sample {
  frameIndex: number;
  atMs: number;
  purpose: CapturePurpose;
  /** Close enough to the anchor pose for the attack model. */
  padEligible: boolean;
  /** Near enough to the anchor pose for the continuity check (embeddings of a head turned 50 degrees drift). */
  continuityEligible: boolean;
  /** Frontal (good quality, near the anchor pose): used for matching against the reference. */
  frontal: boolean;
  status: 'pending' | 'done' | 'failed';
  attackScore: number | null;
  referenceSimilarity: number | null;
  anchorSimilarity: number | null;
}

export interface SessionState {
  readonly config: SessionConfig;
  readonly plan: ChallengePlan;
  readonly phase: Phase;
  readonly startedMs: number;
  /** Latest event time seen (times never go backwards inside the machine). */
  readonly nowMs: number;
  readonly phaseStartedMs: number;
  readonly lastPrompt: PromptId | null;
  readonly framesSeen: number;
  /** Waiting phase: frames without a face and with several. */
  readonly waitNoFace: number;
  readonly waitMulti: number;
  readonly gateFrames: number;
  readonly gateStreak: number;
  /** Poses of the current run of good gate frames (the anchor pose is their median). */
  readonly gatePoses: readonly { yaw: number; pitch: number; tMs: number }[];
  readonly issues: Readonly<Record<QualityIssue, number>>;
  readonly anchor: Anchor | null;
  readonly gatePassedMs: number | null;
  readonly lastFaceMs: number | null;
  readonly multiStreak: number;
  readonly current: StepProgress | null;
  /** The head-move and eye-closure detector, fed every frame after the gate. */
  readonly track: GestureTrack;
  readonly steps: readonly StepTiming[];
  readonly motion: readonly MotionStepScore[];
  readonly challengeDoneMs: number | null;
  readonly samples: readonly Sample[];
  readonly lastCaptureMs: number | null;
  readonly cancelReason: CancelReason | null;
  readonly result: SessionResult | null;
}

export const NO_ISSUES: Readonly<Record<QualityIssue, number>> = Object.freeze({
  no_face: 0,
  multiple_faces: 0,
  too_small: 0,
  too_close: 0,
  too_dark: 0,
  too_bright: 0,
  not_frontal: 0,
  blurry: 0,
  eyes_closed: 0,
  face_covered: 0,
});
