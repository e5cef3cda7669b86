/**
 * Schema entries for the session thresholds. Types and defaults come from the session module's own
 * `DEFAULT_SESSION_CONFIG` (never repeated here); this file adds what a schema needs and the
 * TypeScript object cannot carry at run time: one description line and the unit of each key.
 * Ranges stay with `resolveSessionConfig`, which the loader runs after the schema.
 */
import { DEFAULT_SESSION_CONFIG, type SessionConfig } from '../session/config.js';
import { DEFAULT_ABUSE_CONFIG, type AbuseConfig } from '../session/abuse.js';
import type { JsonSchema } from './schema-types.js';

/** Description and unit of each session key (the doc comments of agent/session/config.ts, shortened). */
// Partial on purpose: a key added to the session config while this table lags still gets a schema
// entry (with a pointer to its doc comment); test/unit/config-schema.test.ts fails until it is described here.
const SESSION_DOCS: Partial<Record<keyof SessionConfig | 'minFrontalSamples', [string, string]>> = {
  faceTimeoutMs: ['ms', 'wait this long for a single face before a retry (no_face / multiple_faces)'],
  backgroundFaceRatio: ['ratio 0-1', 'faces smaller than this fraction of the largest are passers-by and ignored'],
  minInterEyePx: ['px', 'smallest inter-ocular distance; below it the customer is asked to move closer'],
  maxFaceWidthRatio: ['ratio 0-1', 'largest face width as a fraction of the frame; above it: move back'],
  minBrightness: ['grey 0-255', 'darkest acceptable mean grey of the face crop'],
  maxBrightness: ['grey 0-255', 'brightest acceptable mean grey of the face crop'],
  minSharpness: ['Laplacian variance', 'lowest sharpness of the face crop'],
  maxFrontalYawDeg: ['degrees', 'largest |yaw| of a frontal frame'],
  maxFrontalPitchDeg: ['degrees', 'largest |pitch| of a frontal frame'],
  maxFrontalRollDeg: ['degrees', 'largest |roll| of a frontal frame'],
  minLowerFaceSkin: ['ratio', 'below this share of the nose bridge skin colour in the lower face, the face is covered (mask)'],
  qualityStableFrames: ['frames', 'consecutive good frames needed to pass the quality gate'],
  qualityStableMs: ['ms', 'and spanning at least this long (the customer holds still for a moment)'],
  qualityMaxPoseSpreadDeg: ['degrees', 'largest spread of yaw and of pitch over the gate frames (the customer holds still)'],
  qualityTimeoutMs: ['ms', 'how long the quality gate may take before a retry'],
  eyeClosedThreshold: ['EAR', 'mean eye aspect ratio below which the eyes count as closed'],
  eyeOpenThreshold: ['EAR', 'mean eye aspect ratio at or above which the eyes count as open'],
  eyeClosedProbability: ['probability 0-1', 'eye-state model: closed below this probability of open'],
  eyeOpenProbability: ['probability 0-1', 'eye-state model: open at or above this probability'],
  maxBlinkClosedMs: ['ms', 'longest closure that still counts as a blink'],
  minBlinkClosedMs: ['ms', 'shortest closure that counts (one frame at 30 fps is an eye-model flicker)'],
  blinkMaxPoseDeg: ['degrees', 'eyes are read only while |yaw| and |pitch| from the anchor stay within this'],
  turnYawDeg: ['degrees', 'yaw to reach for turn_left / turn_right'],
  turnPitchDeg: ['degrees', 'pitch to reach for look_up / look_down'],
  neutralMaxDeg: ['degrees', 'largest |yaw| and |pitch| from the anchor of a frontal (matching) sample'],
  holdFrames: ['frames', 'consecutive frames beyond the threshold to complete a move'],
  releaseFraction: ['ratio 0-1', 'a move is released (the next step counts) below this fraction of its threshold'],
  minPoseFaceScore: ['score 0-1', 'pose of a face detected below this score is not used for moves and blinks'],
  wrongActionMarginDeg: ['degrees', 'a move in another direction past its threshold by this margin (from the anchor and the step start) is a wrong action'],
  wrongActionFrames: ['frames', 'consecutive frames of a wrong move before challenge_wrong_action'],
  wrongActionMs: ['ms', 'and for at least this long'],
  stepRetries: ['count', 'failed steps of a nonce plan replaced by one more step drawn from the nonce'],
  allowWeakPlans: ['-', 'accept explicit plans of one step or without a head move'],
  maxFaceLostMs: ['ms', 'longest time without a face after the gate before face_lost'],
  multiFaceFrames: ['frames', 'consecutive frames with more than one face before multiple_faces'],
  captureIntervalMs: ['ms', 'least time between two challenge-phase captures'],
  maxDecisions: ['count', 'most decision-path runs per session'],
  finalCaptureFrames: ['frames', 'frontal captures after the last step'],
  finalCaptureSpacingMs: ['ms', 'least time between two final captures'],
  minFrontalSamples: ['count', 'fewest frontal samples whose median similarity to the reference makes the match'],
  finalCaptureTimeoutMs: ['ms', 'wait this long for the final captures before deciding with what there is'],
  decisionTimeoutMs: ['ms', 'wait this long for outstanding decisions once capture is over'],
  padMaxPoseDeg: ['degrees', 'captures turned more than this are not used for the attack score'],
  minAttackSamples: ['count', 'fewest attack scores needed for a verdict'],
  maxAttackScore: ['score 0-1', 'aggregated attack score above which the session is a presentation_attack'],
  attackAggregate: ['-', 'how attack scores are aggregated: median or trimmed_mean'],
  attackTrimFraction: ['fraction 0-0.45', 'fraction of scores dropped at each end for trimmed_mean'],
  continuityMaxPoseDeg: ['degrees', 'captures turned more than this are not compared with the first face'],
  minContinuitySimilarity: ['cosine -1..1', 'similarity to the first face below which a capture is a continuity outlier'],
  maxContinuityOutliers: ['count', 'outliers tolerated before identity_changed'],
  minMatchSimilarity: ['cosine -1..1', 'median similarity to the ID portrait below which the verdict is no_match'],
  motionCanReject: ['-', 'whether planar (photo-like) motion can reject the session on its own'],
  motionPlanarMaxResidual: ['ratio', 'homography residual below which head moves count as planar'],
};

