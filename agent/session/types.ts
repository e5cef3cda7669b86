/**
 * Data types of the verification session: the challenge plan, the events the runner feeds to
 * `step()`, the effects it gets back, and the result. Plain data only, so that a plan or a result
 * can be serialised, signed and recomputed elsewhere.
 */
import type { EngineModelInfo } from '../../models/engine.js';
import type { FrameSignals } from '../../models/types.js';
import type { HoldsBiometric } from '../../protocol/eat.js';

export { STEP_KINDS } from '../../protocol/plan.js';
export type { ChallengePlan, ChallengeStep, NonceSource, StepKind } from '../../protocol/plan.js';
import type { ChallengePlan, StepKind } from '../../protocol/plan.js';
import type { ReasonCode, Verdict } from '../../protocol/verdict.js';

/** The head-movement step kinds (everything but `blink`). */
export type MoveKind = Exclude<StepKind, 'blink'>;

export const MOVE_KINDS: readonly MoveKind[] = ['turn_left', 'turn_right', 'look_up', 'look_down'];

/** Messages for the customer screen. Ids only: the screen owns the wording; never a score. */
export type PromptId =
  | 'look_at_camera'
  | 'only_one_person'
  | 'move_closer'
  | 'move_back'
  | 'more_light'
  | 'less_light'
  | 'look_straight'
  | 'hold_still'
  | 'open_eyes'
  | 'blink'
  | 'turn_left'
  | 'turn_right'
  | 'look_up'
  | 'look_down'
  | 'uncover_face'
  | 'please_wait';

export type Phase = 'waiting_face' | 'quality_gate' | 'challenge' | 'final_capture' | 'deciding' | 'done';

/** Why the session was stopped from outside. */
export type CancelReason = 'tamper' | 'customer_left' | 'operator' | 'timeout' | 'shutdown';

/**
 * Reason codes of a non-accept verdict:
 * - `no_face`: no face seen while waiting for one (retry);
 * - `multiple_faces`: more than one person, persistently (retry before the challenge, reject during it);
 * - `quality`: the quality gate was never passed (retry);
 * - `face_lost`: the face disappeared for longer than allowed after the gate (reject);
 * - `challenge_timeout`: a step was not observed within its window (reject);
 * - `challenge_wrong_action`: a different movement than the one asked was made (reject);
 * - `presentation_attack`: the aggregated attack score is above threshold (reject);
 * - `identity_changed`: sampled faces are not the person of the first frame (reject);
 * - `no_match`: the face does not match the reference portrait (reject);
 * - `motion_inconsistent`: the head turns moved like a flat plane (reject when enabled);
 * - `insufficient_samples`: too few frames usable for the attack check (retry);
 * - `decision_unavailable`: the decision path did not answer for the first face (retry);
 * - `cancelled`: stopped from outside, see `cancelReason` (reject);
 * - `attempts_exceeded`: too many failed sessions against this reference lately; the session was
 *   not run (reject, see `retryAfterMs`);
 * - `document_unreadable`: the identity document's chip could not be read (no document in time, a
 *   wrong MRZ, the card taken away, an unreadable portrait); the face session was not run (retry);
 * - `document_not_authentic`: the chip's data is not what a trusted issuing state signed, or the chip
 *   could not prove its key (a clone); the face session was not run (reject).
 */
export type { ReasonCode, Verdict };

/** What the quality gate found wrong with a frame, in the order it checks. */
export type QualityIssue =
  | 'no_face'
  | 'multiple_faces'
  | 'too_small'
  | 'too_close'
  | 'too_dark'
  | 'too_bright'
  | 'not_frontal'
  | 'blurry'
  | 'eyes_closed'
  | 'face_covered';

// ---------------------------------------------------------------- events

/** One analysed camera frame. `tMs` is monotonic (any origin, same clock for all events). */
export interface FrameEvent {
  type: 'frame';
  tMs: number;
  /** Frame number from the source; `capture_for_decision` refers to it. */
  index: number;
  signals: FrameSignals;
}

/**
 * The decision path's answer for a frame the machine asked for. The runner computes both
 * similarities itself, so embeddings never enter the machine.
 */
export interface DecisionEvent {
  type: 'decision';
  tMs: number;
  frameIndex: number;
  /** 0 = looks live, 1 = looks like an attack. */
  attackScore: number;
  /** Cosine similarity of this face's embedding to the reference template. */
  referenceSimilarity: number;
  /** Cosine similarity to the embedding of the `anchor` capture; null for the anchor itself. */
  anchorSimilarity: number | null;
}

/** The decision path failed for a frame the machine asked for (no crop, model error). */
export interface DecisionFailedEvent {
  type: 'decision_failed';
  tMs: number;
  frameIndex: number;
}

export interface CancelEvent {
  type: 'cancel';
  tMs: number;
  reason: CancelReason;
}

/** Time passes with no frame (camera stall, slow decision path): lets timeouts fire. */
export interface TickEvent {
  type: 'tick';
  tMs: number;
}

/**
 * No more frames will come (a recording ended): the phase waiting for frames ends as if its
 * limit had passed; a step in progress is a `challenge_timeout`; final capture goes to deciding.
 */
export interface EndEvent {
  type: 'end';
  tMs: number;
}

export type SessionEvent = FrameEvent | DecisionEvent | DecisionFailedEvent | CancelEvent | TickEvent | EndEvent;

// ---------------------------------------------------------------- effects

/** Show this message on the customer screen (emitted only when it changes). */
export interface PromptEffect {
  type: 'prompt';
  id: PromptId;
}

