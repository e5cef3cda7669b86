/**
 * One interface for every kind of identity-document reader the kiosk can have (issue 13): an ICAO
 * 9303 chip on a PC/SC reader, or China's resident identity card on a certified reader with its own
 * security module. The session asks for a document and gets the state-signed portrait (kept in the
 * process) and the claims a signed result may carry (no name, number or image).
 */
import type { RgbImage } from '../../base/rgb-image.js';
import type { MrzAccessKey } from './mrz.js';

/** What the signed result may say about where the reference portrait came from and how it was proven. */
export interface DocumentClaims {
  source: 'chip';
  /**
   * `passed`: ICAO passive authentication (SOD signature, DS chained to a trusted CSCA, data-group
   * hashes). `reader_sam`: the card was authenticated by the reader's own security module (China's
   * resident ID, GA/T 467); the kiosk cannot check it itself.
   */
  passiveAuth: 'passed' | 'reader_sam';
  /** The chip proved it holds the key its signed data names (a clone cannot): `absent` when it offers neither. */
  chipAuth: 'passed' | 'absent';
  /** How `chipAuth` was proven: chip authentication (DG14) or active authentication (DG15). */
  chipAuthMethod?: 'chip_authentication' | 'active_authentication';
  /** How the chip was opened: PACE, BAC, or the reader's own protocol. */
  accessControl: 'pace' | 'bac' | 'reader';
  issuingState: string;
  documentType: string;
  /** SHA-256 of the trusted CSCA's SubjectPublicKeyInfo, hex (which state key vouched for the document). */
  cscaKeyId?: string;
  /** The data groups passive authentication verified. */
  dataGroups?: number[];
  portraitFormat: 'jpeg' | 'jpeg2000' | 'vendor';
}

export interface DocumentReading {
  /** The state-signed portrait: biometric data, never leaves the process. */
  portrait: RgbImage;
  /** The document number (for a keyed hash only; never logged or sent in clear). */
  documentNumber: string;
  claims: DocumentClaims;
}

export interface DocumentRequest {
  /** The chip's access key from the data page's MRZ (read by OCR, typed, or corrected by the customer); readers that need none ignore it. */
  accessKey?: MrzAccessKey;
  /** How long to wait for a document to be presented. */
  timeoutMs: number;
  signal?: AbortSignal;
}

/** A document reader: `start()` opens the device, `read()` waits for a document and authenticates it, `stop()` releases it. */
export interface DocumentReader {
  readonly kind: 'pcsc' | 'cn-id';
  start(): Promise<void>;
  stop(): Promise<void>;
  /**
   * Waits for a document and reads it. Throws the failing step's coded error (E_TIMEOUT when none is
   * presented, E_DOC_MRZ, E_DOC_ACCESS, E_DOC_SM, E_DOC_PASSIVE_AUTH, E_DOC_CLONE_SUSPECTED,
   * E_DOC_DECODER_MISSING, E_IMAGE_CORRUPT).
   */
  read(request: DocumentRequest): Promise<DocumentReading>;
}
