/**
 * Challenge plans: which actions the customer is asked to do, in which order, within which time.
 * A plan is derived from a carrier nonce so that the carrier can recompute it and nobody can
 * predict it before the nonce is issued.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { KioskError } from '../base/errors.js';

/** One action the customer is asked to do. Left/right are the SUBJECT's own (see `HeadPose`). */
export type StepKind = 'blink' | 'turn_left' | 'turn_right' | 'look_up' | 'look_down';

/** Every step kind, in the fixed order the plan derivation indexes into (part of plan version 1). */
export const STEP_KINDS: readonly StepKind[] = ['blink', 'turn_left', 'turn_right', 'look_up', 'look_down'];

export interface ChallengeStep {
  kind: StepKind;
  /** Window for this step, from the moment it starts (previous step done) until it must be observed, ms. */
  timeLimitMs: number;
}

/** Where the plan came from: a carrier nonce, a nonce the device drew itself, or an explicit list. */
export type NonceSource = 'carrier' | 'device' | 'explicit';

export interface ChallengePlan {
  /** Derivation algorithm version; a carrier recomputes the plan with the same version. */
  version: 1;
  nonceSource: NonceSource;
  /** The nonce in lower-case hex, or null for an explicit plan. Not secret: the carrier issued it. */
  nonce: string | null;
  steps: readonly ChallengeStep[];
}

/** Version of the derivation below; stored in every plan. */
export const PLAN_VERSION = 1 as const;

/** Domain-separation label of plan version 1 (ASCII). */
export const PLAN_LABEL = 'kiosk-agent/challenge-plan/v1';

/** Shortest nonce accepted: 64 bits, i.e. 16 hex digits. */
export const MIN_NONCE_HEX = 16;

/** Longest nonce accepted: 1024 bits, i.e. 256 hex digits. */
export const MAX_NONCE_HEX = 256;

/** Step counts of a derived plan (inclusive). */
export const MIN_STEPS = 2;
export const MAX_STEPS = 4;

/** Longest explicit plan `planFromSteps` accepts. */
export const MAX_EXPLICIT_STEPS = 8;

/**
 * Default window per step kind, ms: from the moment the step starts (the previous one is done)
 * until it must be observed. It includes reading the prompt and returning to a neutral pose.
 */
export const DEFAULT_TIME_LIMITS_MS: Readonly<Record<StepKind, number>> = {
  blink: 5000,
  turn_left: 6000,
  turn_right: 6000,
  look_up: 6000,
  look_down: 6000,
};

export interface PlanOptions {
  /** Who drew the nonce; `device` when the kiosk drew its own (see `drawNonce`). Default `carrier`. */
  nonceSource?: 'carrier' | 'device';
  /** Per-kind step windows, ms, overriding `DEFAULT_TIME_LIMITS_MS`. They do not change the drawn steps. */
  timeLimitsMs?: Partial<Record<StepKind, number>>;
}

/**
 * Derives the challenge plan of a nonce (version 1). Same nonce, same plan.
 *
 * Algorithm, so that a carrier can recompute it:
 * 1. The nonce is a hex string of an even number of digits, 16 to 256 (64 to 1024 bits), any case.
 *    Its bytes K are the HMAC key.
 * 2. A byte stream is the concatenation of blocks B_i = HMAC-SHA256(K, L || 0x00 || uint32be(i))
 *    for i = 0, 1, 2, ..., where L is the ASCII label `kiosk-agent/challenge-plan/v1`.
 *    Bytes are consumed in order, each at most once.
 * 3. draw(n) returns a uniform integer in [0, n): read the next byte b; if b < 256 - (256 mod n)
 *    return b mod n, otherwise discard it and read another (rejection sampling, no modulo bias).
 *    draw(1) still consumes a byte.
 * 4. The step count is 2 + draw(3) (2, 3 or 4 steps).
 * 5. The kinds, in this fixed order, are [blink, turn_left, turn_right, look_up, look_down].
 *    Step 1 is kinds[draw(5)]. Each following step is C[draw(4)], where C is the kinds list
 *    without the previous step's kind (same order), so no two consecutive steps are the same.
 * 6. Each step's time limit is the configured window of its kind; it does not enter the draw.
 */
export function derivePlan(nonceHex: string, options: PlanOptions = {}): ChallengePlan {
  const nonce = normaliseNonce(nonceHex);
  const { kinds } = drawKinds(nonce);
  return {
    version: PLAN_VERSION,
    nonceSource: options.nonceSource ?? 'carrier',
    nonce,
    steps: withLimits(kinds, options.timeLimitsMs),
  };
}

/** Steps 1-5 of the algorithm above; returns the stream too, positioned after the plan's draws. */
function drawKinds(nonce: string): { kinds: StepKind[]; next: () => number } {
  const next = byteStream(Buffer.from(nonce, 'hex'));
  const count = MIN_STEPS + draw(next, MAX_STEPS - MIN_STEPS + 1);
  const kinds: StepKind[] = [STEP_KINDS[draw(next, STEP_KINDS.length)]];
  while (kinds.length < count) {
    const previous = kinds[kinds.length - 1];
    const candidates = STEP_KINDS.filter((k) => k !== previous);
    kinds.push(candidates[draw(next, candidates.length)]);
  }
  return { kinds, next };
}

/** A step that failed and was replaced: which kind failed, and the kind of the step run before it (null for the first). */
export interface FailedStep {
  failed: StepKind;
  previous: StepKind | null;
}

