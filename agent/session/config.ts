/**
 * Session thresholds. Every key has a unit and a default; `resolveSessionConfig` refuses unknown
 * keys and out-of-range values naming the key. The score thresholds (match, attack, continuity,
 * eye state, mask) come from models/calibration.ts, which says on which data and split each was
 * chosen, or that it was set without fitting.
 */
import { CALIBRATION } from '../../models/calibration.js';
import { KioskError } from '../../base/errors.js';

export interface SessionConfig {
  // --- waiting for a face
  /** How long to wait for a single face before a `retry` (`no_face` / `multiple_faces`), ms. */
  faceTimeoutMs: number;
  /** Faces smaller than this fraction of the largest face (inter-ocular distance) are background passers-by and ignored, 0-1. */
  backgroundFaceRatio: number;

  // --- quality gate (absolute measurements of one frame)
  /** Smallest inter-ocular distance, px; below it the customer is asked to move closer. */
  minInterEyePx: number;
  /** Largest face box width as a fraction of the frame width; above it the customer is asked to move back, 0-1. */
  maxFaceWidthRatio: number;
  /** Darkest acceptable mean grey of the face crop, 0-255. */
  minBrightness: number;
  /** Brightest acceptable mean grey of the face crop, 0-255. */
  maxBrightness: number;
  /** Lowest variance of the Laplacian of the face crop (sharpness). */
  minSharpness: number;
  /** Largest |yaw| of a frontal frame, degrees. */
  maxFrontalYawDeg: number;
  /** Largest |pitch| of a frontal frame, degrees (looser than yaw: the camera usually sits above the screen). */
  maxFrontalPitchDeg: number;
  /** Largest |roll| of a frontal frame, degrees. */
  maxFrontalRollDeg: number;
  /**
   * Below this share of the nose bridge's skin colour in the lower face, the face is covered (a
   * medical mask) and cannot be matched reliably: the gate asks to uncover it (`face_covered`).
   * 0.25, a quarter of the skin tint, a round value between bare faces (0.35 and more on the dev
   * recordings, beards included) and masks (0.26 and less); see `lowerFaceSkin`.
   */
  minLowerFaceSkin: number;
  /** Consecutive good frames needed to pass the gate. */
  qualityStableFrames: number;
  /**
   * ...spanning at least this long, ms: the customer holds still for a moment whatever the frame
   * rate, so that a head still drifting when the prompt appears does not set the pose moves are
   * measured from (set after a genuine dev recording drifted 22 degrees right after a 3-frame gate).
   */
  qualityStableMs: number;
  /**
   * Largest spread of yaw and of pitch over those frames, degrees: the customer holds still, so the
   * anchor (their median pose) is not a head passing through frontal on its way elsewhere.
   */
  qualityMaxPoseSpreadDeg: number;
  /** How long the gate may take before a `retry` (`quality`), ms from entering it. */
  qualityTimeoutMs: number;

  // --- eyes
  /** Mean eye aspect ratio below which the eyes count as closed. */
  eyeClosedThreshold: number;
  /** Mean eye aspect ratio at or above which the eyes count as open (hysteresis with the closed threshold). */
  eyeOpenThreshold: number;
  /**
   * When the engine's eye-state model answers (`openProbability`), it decides instead of the eye
   * aspect ratio: eyes closed below this probability of being open. Reason: the 68-point landmark
   * model smooths fast blinks, so the EAR of a real 24 fps blink only falls from ~0.38 to ~0.20 and
   * never crosses an absolute closed threshold, while the eye-state model reads the same frames as
   * closed (p < 0.01). 0.25 = at least 3:1 odds of closed; a round value, not fitted.
   */
  eyeClosedProbability: number;
  /** Eyes open at or above this probability (0.5: more likely open than closed); hysteresis with the closed one. */
  eyeOpenProbability: number;
  /** Longest closure that still counts as a blink, ms. */
  maxBlinkClosedMs: number;
  /**
   * Shortest closure (first closed frame to reopening) that counts, ms. 60: one frame at 30 fps
   * (33 ms) is a flicker of the eye model at the edge of a move, not a blink (whose lids stay shut
   * for 100 ms and more); at 15 fps and below one frame is enough.
   */
  minBlinkClosedMs: number;
  /**
   * Eyes are read only while |yaw| and |pitch| relative to the anchor stay within this, degrees:
   * the eye model reads the lids of a head bowed 40 degrees as closed.
   */
  blinkMaxPoseDeg: number;

