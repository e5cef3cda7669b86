/**
 * Where a session's reference portrait came from, as the signed result says it (issue 13): read from
 * the document's chip and proven genuine (passive authentication, chip or active authentication), or
 * taken from a photo of the data page, which proves nothing about who issued it. Both sides use it:
 * the kiosk fills it in, the carrier's verifier policy can require `source = chip`. It names no
 * person: the document number appears only as a keyed hash (`docNumberHash`).
 */

export const REFERENCE_SOURCES = ['chip', 'page'] as const;
export const PASSIVE_AUTH_RESULTS = ['passed', 'reader_sam', 'not_performed'] as const;
export const CHIP_AUTH_RESULTS = ['passed', 'absent', 'not_performed'] as const;
export const CHIP_AUTH_METHODS = ['chip_authentication', 'active_authentication'] as const;
export const ACCESS_CONTROLS = ['pace', 'bac', 'reader'] as const;

/** The `reference` claim of a signed result. */
export interface ReferenceClaims {
  source: (typeof REFERENCE_SOURCES)[number];
  /** `passed`: the issuing state's signature over the chip's data verified; `reader_sam`: the reader's security module authenticated the card; `not_performed`: a page photo. */
  passiveAuth: (typeof PASSIVE_AUTH_RESULTS)[number];
  /** `passed`: the chip proved its key (not a clone); `absent`: the chip offers no such proof; `not_performed`: a page photo. */
  chipAuth: (typeof CHIP_AUTH_RESULTS)[number];
  chipAuthMethod?: (typeof CHIP_AUTH_METHODS)[number];
  accessControl?: (typeof ACCESS_CONTROLS)[number];
  /** ICAO three-letter code of the issuing state (from the authenticated chip data). */
  issuingState?: string;
  /** ICAO document code (P, I, ID ...). */
  documentType?: string;
  /** SHA-256 (hex) of the SubjectPublicKeyInfo of the CSCA that vouched for the document. */
  cscaKeyId?: string;
  /**
   * HMAC-SHA256 (base64url) under the carrier's document-number key of `<issuingState>:<document
   * number>`: the same document gives the same value on every kiosk of the fleet, for the abuse limit
   * and the carrier's records; without the key it cannot be reversed by trying every number.
   */
  docNumberHash?: string;
}

/** The claim for a reference taken from a photo of the data page. */
export const PAGE_REFERENCE: ReferenceClaims = Object.freeze({ source: 'page', passiveAuth: 'not_performed', chipAuth: 'not_performed' });

const oneOf = (list: readonly string[], v: unknown) => typeof v === 'string' && list.includes(v);
const text = (v: unknown, re: RegExp) => v === undefined || (typeof v === 'string' && re.test(v));

/** The first thing wrong with a decoded `reference` claim (its field name), or undefined. */
export function referenceProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'reference';
  const r = value as Record<string, unknown>;
  const known = ['source', 'passiveAuth', 'chipAuth', 'chipAuthMethod', 'accessControl', 'issuingState', 'documentType', 'cscaKeyId', 'docNumberHash'];
  const extra = Object.keys(r).find((k) => !known.includes(k));
  if (extra) return `reference.${extra}`;
  if (!oneOf(REFERENCE_SOURCES, r.source)) return 'reference.source';
  if (!oneOf(PASSIVE_AUTH_RESULTS, r.passiveAuth)) return 'reference.passiveAuth';
  if (!oneOf(CHIP_AUTH_RESULTS, r.chipAuth)) return 'reference.chipAuth';
  if (r.chipAuthMethod !== undefined && !oneOf(CHIP_AUTH_METHODS, r.chipAuthMethod)) return 'reference.chipAuthMethod';
  if (r.accessControl !== undefined && !oneOf(ACCESS_CONTROLS, r.accessControl)) return 'reference.accessControl';
  if (!text(r.issuingState, /^[A-Z<]{1,3}$/)) return 'reference.issuingState';
  if (!text(r.documentType, /^[A-Z<]{1,2}$/)) return 'reference.documentType';
  if (!text(r.cscaKeyId, /^[0-9a-f]{64}$/)) return 'reference.cscaKeyId';
  if (!text(r.docNumberHash, /^[A-Za-z0-9_-]{43}$/)) return 'reference.docNumberHash';
  // A page photo cannot claim what only a chip proves.
  if (r.source === 'page' && (r.passiveAuth !== 'not_performed' || r.chipAuth !== 'not_performed')) return 'reference.source';
  if (r.source === 'chip' && (r.passiveAuth === 'not_performed' || r.chipAuth === 'not_performed')) return 'reference.source';
  return undefined;
}