const ABUSE_DOCS: Record<keyof AbuseConfig, [string, string]> = {
  maxFailures: ['count', 'failed sessions allowed per ID portrait within the window; the last starts the cool-down'],
  windowMs: ['ms', 'sliding window the failures are counted in'],
  cooldownMs: ['ms', 'how long a portrait is refused once the limit is reached'],
  maxTracked: ['count', 'portraits tracked at most (least recently failed forgotten first)'],
};

function fromDefaults<T extends object>(
  defaults: Readonly<T>,
  docs: Partial<Record<string, [string, string]>>,
  integers: ReadonlySet<string>,
): Record<string, JsonSchema> {
  const props: Record<string, JsonSchema> = {};
  for (const [key, value] of Object.entries(defaults) as [keyof T & string, unknown][]) {
    const [unit, description] = docs[key] ?? ['-', `see the doc comment of ${key} in agent/session/config.ts`];
    const type = typeof value === 'boolean' ? 'boolean' : typeof value === 'string' ? 'string' : integers.has(key) ? 'integer' : 'number';
    props[key] = { type, default: value, unit, description, ...(key === 'attackAggregate' ? { enum: ['median', 'trimmed_mean'] } : {}) };
  }
  return props;
}

const SESSION_INTEGERS = new Set([
  'qualityStableFrames',
  'holdFrames',
  'stepRetries',
  'wrongActionFrames',
  'multiFaceFrames',
  'maxDecisions',
  'finalCaptureFrames',
  'minAttackSamples',
  'maxContinuityOutliers',
]);

/** Keys of the session config without a description here (a unit test keeps this empty). */
export function undocumentedSessionKeys(): string[] {
  return Object.keys(DEFAULT_SESSION_CONFIG).filter((k) => !(k in SESSION_DOCS));
}

/** The `session` object: the verification session's thresholds, defaults from DEFAULT_SESSION_CONFIG. */
export function sessionSchema(): JsonSchema {
  return {
    type: 'object',
    additionalProperties: false,
    default: {},
    description: 'verification session thresholds (agent/session/config.ts; ranges checked by resolveSessionConfig)',
    properties: fromDefaults(DEFAULT_SESSION_CONFIG, SESSION_DOCS, SESSION_INTEGERS),
  };
}

/** The `abuse` object: failed attempts per ID portrait, defaults from DEFAULT_ABUSE_CONFIG. */
export function abuseSchema(): JsonSchema {
  return {
    type: 'object',
    additionalProperties: false,
    default: {},
    description: 'abuse limit: failed sessions per ID portrait before a cool-down',
    properties: fromDefaults(DEFAULT_ABUSE_CONFIG, ABUSE_DOCS, new Set(Object.keys(DEFAULT_ABUSE_CONFIG))),
  };
}