  // --- head moves (angles relative to the pose of the frame that passed the gate)
  /** Yaw to reach for `turn_left` / `turn_right`, degrees. */
  turnYawDeg: number;
  /** Pitch to reach for `look_up` / `look_down`, degrees. */
  turnPitchDeg: number;
  /** Largest |yaw| and |pitch| relative to the anchor of a frontal sample (matching), degrees. */
  neutralMaxDeg: number;
  /** Consecutive frames beyond the threshold to complete a move. */
  holdFrames: number;
  /**
   * A move is released (and the next step starts to count) once the head is back below this
   * fraction of the move's threshold, or moves further into another direction, 0-1.
   */
  releaseFraction: number;
  /** Pose from a face detected below this score is not used for moves and blinks (its landmarks are unreliable), 0-1. */
  minPoseFaceScore: number;
  /**
   * A move in another direction is a wrong action once it passes that direction's threshold by this
   * margin, measured both from the anchor and from the pose the step started at, and goes further
   * than the asked direction, degrees.
   */
  wrongActionMarginDeg: number;
  /** Consecutive frames of a wrong move before `challenge_wrong_action`. */
  wrongActionFrames: number;
  /** ...and for at least this long, ms (frame counts mean different times at 14 and 30 fps). */
  wrongActionMs: number;
  /**
   * Steps of a nonce plan that may fail (wrong action or timeout) and be replaced by one more step
   * drawn from the same nonce (see `drawReplacement`): a customer who confused left and right gets
   * one more prompt. Explicit plans have no nonce and get none.
   */
  stepRetries: number;
  /**
   * Accept explicit plans of one step or without a head move. Off by default: a replay of anyone
   * blinking satisfies a blink-only plan.
   */
  allowWeakPlans: boolean;

  // --- continuity after the gate
  /** Longest time without a face after the gate, ms; beyond it `face_lost`. */
  maxFaceLostMs: number;
  /** Consecutive frames with more than one face before `multiple_faces`. */
  multiFaceFrames: number;

  // --- captures for the decision path
  /** Least time between two challenge-phase captures, ms. */
  captureIntervalMs: number;
  /** Most decision-path runs per session (anchor, challenge, step and final captures). */
  maxDecisions: number;
  /**
   * Decisions the interval captures of the challenge leave unused, for the end of the session:
   * frontal or attack samples still missing after the last step (`final` captures). The frame that
   * arms each step and the one that completes the last step have room of their own (see
   * `captureLimit` in `transitions/capture.ts`).
   */
  finalCaptureFrames: number;
  /**
   * Least time between two captures taken to make up missing frontal or attack samples (right
   * after the gate while the customer still looks straight, and after the last step), ms.
   */
  finalCaptureSpacingMs: number;
  /**
   * Fewest frontal samples (the anchor and good, near-anchor-pose frames of the challenge or after
   * it) whose median similarity to the reference makes the match; fewer gives `retry`
   * (`insufficient_samples`). 3: the median then tolerates one odd frame; a round value, not fitted.
   */
  minFrontalSamples: number;
  /** How long to wait after the last step for missing samples before deciding with what there is, ms. */
  finalCaptureTimeoutMs: number;
  /** How long to wait for outstanding decisions once capture is over, ms. */
  decisionTimeoutMs: number;

  // --- presentation attack
  /** Captures with |relative yaw| or |relative pitch| above this are not used for the attack score, degrees. */
  padMaxPoseDeg: number;
  /** Fewest attack scores needed for a verdict; fewer gives `retry` (`insufficient_samples`) unless an attack is already evident. */
  minAttackSamples: number;
  /** Aggregated attack score above which the session is a `presentation_attack`, 0-1. */
  maxAttackScore: number;
  /** How attack scores are aggregated: median, or mean after trimming `attackTrimFraction` at each end. */
  attackAggregate: 'median' | 'trimmed_mean';
  /** Fraction of scores dropped at each end for `trimmed_mean`, 0-0.45. */
  attackTrimFraction: number;

  // --- identity
  /**
   * Captures with |relative yaw| or |relative pitch| above this are not compared with the first
   * face, degrees: the embedding of the same person turned 40-55 degrees falls to 0.25-0.5 of
   * cosine similarity (measured on the dev recordings), which would read as another person.
   */
  continuityMaxPoseDeg: number;
  /** Cosine similarity to the first face below which a capture is a continuity outlier. */
  minContinuitySimilarity: number;
  /** Outliers tolerated before `identity_changed` (one blurred mid-turn frame should not fail a session). */
  maxContinuityOutliers: number;
  /** Median cosine similarity of the frontal captures to the reference below which the verdict is `no_match`. */
  minMatchSimilarity: number;

