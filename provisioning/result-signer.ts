/**
 * Turns a session result into a signed result token (compact JWS ES256, EAT claims) with the
 * device key. The token is what leaves the kiosk; it carries only the verdict object it is given,
 * after {@link assertNoBiometrics} has checked it.
 */
import { randomUUID } from 'node:crypto';
import { url as inspectorUrl } from 'node:inspector';
import { KioskError } from '../base/errors.js';
import { agentVersion } from '../base/paths.js';
import {
  assertNoBiometrics,
  DEFAULT_RESULT_AUDIENCE,
  EAT_PROFILE,
  RESULT_TOKEN_TYP,
  type DebugStatus,
  type BiometricFree,
  type DecodedResult,
  type Measurement,
  type ResultClaims,
} from '../protocol/eat.js';
import { signCompact } from '../protocol/jws.js';
import type { KeyStore } from '../base/keys/key-store.js';
import { certificateMatchesKey, certificateThumbprint, commonName, type x509 } from '../base/keys/x509.js';

/** What the signer needs. */
export interface ResultSignerDeps {
  keyStore: KeyStore;
  /** The device certificate (CN = device id) for the key in `keyStore`. */
  certificate: x509.X509Certificate;
  /** Model and agent measurements recorded in every token. */
  measurements: Measurement[];
  /** RFC 9711 debug status when the platform knows it; a function is asked at every signature ({@link processDebugStatus}). */
  dbgstat?: DebugStatus | (() => DebugStatus);
  /** The carrier the results are for (`aud`; default DEFAULT_RESULT_AUDIENCE). */
  audience?: string;
  /** Include the certificate as x5c (default true; false sends kid only, for carriers with a registry). */
  includeCertificate?: boolean;
  clock?: () => Date;
  newId?: () => string;
}

/** A signed result and its id. */
export interface SignedResult<R extends { verdict: string } = DecodedResult> {
  token: string;
  jti: string;
  claims: ResultClaims<R>;
}

/**
 * The debug status of this process: `enabled` while the V8 inspector is open (`--inspect`, or
 * SIGUSR1 at run time), through which a debugger could change any result before it is signed.
 */
export function processDebugStatus(): DebugStatus {
  return inspectorUrl() === undefined ? 'disabled' : 'enabled';
}

/** Signs session results for one device. */
export class ResultSigner {
  private checked = false;

  constructor(private readonly deps: ResultSignerDeps) {}

  /** The device id (CN of the certificate). */
  get deviceId(): string {
    const cn = commonName(this.deps.certificate);
    if (!cn) throw new KioskError('E_CERTIFICATE', 'device certificate has no CN');
    return cn;
  }

  /**
   * Signs `result` for the session started with `nonce` (hex from the carrier). A result type that
   * could carry biometric data does not compile ({@link BiometricFree}); {@link assertNoBiometrics}
   * checks the value again at run time.
   */
  async sign<R extends { verdict: string }>(nonce: string, result: BiometricFree<R>): Promise<SignedResult<R>> {
    this.check();
    if (typeof nonce !== 'string' || !/^[0-9a-f]{32,128}$/.test(nonce))
      throw new KioskError('E_USAGE', 'session nonce must be 32..128 lower-case hex characters', { subject: 'eat_nonce' });
    if (typeof result !== 'object' || result === null || typeof result.verdict !== 'string')
      throw new KioskError('E_USAGE', 'result must be an object with a verdict', { subject: 'result' });
    assertNoBiometrics(result);
    const now = this.deps.clock?.() ?? new Date();
    const jti = this.deps.newId?.() ?? randomUUID();
    const { dbgstat } = this.deps;
    const debug = typeof dbgstat === 'function' ? dbgstat() : dbgstat;
    const claims: ResultClaims<R> = {
      eat_profile: EAT_PROFILE,
      eat_nonce: nonce,
      sub: this.deviceId,
      iat: Math.floor(now.getTime() / 1000),
      jti,
      aud: this.deps.audience ?? DEFAULT_RESULT_AUDIENCE,
      swname: 'kiosk-agent',
      swversion: agentVersion(),
      measurements: this.deps.measurements,
      ...(debug ? { dbgstat: debug } : {}),
      result,
    };
    const cert = this.deps.certificate;
    const header = {
      alg: 'ES256' as const,
      typ: RESULT_TOKEN_TYP,
      kid: certificateThumbprint(cert),
      ...(this.deps.includeCertificate === false ? {} : { x5c: [Buffer.from(cert.rawData).toString('base64')] }),
    };
    const token = await signCompact(this.deps.keyStore, header, claims);
    return { token, jti, claims };
  }

  private check(): void {
    if (this.checked) return;
    if (!certificateMatchesKey(this.deps.certificate, this.deps.keyStore)) {
      throw new KioskError('E_CERTIFICATE', 'device certificate is not for the key in the key store', { subject: this.deviceId });
    }
    this.checked = true;
  }
}