export interface ProgressEffect {
  type: 'progress';
  phase: Phase;
  completedSteps: number;
  totalSteps: number;
}

/**
 * Why a frame is sampled for the decision path: `anchor` (the gate frame, the session's first
 * face), `challenge` (at intervals, and right after the gate while samples are missing), `step`
 * (the frame that arms a step, and the one that completes the last step), `final` (after the last
 * step, only while frontal or attack samples are still missing).
 */
export type CapturePurpose = 'anchor' | 'challenge' | 'step' | 'final';

/**
 * Run the decision path (attack score + embedding) on the face `faceIndex` of the frame of the
 * event that produced this effect, and answer with a `decision` or `decision_failed` event.
 * The `anchor` capture comes first; its embedding is the session's first face.
 */
export interface CaptureEffect {
  type: 'capture_for_decision';
  frameIndex: number;
  faceIndex: number;
  purpose: CapturePurpose;
}

export interface DoneEffect {
  type: 'done';
  result: SessionResult;
}

export type SessionEffect = PromptEffect | ProgressEffect | CaptureEffect | DoneEffect;

// ---------------------------------------------------------------- result

export type StepStatus = 'passed' | 'timeout' | 'wrong_action' | 'interrupted' | 'not_started';

/** What happened to one plan step. Times are ms since the session started. */
export interface StepTiming {
  kind: StepKind;
  timeLimitMs: number;
  status: StepStatus;
  startedAtMs: number | null;
  completedAtMs: number | null;
  /** Time from the step's start to its completion. */
  durationMs: number | null;
  /** Largest head angle reached in the asked direction relative to the first frontal frame, degrees (moves only). */
  peakDeg: number | null;
  /** True for a step drawn from the nonce to replace the failed step before it (see `drawReplacement`). */
  replacement?: true;
}

export interface AttackStats {
  /** The aggregate compared to the threshold (see `attackAggregate` in the config). */
  aggregate: number | null;
  method: 'median' | 'trimmed_mean';
  median: number | null;
  min: number | null;
  max: number | null;
  samples: number;
  threshold: number;
}

export interface MotionStepScore {
  kind: MoveKind;
  /** Homography residual between the first frontal frame and this step's peak frame / inter-ocular distance. */
  residual: number | null;
}

export interface SessionScores {
  match: { similarity: number | null; samples: number; threshold: number };
  attack: AttackStats;
  continuity: { minSimilarity: number | null; outliers: number; samples: number; threshold: number };
  motion: {
    /** Largest per-step residual (the most parallax seen); null when the plan has no head move. */
    residual: number | null;
    steps: MotionStepScore[];
    planarThreshold: number;
    canReject: boolean;
    planar: boolean | null;
  };
}

export interface QualitySummary {
  /** Frames evaluated by the quality gate. */
  gateFrames: number;
  /** How many gate frames failed each check. */
  issues: Record<QualityIssue, number>;
  /** The most frequent issue, null when none. */
  dominantIssue: QualityIssue | null;
  /** Measurements of the frame that passed the gate (the anchor), null if none did. */
  anchor: {
    interEyePx: number;
    brightness: number;
    sharpness: number;
    yaw: number;
    pitch: number;
    roll: number;
  } | null;
}

export interface SessionTimings {
  /** Session-relative times, ms; null when the phase was not reached. */
  gatePassedAtMs: number | null;
  challengeDoneAtMs: number | null;
  finishedAtMs: number;
  framesSeen: number;
  decisionsRequested: number;
  decisionsReceived: number;
  decisionsFailed: number;
  /**
   * From the frame on which the last step was observed to the verdict, on the clock of the events
   * (recording time in a replay, frame timestamps from a camera), ms; null when the challenge was
   * not completed. 0 = decided on that very frame, without waiting for another one.
   */
  lastStepToVerdictMs: number | null;
  // --- filled in by the runner (wall-clock measurements; absent from a bare machine result)
  /** Frames the source delivered. */
  framesReceived?: number;
  /** Frames dropped because the engine was still busy with an earlier one (live-rate sources). */
  framesDropped?: number;
  /** Liveness path (`analyze`) per frame, ms. */
  analyzeMs?: { median: number; p95: number; max: number };
  /** Decision path (`decide`) per capture, ms. */
  decideMs?: { median: number; max: number } | null;
  /**
   * Wall time from the moment the runner took the frame on which the last step was observed (before
   * its analysis) to the `done` effect, ms: analysis of that frame, the decisions still needed,
   * and any frames waited for. Null when the challenge was not completed.
   */
  lastStepToVerdictWallMs?: number | null;
  /** Wall time of the whole run, ms. */
  wallMs?: number;
}

/**
 * The session result. By construction it holds no image, crop, landmark list or embedding:
 * no field is an array of numbers or a typed array (checked at compile time below).
 */
export interface SessionResult {
  verdict: Verdict;
  reasons: ReasonCode[];
  cancelReason: CancelReason | null;
  /** Phase the session was in when it ended. */
  endedIn: Phase;
  plan: ChallengePlan;
  steps: StepTiming[];
  scores: SessionScores;
  quality: QualitySummary;
  timings: SessionTimings;
  /** Filled in by the runner: the models that produced the signals. */
  models?: EngineModelInfo[];
  /** `attempts_exceeded` only: when sessions against this reference are allowed again, ms from now. */
  retryAfterMs?: number;
}

/** Compile-time guard: fails type-checking if `SessionResult` ever grows a field that could carry biometric data. */
export const RESULT_HOLDS_NO_BIOMETRICS: HoldsBiometric<SessionResult> extends false ? true : never = true;