  // --- motion consistency
  /** Whether a planar motion can reject the session on its own (`motion_inconsistent`). */
  motionCanReject: boolean;
  /**
   * Residual (homography RMS / inter-ocular distance, see `motion.ts`) below which the head moves
   * count as planar. Synthetic data: a head turned 10/20/25 degrees gives 0.05/0.12/0.15, a tilted
   * photo 0 (0.012 with 1 px of landmark noise). A placeholder until measured on real recordings.
   */
  motionPlanarMaxResidual: number;
}

/** The defaults; see each key's doc. */
export const DEFAULT_SESSION_CONFIG: Readonly<SessionConfig> = Object.freeze({
  faceTimeoutMs: 15000,
  backgroundFaceRatio: 0.5,
  minInterEyePx: 40,
  maxFaceWidthRatio: 0.8,
  minBrightness: 50,
  maxBrightness: 210,
  minSharpness: 15,
  maxFrontalYawDeg: 15,
  maxFrontalPitchDeg: 20,
  maxFrontalRollDeg: 20,
  minLowerFaceSkin: CALIBRATION.minLowerFaceSkin.value,
  qualityStableFrames: 3,
  qualityStableMs: 200,
  qualityMaxPoseSpreadDeg: 6,
  qualityTimeoutMs: 15000,
  eyeClosedThreshold: 0.15,
  eyeOpenThreshold: 0.2,
  eyeClosedProbability: CALIBRATION.eyeClosedProbability.value,
  eyeOpenProbability: 0.5,
  maxBlinkClosedMs: 1000,
  minBlinkClosedMs: 60,
  blinkMaxPoseDeg: 20,
  turnYawDeg: 20,
  turnPitchDeg: 15,
  neutralMaxDeg: 10,
  holdFrames: 2,
  releaseFraction: 0.5,
  minPoseFaceScore: 0.9,
  wrongActionMarginDeg: 5,
  wrongActionFrames: 2,
  wrongActionMs: 200,
  stepRetries: 1,
  allowWeakPlans: false,
  maxFaceLostMs: 1500,
  multiFaceFrames: 3,
  captureIntervalMs: 300,
  maxDecisions: 30,
  finalCaptureFrames: 3,
  finalCaptureSpacingMs: 60,
  minFrontalSamples: 3,
  finalCaptureTimeoutMs: 3000,
  decisionTimeoutMs: 3000,
  padMaxPoseDeg: 20,
  minAttackSamples: 5,
  maxAttackScore: CALIBRATION.maxAttackScore.value,
  attackAggregate: 'median',
  attackTrimFraction: 0.2,
  continuityMaxPoseDeg: 30,
  minContinuitySimilarity: CALIBRATION.minContinuitySimilarity.value,
  maxContinuityOutliers: 1,
  minMatchSimilarity: CALIBRATION.minMatchSimilarity.value,
  motionCanReject: true,
  motionPlanarMaxResidual: 0.02,
});

type NumericKey = { [K in keyof SessionConfig]: SessionConfig[K] extends number ? K : never }[keyof SessionConfig];

