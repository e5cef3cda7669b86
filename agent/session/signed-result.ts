/**
 * What a kiosk signs for a session: its `SessionResult`, the session id and which camera took the
 * frames (kind and driver only: no serial number, no image), and where the reference portrait came from. The mapping is typed field by field so
 * that a field able to carry biometric data, added to either side, fails to compile at the signer
 * (`BiometricFree` in protocol/eat.ts).
 */
import type { CameraIdentity } from '../../device/camera/frame-source.js';
import type { ReferenceClaims } from '../../protocol/reference.js';
import type { SessionResult } from './types.js';

/** The camera as recorded in a signed result. */
export interface SignedCamera {
  kind: CameraIdentity['kind'];
  driver: string | null;
  card: string | null;
  bus: string | null;
  virtual: boolean;
}

/** The `result` claim of a kiosk's result token. */
export interface SignedSessionResult extends SessionResult {
  session_id: string;
  camera: SignedCamera | null;
  /** Where the reference portrait came from and how it was proven (no name, number or image); null when none was obtained (a document that failed its step). */
  reference: ReferenceClaims | null;
}

/** The `result` claim for `result` of session `sessionId` on the camera `identity` (if known), against the reference `reference`. */
export function signedResult(
  result: SessionResult,
  sessionId: string,
  identity: CameraIdentity | undefined,
  reference: ReferenceClaims | null,
): SignedSessionResult {
  const camera: SignedCamera | null = identity
    ? { kind: identity.kind, driver: identity.driver ?? null, card: identity.card ?? null, bus: identity.bus ?? null, virtual: identity.virtual }
    : null;
  return { ...result, session_id: sessionId, camera, reference: reference ? { ...reference } : null };
}
