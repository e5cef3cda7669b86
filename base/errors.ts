/**
 * Typed errors. Every error the agent raises carries a stable `code` from this closed union
 * and names what was wrong (the file, the key, the model). Compare codes, never messages.
 */
export const ERROR_CODES = [
  // input files and media
  'E_INPUT_NOT_FOUND',
  'E_INPUT_EMPTY',
  'E_INPUT_UNREADABLE',
  'E_IMAGE_CORRUPT',
  'E_IMAGE_TOO_LARGE',
  'E_FORMAT_UNSUPPORTED',
  'E_VIDEO_DECODE',
  'E_VIDEO_NO_FRAMES',
  'E_DECODER_MISSING',
  // models
  'E_MODEL_MANIFEST',
  'E_MODEL_MISSING',
  'E_MODEL_INTEGRITY',
  'E_MODEL_LOAD',
  'E_RUNTIME_UNAVAILABLE',
  // face analysis
  'E_NO_FACE',
  'E_MULTIPLE_FACES',
  'E_FACE_QUALITY',
  // configuration and usage
  'E_USAGE',
  'E_CONFIG_INVALID',
  'E_LABELS_INVALID',
  // challenge plans: a carrier nonce or an explicit step list that cannot make a plan
  'E_CHALLENGE_INVALID',
  // trust, transport, device
  'E_KEY_STORE',
  // the OpenSSL engine that lets TLS sign with a key in a PKCS#11 token is missing or cannot be loaded
  'E_TLS_ENGINE',
  'E_CERTIFICATE',
  'E_SIGNATURE',
  'E_TOKEN_INVALID',
  'E_TRANSPORT',
  'E_NOT_AUTHORIZED',
  'E_OUTBOX_FULL',
  'E_STORAGE',
  'E_COMMAND_INVALID',
  'E_DEVICE',
  'E_CAMERA',
  'E_CAMERA_VIRTUAL',
  'E_GPIO',
  // SIM dispenser (device/kiosk): the dispense was not confirmed, and why
  'E_DISPENSE_TIMEOUT',
  'E_DISPENSE_JAM',
  'E_DISPENSER_EMPTY',
  'E_DISPENSER_BUSY',
  'E_TAMPERED',
  // remote assistance: no operator answered, the call failed, or an operator decision was refused
  'E_ASSIST',
  'E_ABORTED',
  // identity documents (device/document): an MRZ that does not check, chip access control refused,
  // a secure-messaging response that does not verify
  'E_DOC_MRZ',
  'E_DOC_ACCESS',
  'E_DOC_SM',
  // the chip's data is not what the issuing state signed (details.reason names the step)
  'E_DOC_PASSIVE_AUTH',
  // the chip could not prove it holds the key its signed data names (active or chip authentication)
  'E_DOC_CLONE_SUSPECTED',
  // a document's photo needs the reader vendor's decoder, and none is configured (or it failed)
  'E_DOC_DECODER_MISSING',
  // an engine call or a component did not answer within its time limit
  'E_TIMEOUT',
  // fleet updates (provisioning/update): a release whose signature, manifest, hash or version is refused,
  // too little disk to stage it, or a download that failed (details say the HTTP status or reason)
  'E_UPDATE_SIGNATURE',
  'E_UPDATE_MANIFEST',
  'E_UPDATE_HASH',
  'E_UPDATE_DOWNGRADE',
  'E_UPDATE_DISK',
  'E_UPDATE_DOWNLOAD',
  // the new release failed its trial: did not start, failed its model self-test, or did not reach the broker
  'E_UPDATE_TRIAL',
  // a model failed its self-test (known input, known output)
  'E_MODEL_SELFTEST',
  'E_INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface KioskErrorOptions {
  /** The file, key, model or topic the error is about; shown to operators. Never image data. */
  subject?: string;
  cause?: unknown;
  /** Structured details safe to log (no images, crops or embeddings). */
  details?: Record<string, unknown>;
}

/** The one error class of the agent; `code` says what kind, `subject` says what it is about. */
export class KioskError extends Error {
  readonly code: ErrorCode;
  readonly subject?: string;
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: KioskErrorOptions = {}) {
    super(options.subject ? `${message} (${options.subject})` : message, { cause: options.cause });
    this.name = 'KioskError';
    this.code = code;
    this.subject = options.subject;
    this.details = options.details;
  }

  /** A plain object for JSON output and logs. */
  toJSON(): { code: ErrorCode; message: string; subject?: string; details?: Record<string, unknown> } {
    return { code: this.code, message: this.message, subject: this.subject, details: this.details };
  }
}

/** True when `err` is a KioskError, optionally of one code. */
export function isKioskError(err: unknown, code?: ErrorCode): err is KioskError {
  return err instanceof KioskError && (code === undefined || err.code === code);
}

/** Wraps anything thrown into a KioskError, keeping an existing one as it is. */
export function toKioskError(err: unknown, fallback: ErrorCode = 'E_INTERNAL', subject?: string): KioskError {
  if (err instanceof KioskError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new KioskError(fallback, message, { subject, cause: err });
}
