/**
 * The session's verdicts and reason codes: what a signed result says, what the kiosk's screen
 * explains to the customer, and what the carrier counts. One list, read by the kiosk (agent/session,
 * agent/screen) and by the carrier (carrier/metrics), which may not import the kiosk's code.
 */

/** A session's verdict. */
export const VERDICTS = ['accept', 'reject', 'retry'] as const;
export type Verdict = (typeof VERDICTS)[number];

/** Why a session did not accept, in no particular order. */
export const REASON_CODES = [
  'no_face',
  'multiple_faces',
  'quality',
  'face_lost',
  'challenge_timeout',
  'challenge_wrong_action',
  'presentation_attack',
  'identity_changed',
  'no_match',
  'motion_inconsistent',
  'insufficient_samples',
  'decision_unavailable',
  'cancelled',
  'attempts_exceeded',
  'document_unreadable',
  'document_not_authentic',
] as const;
export type ReasonCode = (typeof REASON_CODES)[number];
