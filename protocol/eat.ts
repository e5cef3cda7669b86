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

/** RFC 9711 debug status names. */
export type DebugStatus = 'enabled' | 'disabled' | 'disabled-since-boot' | 'disabled-permanently' | 'disabled-fully-and-permanently';

/** One measured component: a model file or the agent itself. */
export interface Measurement {
  id: string;
  sha256?: string;
  version?: string;
}

/** The session result a kiosk signs: verdict, reason codes, scores, and the challenge plan it ran. */
export interface SessionResult {
  verdict: string;
  reasons?: string[];
  scores?: Record<string, number>;
  plan?: unknown;
  [k: string]: unknown;
}

/** The claims set of a result token. */
export interface ResultClaims {
  eat_profile: string;
  eat_nonce: string;
  sub: string;
  iat: number;
  jti: string;
  swname: string;
  swversion: string;
  measurements: Measurement[];
  dbgstat?: DebugStatus;
  result: SessionResult;
}

/** Keys that would carry biometric data; a result holding any of them is refused before signing. */
const FORBIDDEN_KEYS = /^(image|images|frame|frames|crop|crops|pixels|embedding|embeddings|template|descriptor|descriptors|photo|portrait|face)$/i;

/**
 * Refuses a result that could carry biometric data: a forbidden key at any depth, a number array
 * longer than 64 (an embedding), or a string longer than 1 KiB (an encoded image).
 */
export function assertNoBiometrics(value: unknown, path = 'result'): void {
  if (typeof value === 'string' && value.length > 1024) throw biometric(path, 'a string longer than 1 KiB');
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
  if (!str('swname') || !str('swversion')) return 'swname/swversion';
  if (!Array.isArray(c.measurements) || !c.measurements.every((m) => typeof m === 'object' && m !== null && typeof (m as Measurement).id === 'string'))
    return 'measurements';
  const r = c.result as SessionResult | undefined;
  if (typeof r !== 'object' || r === null || Array.isArray(r) || typeof r.verdict !== 'string') return 'result';
  try {
    assertNoBiometrics(r);
  } catch {
    return 'result (biometric data)';
  }
  return undefined;
}

function biometric(path: string, what: string): KioskError {
  return new KioskError('E_USAGE', `a result must not carry biometric data: ${path} is ${what}`, { subject: path });
}
