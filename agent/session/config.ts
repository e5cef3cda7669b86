/**
 * Session thresholds, written once in `SESSION_KEYS`: each key's default, range, unit and one-line
 * description. `SessionConfig`, `DEFAULT_SESSION_CONFIG`, the checks of `resolveSessionConfig`, the
 * `session` part of the config schema and the README's config table are all derived from it (see
 * setting-table.ts). The score thresholds (match, attack, continuity, eye state, mask) come from
 * models/calibration.ts, which says on which data and split each was chosen, or that it was set
 * without fitting.
 */
import { CALIBRATION } from '../../models/calibration.js';
import { KioskError } from '../../base/errors.js';
import { bool, defaultsOf, int, num, oneOf, type SettingValues, settingProblem } from './setting-table.js';

/** Longest accepted wait or interval, ms (10 minutes). */
const MAX_MS = 600000;

/** The session settings; a doc comment on an entry says why where the description cannot. */
export const SESSION_KEYS = Object.freeze({
  // --- waiting for a face
  faceTimeoutMs: num(15000, [1, MAX_MS], 'ms', 'wait this long for a single face before a retry (no_face / multiple_faces)'),
  /** Measured as inter-ocular distance. */
  backgroundFaceRatio: num(0.5, [0, 1], 'ratio 0-1', 'faces smaller than this fraction of the largest are passers-by and ignored'),

  // --- quality gate (absolute measurements of one frame)
  minInterEyePx: num(40, [0, 10000], 'px', 'smallest inter-ocular distance; below it the customer is asked to move closer'),
  maxFaceWidthRatio: num(0.8, [0, 1], 'ratio 0-1', 'largest face width as a fraction of the frame; above it: move back'),
  minBrightness: num(50, [0, 255], 'grey 0-255', 'darkest acceptable mean grey of the face crop'),
  maxBrightness: num(210, [0, 255], 'grey 0-255', 'brightest acceptable mean grey of the face crop'),
  minSharpness: num(15, [0, Number.MAX_VALUE], 'Laplacian variance', 'lowest sharpness of the face crop'),
  maxFrontalYawDeg: num(15, [0, 90], 'degrees', 'largest |yaw| of a frontal frame'),
  /** Looser than yaw: the camera usually sits above the screen. */
  maxFrontalPitchDeg: num(20, [0, 90], 'degrees', 'largest |pitch| of a frontal frame'),
  maxFrontalRollDeg: num(20, [0, 180], 'degrees', 'largest |roll| of a frontal frame'),
  /**
   * Below this share of the nose bridge's skin colour in the lower face, the face is covered (a
   * medical mask) and cannot be matched reliably: the gate asks to uncover it (`face_covered`).
   * 0.25, a quarter of the skin tint, a round value between bare faces (0.35 and more on the dev
   * recordings, beards included) and masks (0.26 and less); see `lowerFaceSkin`.
   */
  minLowerFaceSkin: num(
    CALIBRATION.minLowerFaceSkin.value,
    [-10, 10],
    'ratio',
    'below this share of the nose bridge skin colour in the lower face, the face is covered (mask)',
  ),
  qualityStableFrames: int(3, [1, 1000], 'frames', 'consecutive good frames needed to pass the quality gate'),
  /**
   * ...spanning at least this long, ms: the customer holds still for a moment whatever the frame
   * rate, so that a head still drifting when the prompt appears does not set the pose moves are
   * measured from (set after a genuine dev recording drifted 22 degrees right after a 3-frame gate).
   */
  qualityStableMs: num(200, [0, 60000], 'ms', 'and spanning at least this long (the customer holds still for a moment)'),
  /**
   * Largest spread of yaw and of pitch over those frames, degrees: the customer holds still, so the
   * anchor (their median pose) is not a head passing through frontal on its way elsewhere.
   */
  qualityMaxPoseSpreadDeg: num(6, [0, 180], 'degrees', 'largest spread of yaw and of pitch over the gate frames (the customer holds still)'),
  /** Counted from entering the gate; the retry reason is `quality`. */
  qualityTimeoutMs: num(15000, [1, MAX_MS], 'ms', 'how long the quality gate may take before a retry'),

  // --- eyes
  eyeClosedThreshold: num(0.15, [0, 1], 'EAR', 'mean eye aspect ratio below which the eyes count as closed'),
  /** Hysteresis with the closed threshold. */
  eyeOpenThreshold: num(0.2, [0, 1], 'EAR', 'mean eye aspect ratio at or above which the eyes count as open'),
  /**
   * When the engine's eye-state model answers (`openProbability`), it decides instead of the eye
   * aspect ratio: eyes closed below this probability of being open. Reason: the 68-point landmark
   * model smooths fast blinks, so the EAR of a real 24 fps blink only falls from ~0.38 to ~0.20 and
   * never crosses an absolute closed threshold, while the eye-state model reads the same frames as
   * closed (p < 0.01). 0.25 = at least 3:1 odds of closed; a round value, not fitted.
   */
  eyeClosedProbability: num(CALIBRATION.eyeClosedProbability.value, [0, 1], 'probability 0-1', 'eye-state model: closed below this probability of open'),
  /** 0.5: more likely open than closed; hysteresis with the closed one. */
  eyeOpenProbability: num(0.5, [0, 1], 'probability 0-1', 'eye-state model: open at or above this probability'),
  maxBlinkClosedMs: num(1000, [1, 60000], 'ms', 'longest closure that still counts as a blink'),
  /**
   * Shortest closure (first closed frame to reopening) that counts, ms. 60: one frame at 30 fps
   * (33 ms) is a flicker of the eye model at the edge of a move, not a blink (whose lids stay shut
   * for 100 ms and more); at 15 fps and below one frame is enough.
   */
  minBlinkClosedMs: num(60, [0, 60000], 'ms', 'shortest closure that counts (one frame at 30 fps is an eye-model flicker)'),
  /**
   * Eyes are read only while |yaw| and |pitch| relative to the anchor stay within this, degrees:
   * the eye model reads the lids of a head bowed 40 degrees as closed.
   */
  blinkMaxPoseDeg: num(20, [0, 90], 'degrees', 'eyes are read only while |yaw| and |pitch| from the anchor stay within this'),

  // --- head moves (angles relative to the pose of the frame that passed the gate)
  turnYawDeg: num(20, [1, 90], 'degrees', 'yaw to reach for turn_left / turn_right'),
  turnPitchDeg: num(15, [1, 90], 'degrees', 'pitch to reach for look_up / look_down'),
  neutralMaxDeg: num(10, [0, 90], 'degrees', 'largest |yaw| and |pitch| from the anchor of a frontal (matching) sample'),
  holdFrames: int(2, [1, 1000], 'frames', 'consecutive frames beyond the threshold to complete a move'),
  /**
   * A move is released (and the next step starts to count) once the head is back below this
   * fraction of the move's threshold, or moves further into another direction, 0-1.
   */
  releaseFraction: num(0.5, [0, 1], 'ratio 0-1', 'a move is released (the next step counts) below this fraction of its threshold'),
  /** The landmarks of a low-scoring face are unreliable. */
  minPoseFaceScore: num(0.9, [0, 1], 'score 0-1', 'pose of a face detected below this score is not used for moves and blinks'),
  /**
   * A move in another direction is a wrong action once it passes that direction's threshold by this
   * margin, measured both from the anchor and from the pose the step started at, and goes further
   * than the asked direction, degrees.
   */
  wrongActionMarginDeg: num(
    5,
    [0, 90],
    'degrees',
    'a move in another direction past its threshold by this margin (from the anchor and the step start) is a wrong action',
  ),
  wrongActionFrames: int(2, [1, 1000], 'frames', 'consecutive frames of a wrong move before challenge_wrong_action'),
  /** Frame counts mean different times at 14 and 30 fps. */
  wrongActionMs: num(200, [0, 60000], 'ms', 'and for at least this long'),
  /**
   * Steps of a nonce plan that may fail (wrong action or timeout) and be replaced by one more step
   * drawn from the same nonce (see `drawReplacement`): a customer who confused left and right gets
   * one more prompt. Explicit plans have no nonce and get none.
   */
  stepRetries: int(1, [0, 10], 'count', 'failed steps of a nonce plan replaced by one more step drawn from the nonce'),
  /** Off by default: a replay of anyone blinking satisfies a blink-only plan. */
  allowWeakPlans: bool(false, 'accept explicit plans of one step or without a head move'),

  // --- continuity after the gate
  maxFaceLostMs: num(1500, [0, MAX_MS], 'ms', 'longest time without a face after the gate before face_lost'),
  multiFaceFrames: int(3, [1, 1000], 'frames', 'consecutive frames with more than one face before multiple_faces'),

  // --- captures for the decision path
  captureIntervalMs: num(300, [0, MAX_MS], 'ms', 'least time between two challenge-phase captures'),
  /** Anchor, challenge, step and final captures. */
  maxDecisions: int(30, [2, 10000], 'count', 'most decision-path runs per session'),
  /**
   * Decisions the interval captures of the challenge leave unused, for the end of the session:
   * frontal or attack samples still missing after the last step (`final` captures). The frame that
   * arms each step and the one that completes the last step have room of their own (see
   * `captureLimit` in `transitions/capture.ts`).
   */
  finalCaptureFrames: int(3, [0, 1000], 'frames', 'frontal captures after the last step'),
  /**
   * Least time between two captures taken to make up missing frontal or attack samples (right
   * after the gate while the customer still looks straight, and after the last step), ms.
   */
  finalCaptureSpacingMs: num(60, [0, MAX_MS], 'ms', 'least time between two final captures'),
  /**
   * Fewest frontal samples (the anchor and good, near-anchor-pose frames of the challenge or after
   * it) whose median similarity to the reference makes the match; fewer gives `retry`
   * (`insufficient_samples`). 3: the median then tolerates one odd frame; a round value, not fitted.
   */
  minFrontalSamples: int(3, [1, 1000], 'count', 'fewest frontal samples whose median similarity to the reference makes the match'),
  finalCaptureTimeoutMs: num(3000, [0, MAX_MS], 'ms', 'wait this long for the final captures before deciding with what there is'),
  /** Also the limit of one decision-path call (engine.decide): one that takes longer counts as failed. */
  decisionTimeoutMs: num(3000, [1, MAX_MS], 'ms', 'wait this long for outstanding decisions once capture is over; also the limit of one decision call'),
  /**
   * A hung engine must not hold the kiosk: a frame whose analysis takes longer ends the session with
   * E_TIMEOUT. Generous (analysis takes 8-30 ms on the dev machine, the first call a few hundred).
   */
  analyzeTimeoutMs: num(10000, [1, MAX_MS], 'ms', 'longest face analysis of one frame before the session fails (E_TIMEOUT)'),

  // --- presentation attack
  padMaxPoseDeg: num(20, [0, 90], 'degrees', 'captures turned more than this are not used for the attack score'),
  /** Fewer gives `retry` (`insufficient_samples`) unless an attack is already evident. */
  minAttackSamples: int(5, [1, 10000], 'count', 'fewest attack scores needed for a verdict'),
  maxAttackScore: num(CALIBRATION.maxAttackScore.value, [0, 1], 'score 0-1', 'aggregated attack score above which the session is a presentation_attack'),
  /** trimmed_mean: the mean after dropping `attackTrimFraction` at each end. */
  attackAggregate: oneOf(['median', 'trimmed_mean'], 'median', 'how attack scores are aggregated: median or trimmed_mean'),
  attackTrimFraction: num(0.2, [0, 0.45], 'fraction 0-0.45', 'fraction of scores dropped at each end for trimmed_mean'),

  // --- identity
  /**
   * Captures with |relative yaw| or |relative pitch| above this are not compared with the first
   * face, degrees: the embedding of the same person turned 40-55 degrees falls to 0.25-0.5 of
   * cosine similarity (measured on the dev recordings), which would read as another person.
   */
  continuityMaxPoseDeg: num(30, [0, 90], 'degrees', 'captures turned more than this are not compared with the first face'),
  minContinuitySimilarity: num(
    CALIBRATION.minContinuitySimilarity.value,
    [-1, 1],
    'cosine -1..1',
    'similarity to the first face below which a capture is a continuity outlier',
  ),
  /** One blurred mid-turn frame should not fail a session. */
  maxContinuityOutliers: int(1, [0, 10000], 'count', 'outliers tolerated before identity_changed'),
  minMatchSimilarity: num(
    CALIBRATION.minMatchSimilarity.value,
    [-1, 1],
    'cosine -1..1',
    'median similarity to the ID portrait below which the verdict is no_match',
  ),

  // --- motion consistency
  /** The reason is `motion_inconsistent`. */
  motionCanReject: bool(true, 'whether planar (photo-like) motion can reject the session on its own'),
  /**
   * Residual (homography RMS / inter-ocular distance, see `motion.ts`) below which the head moves
   * count as planar. Synthetic data: a head turned 10/20/25 degrees gives 0.05/0.12/0.15, a tilted
   * photo 0 (0.012 with 1 px of landmark noise). A placeholder until measured on real recordings.
   */
  motionPlanarMaxResidual: num(0.02, [0, 10], 'ratio', 'homography residual below which head moves count as planar'),
});

