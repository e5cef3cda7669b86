/**
 * The claims of a signed result, following the Entity Attestation Token (RFC 9711) where it fits:
 * eat_nonce, sub (device id), iat, jti, swname/swversion, measurements, dbgstat, plus `result`, the
 * verdict object of the verification session. Nothing biometric may appear in it.
 */
import { KioskError } from '../base/errors.js';

/** The media type in the JWS `typ` header of every result token. */
export const RESULT_TOKEN_TYP = 'kiosk-result+jwt';
/** The EAT profile this agent follows (RFC 9711 eat_profile). */
export const EAT_PROFILE = 'tag:kiosk-agent.dev,2025:result/v1';
/** The default `aud` of a result: the carrier's verifiers (kiosk `transport.audience`, verifier `audience`). */
export const DEFAULT_RESULT_AUDIENCE = 'kiosk-carrier';

/** RFC 9711 debug status names; every one but `enabled` says debugging is off. */
export const DEBUG_STATUSES = ['enabled', 'disabled', 'disabled-since-boot', 'disabled-permanently', 'disabled-fully-and-permanently'] as const;
export type DebugStatus = (typeof DEBUG_STATUSES)[number];

/** One measured component: a model file or the agent itself. */
export interface Measurement {
  id: string;
  sha256?: string;
  version?: string;
}

/**
 * A result as a verifier first sees it: an object with a verdict. The kiosk's typed result is
 * `SessionResult` (agent/session/types.ts), signed as `SignedSessionResult`; the carrier reads the
 * fields it needs from the decoded object.
 */
export interface DecodedResult {
  verdict: string;
  [field: string]: unknown;
}

/** Keys that would carry biometric data; a result holding any of them is refused before signing. */
export const BIOMETRIC_KEYS = [
  'image',
  'images',
  'frame',
  'frames',
  'crop',
  'crops',
  'pixels',
  'embedding',
  'embeddings',
  'template',
  'descriptor',
  'descriptors',
  'photo',
  'portrait',
  'face',
  'landmarks',
  'keypoints',
  'mesh',
] as const;
export type BiometricKey = (typeof BIOMETRIC_KEYS)[number];

interface Point2 {
  x: number;
  y: number;
}

/**
 * True when T could carry biometric data at any depth: a key from {@link BIOMETRIC_KEYS}, a typed
 * array or Buffer, a numeric array (an embedding) or an array of points (a landmark list).
 */
export type HoldsBiometric<T> = T extends ArrayBufferView
  ? true
  : T extends readonly (infer U)[]
    ? [U] extends [never]
      ? false
      : [U] extends [number]
        ? true
        : [U] extends [Point2]
          ? true
          : HoldsBiometric<U>
    : T extends object
      ? [Extract<keyof T, BiometricKey>] extends [never]
        ? { [K in keyof T]-?: HoldsBiometric<T[K]> }[keyof T]
        : true
      : false;

/** T itself when it cannot carry biometric data, else `never`: a signing call with such a type does not compile. */
export type BiometricFree<T> = HoldsBiometric<T> extends false ? T : never;

/** The claims set of a result token. */
export interface ResultClaims<R extends { verdict: string } = DecodedResult> {
  eat_profile: string;
  eat_nonce: string;
  sub: string;
  iat: number;
  jti: string;
  /** The carrier the result is for; a verifier refuses a token made for another audience. */
  aud?: string;
  swname: string;
  swversion: string;
  measurements: Measurement[];
  dbgstat?: DebugStatus;
  result: R;
}

const FORBIDDEN_KEYS = new RegExp(`^(${BIOMETRIC_KEYS.join('|')})$`, 'i');

/**
 * Refuses a result that could carry biometric data: a forbidden key at any depth, binary data (a
 * typed array, Buffer or ArrayBuffer), a number array longer than 64 (an embedding), or a string
 * longer than 1 KiB (an encoded image).
 */
export function assertNoBiometrics(value: unknown, path = 'result'): void {
  if (typeof value === 'string' && value.length > 1024) throw biometric(path, 'a string longer than 1 KiB');
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) throw biometric(path, 'binary data (a typed array or buffer)');
  if (Array.isArray(value)) {
    if (value.length > 64 && value.every((v) => typeof v === 'number')) throw biometric(path, 'a numeric array longer than 64');
    value.forEach((v, i) => assertNoBiometrics(v, `${path}[${i}]`));
  } else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      if (FORBIDDEN_KEYS.test(k)) throw biometric(`${path}.${k}`, 'a key reserved for biometric data');
      assertNoBiometrics(v, `${path}.${k}`);
    }
  }
}

/** Checks the shape of decoded claims; returns a message naming the first bad claim, or undefined. */
export function claimsProblem(c: Record<string, unknown>): string | undefined {
  const str = (k: string, max = 256) => typeof c[k] === 'string' && (c[k] as string).length > 0 && (c[k] as string).length <= max;
  if (c.eat_profile !== EAT_PROFILE) return 'eat_profile';
  if (!str('eat_nonce') || !/^[0-9a-f]{32,128}$/.test(c.eat_nonce as string)) return 'eat_nonce';
  if (!str('sub', 64)) return 'sub';
  if (typeof c.iat !== 'number' || !Number.isInteger(c.iat) || c.iat <= 0) return 'iat';
  if (!str('jti', 128)) return 'jti';
  if (c.aud !== undefined && !str('aud')) return 'aud';
  if (!str('swname') || !str('swversion')) return 'swname/swversion';
  if (c.dbgstat !== undefined && !(DEBUG_STATUSES as readonly unknown[]).includes(c.dbgstat)) return 'dbgstat';
  if (!Array.isArray(c.measurements) || !c.measurements.every((m) => typeof m === 'object' && m !== null && typeof (m as Measurement).id === 'string'))
    return 'measurements';
  const r = c.result;
  if (typeof r !== 'object' || r === null || Array.isArray(r) || !('verdict' in r) || typeof r.verdict !== 'string') return 'result';
  try {
    assertNoBiometrics(r);
  } catch {
    return 'result (biometric data)';
  }
  return undefined;
}

/** Narrows decoded claims once {@link claimsProblem} finds nothing wrong. */
export function isResultClaims(c: Record<string, unknown>): c is Record<string, unknown> & ResultClaims {
  return claimsProblem(c) === undefined;
}

function biometric(path: string, what: string): KioskError {
  return new KioskError('E_USAGE', `a result must not carry biometric data: ${path} is ${what}`, { subject: path });
}