/** [min, max, integer] per numeric key. */
const RANGES: Record<NumericKey, [number, number, boolean]> = {
  faceTimeoutMs: [1, 600000, false],
  backgroundFaceRatio: [0, 1, false],
  minInterEyePx: [0, 10000, false],
  maxFaceWidthRatio: [0, 1, false],
  minBrightness: [0, 255, false],
  maxBrightness: [0, 255, false],
  minSharpness: [0, Number.MAX_VALUE, false],
  maxFrontalYawDeg: [0, 90, false],
  maxFrontalPitchDeg: [0, 90, false],
  maxFrontalRollDeg: [0, 180, false],
  minLowerFaceSkin: [-10, 10, false],
  qualityStableFrames: [1, 1000, true],
  qualityStableMs: [0, 60000, false],
  qualityMaxPoseSpreadDeg: [0, 180, false],
  qualityTimeoutMs: [1, 600000, false],
  eyeClosedThreshold: [0, 1, false],
  eyeOpenThreshold: [0, 1, false],
  eyeClosedProbability: [0, 1, false],
  eyeOpenProbability: [0, 1, false],
  maxBlinkClosedMs: [1, 60000, false],
  minBlinkClosedMs: [0, 60000, false],
  blinkMaxPoseDeg: [0, 90, false],
  turnYawDeg: [1, 90, false],
  turnPitchDeg: [1, 90, false],
  neutralMaxDeg: [0, 90, false],
  holdFrames: [1, 1000, true],
  releaseFraction: [0, 1, false],
  minPoseFaceScore: [0, 1, false],
  wrongActionMarginDeg: [0, 90, false],
  wrongActionFrames: [1, 1000, true],
  wrongActionMs: [0, 60000, false],
  stepRetries: [0, 10, true],
  maxFaceLostMs: [0, 600000, false],
  multiFaceFrames: [1, 1000, true],
  captureIntervalMs: [0, 600000, false],
  maxDecisions: [2, 10000, true],
  finalCaptureFrames: [0, 1000, true],
  finalCaptureSpacingMs: [0, 600000, false],
  minFrontalSamples: [1, 1000, true],
  finalCaptureTimeoutMs: [0, 600000, false],
  decisionTimeoutMs: [0, 600000, false],
  padMaxPoseDeg: [0, 90, false],
  minAttackSamples: [1, 10000, true],
  maxAttackScore: [0, 1, false],
  attackTrimFraction: [0, 0.45, false],
  continuityMaxPoseDeg: [0, 90, false],
  minContinuitySimilarity: [-1, 1, false],
  maxContinuityOutliers: [0, 10000, true],
  minMatchSimilarity: [-1, 1, false],
  motionPlanarMaxResidual: [0, 10, false],
};

/**
 * Merges `overrides` over the defaults and validates the result; throws `E_CONFIG_INVALID`
 * naming the key (`session.<key>`) for an unknown key, a wrong type or a value out of range.
 */
export function resolveSessionConfig(overrides: Partial<SessionConfig> = {}): SessionConfig {
  for (const key of Object.keys(overrides)) {
    if (!(key in DEFAULT_SESSION_CONFIG)) invalid(key, 'is not a session setting');
  }
  const cfg: SessionConfig = { ...DEFAULT_SESSION_CONFIG, ...stripUndefined(overrides) };
  for (const key of Object.keys(RANGES) as NumericKey[]) {
    const v = cfg[key];
    const [lo, hi, integer] = RANGES[key];
    if (typeof v !== 'number' || !Number.isFinite(v)) invalid(key, `must be a number, got ${String(v)}`);
    if (v < lo || v > hi) invalid(key, `must be within [${lo}, ${hi}], got ${v}`);
    if (integer && !Number.isInteger(v)) invalid(key, `must be an integer, got ${v}`);
  }
  if (typeof cfg.motionCanReject !== 'boolean') invalid('motionCanReject', 'must be true or false');
  if (typeof cfg.allowWeakPlans !== 'boolean') invalid('allowWeakPlans', 'must be true or false');
  if (cfg.minBlinkClosedMs >= cfg.maxBlinkClosedMs) invalid('minBlinkClosedMs', 'must be below maxBlinkClosedMs');
  if (cfg.attackAggregate !== 'median' && cfg.attackAggregate !== 'trimmed_mean') {
    invalid('attackAggregate', `must be "median" or "trimmed_mean", got ${String(cfg.attackAggregate)}`);
  }
  if (cfg.eyeClosedThreshold >= cfg.eyeOpenThreshold) invalid('eyeClosedThreshold', 'must be below eyeOpenThreshold');
  if (cfg.eyeClosedProbability >= cfg.eyeOpenProbability) invalid('eyeClosedProbability', 'must be below eyeOpenProbability');
  if (cfg.minBrightness >= cfg.maxBrightness) invalid('minBrightness', 'must be below maxBrightness');
  if (cfg.neutralMaxDeg >= Math.min(cfg.turnYawDeg, cfg.turnPitchDeg)) invalid('neutralMaxDeg', 'must be below turnYawDeg and turnPitchDeg');
  if (cfg.maxDecisions <= cfg.finalCaptureFrames) invalid('maxDecisions', 'must leave room for the anchor and the reserved decisions');
  return cfg;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function invalid(key: string, what: string): never {
  throw new KioskError('E_CONFIG_INVALID', `session setting ${key} ${what}`, { subject: `session.${key}` });
}