/** The session thresholds; each key's doc is its entry in `SESSION_KEYS`. */
export interface SessionConfig extends SettingValues<typeof SESSION_KEYS> {}

/** The defaults, from `SESSION_KEYS`. */
export const DEFAULT_SESSION_CONFIG: Readonly<SessionConfig> = defaultsOf(SESSION_KEYS);

/**
 * Merges `overrides` over the defaults and validates the result; throws `E_CONFIG_INVALID`
 * naming the key (`session.<key>`) for an unknown key, a wrong type or a value out of range.
 * Each key is checked against its entry first, then the keys that must agree with each other.
 */
export function resolveSessionConfig(overrides: Partial<SessionConfig> = {}): SessionConfig {
  for (const key of Object.keys(overrides)) {
    if (!(key in DEFAULT_SESSION_CONFIG)) invalid(key, 'is not a session setting');
  }
  const cfg: SessionConfig = { ...DEFAULT_SESSION_CONFIG, ...stripUndefined(overrides) };
  for (const key of Object.keys(SESSION_KEYS) as (keyof SessionConfig)[]) {
    const problem = settingProblem(SESSION_KEYS[key], cfg[key]);
    if (problem) invalid(key, problem);
  }
  if (cfg.minBlinkClosedMs >= cfg.maxBlinkClosedMs) invalid('minBlinkClosedMs', 'must be below maxBlinkClosedMs');
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