/**
 * The kinds of the replacement steps a nonce gives after failed steps (plan version 1, continued),
 * so that a carrier can recompute them from the nonce and the steps in the result:
 * 7. The byte stream goes on where step 5 left it. For the n-th failed step (in the order they
 *    failed), the replacement is C[draw(|C|)], where C is the kinds list without the failed kind
 *    and without the kind of the step run just before the failed one (same order): the customer
 *    is not asked again for what they could not do, nor for the same move twice in a row.
 */
export function drawReplacements(nonceHex: string, failures: readonly FailedStep[]): StepKind[] {
  const { next } = drawKinds(normaliseNonce(nonceHex));
  return failures.map(({ failed, previous }) => {
    const candidates = STEP_KINDS.filter((k) => k !== failed && k !== previous);
    return candidates[draw(next, candidates.length)];
  });
}

/** True when the plan has at least two steps and a head move (a replay of anyone blinking satisfies a blink-only plan). */
export function isStrongPlan(plan: Pick<ChallengePlan, 'steps'>): boolean {
  return plan.steps.length >= MIN_STEPS && plan.steps.some((s) => s.kind !== 'blink');
}

/**
 * A plan from an explicit list of steps (`--challenge blink,turn_left`), for recordings whose
 * motions are known. Accepts an array of kinds or a comma-separated string; 1 to 8 steps.
 */
export function planFromSteps(steps: readonly string[] | string, options: Pick<PlanOptions, 'timeLimitsMs'> = {}): ChallengePlan {
  const list = typeof steps === 'string' ? steps.split(',').map((s) => s.trim()) : [...steps];
  if (list.length === 0 || (list.length === 1 && list[0] === '')) {
    throw new KioskError('E_CHALLENGE_INVALID', 'the challenge has no steps', { subject: 'challenge' });
  }
  if (list.length > MAX_EXPLICIT_STEPS) {
    throw new KioskError('E_CHALLENGE_INVALID', `the challenge has ${list.length} steps, at most ${MAX_EXPLICIT_STEPS}`, { subject: 'challenge' });
  }
  for (const s of list) {
    if (!isStepKind(s)) {
      throw new KioskError('E_CHALLENGE_INVALID', `unknown challenge step "${s}", expected one of ${STEP_KINDS.join(', ')}`, {
        subject: 'challenge',
      });
    }
  }
  return { version: PLAN_VERSION, nonceSource: 'explicit', nonce: null, steps: withLimits(list as StepKind[], options.timeLimitsMs) };
}

/** A fresh 128-bit nonce drawn on the device, lower-case hex; derive with `{ nonceSource: 'device' }`. */
export function drawNonce(random: (bytes: number) => Uint8Array = randomBytes): string {
  return Buffer.from(random(16)).toString('hex');
}

/** True when `s` names a step kind. */
export function isStepKind(s: string): s is StepKind {
  return (STEP_KINDS as readonly string[]).includes(s);
}

function normaliseNonce(nonceHex: string): string {
  if (typeof nonceHex !== 'string' || !/^[0-9a-fA-F]*$/.test(nonceHex)) {
    throw new KioskError('E_CHALLENGE_INVALID', 'the nonce is not a hex string', { subject: 'nonce' });
  }
  if (nonceHex.length < MIN_NONCE_HEX) {
    throw new KioskError('E_CHALLENGE_INVALID', `the nonce has ${nonceHex.length * 4} bits, at least 64 are needed`, { subject: 'nonce' });
  }
  if (nonceHex.length > MAX_NONCE_HEX) {
    throw new KioskError('E_CHALLENGE_INVALID', `the nonce has ${nonceHex.length * 4} bits, at most 1024 are accepted`, { subject: 'nonce' });
  }
  if (nonceHex.length % 2 !== 0) {
    throw new KioskError('E_CHALLENGE_INVALID', 'the nonce has an odd number of hex digits (whole bytes are needed)', { subject: 'nonce' });
  }
  return nonceHex.toLowerCase();
}

function withLimits(kinds: readonly StepKind[], overrides: Partial<Record<StepKind, number>> = {}): ChallengeStep[] {
  for (const [kind, ms] of Object.entries(overrides)) {
    if (!isStepKind(kind) || typeof ms !== 'number' || !Number.isFinite(ms) || ms <= 0) {
      throw new KioskError('E_CONFIG_INVALID', `invalid step time limit ${String(ms)} for "${kind}"`, { subject: `timeLimitsMs.${kind}` });
    }
  }
  return kinds.map((kind) => ({ kind, timeLimitMs: overrides[kind] ?? DEFAULT_TIME_LIMITS_MS[kind] }));
}

/** The HMAC-SHA256 counter-mode byte stream of step 2 of the algorithm. */
function byteStream(key: Buffer): () => number {
  const label = Buffer.from(PLAN_LABEL, 'ascii');
  let counter = 0;
  let block = Buffer.alloc(0);
  let pos = 0;
  return () => {
    if (pos >= block.length) {
      const suffix = Buffer.alloc(5);
      suffix.writeUInt32BE(counter++, 1);
      block = createHmac('sha256', key)
        .update(Buffer.concat([label, suffix]))
        .digest();
      pos = 0;
    }
    return block[pos++];
  };
}

/** Uniform integer in [0, n) by rejection sampling over bytes (step 3). */
function draw(next: () => number, n: number): number {
  const limit = 256 - (256 % n);
  for (;;) {
    const b = next();
    if (b < limit) return b % n;
  }
}
