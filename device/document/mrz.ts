/**
 * The machine-readable zone of a travel document (ICAO Doc 9303 parts 4-6: TD3 passports, TD1/TD2
 * cards), parsed and checked with the `mrz` package, and the part of it that keys the chip's access
 * control: document number, date of birth and date of expiry, each with its check digit (Part 11,
 * 4.3: the "MRZ information" hashed into BAC's key seed and used as PACE's MRZ password).
 */
import { parse } from 'mrz';
import { KioskError } from '../../base/errors.js';

/** The fields the chip's access key is made from, as printed (fillers kept) with their check digits. */
export interface MrzAccessKey {
  documentNumber: string;
  documentNumberCheckDigit: string;
  birthDate: string;
  birthDateCheckDigit: string;
  expiryDate: string;
  expiryDateCheckDigit: string;
}

/** A parsed MRZ: its format, the access key, and which checks failed (none for a good read). */
export interface ParsedMrz {
  format: string;
  accessKey: MrzAccessKey;
  /** Fields whose check failed, e.g. `birthDateCheckDigit` or `issuingState` (an unknown state code). */
  invalid: string[];
}

const KEY_FIELDS = ['documentNumber', 'documentNumberCheckDigit', 'birthDate', 'birthDateCheckDigit', 'expirationDate', 'expirationDateCheckDigit'] as const;

/**
 * Parses MRZ lines. E_DOC_MRZ when the lines are not an MRZ or a field the access key needs (or its
 * check digit) is wrong: the chip would refuse the key anyway, so the customer is asked to correct it.
 * Other failed checks (an unknown issuing state, the composite digit) are reported in `invalid`.
 */
export function parseMrz(lines: string[]): ParsedMrz {
  const clean = lines.map((l) => l.trim().toUpperCase());
  let result: ReturnType<typeof parse>;
  try {
    result = parse(clean);
  } catch (err) {
    throw new KioskError('E_DOC_MRZ', `not a machine-readable zone: ${(err as Error).message}`, { subject: 'mrz' });
  }
  const raw = (field: string): { text: string; valid: boolean } => {
    const d = result.details.find((x) => x.field === field);
    if (!d || d.line === undefined || d.start === undefined || d.end === undefined)
      throw new KioskError('E_DOC_MRZ', `the MRZ has no ${field}`, { subject: 'mrz', details: { field } });
    return { text: clean[d.line].slice(d.start, d.end), valid: d.valid };
  };
  const key = Object.fromEntries(KEY_FIELDS.map((f) => [f, raw(f)])) as Record<(typeof KEY_FIELDS)[number], { text: string; valid: boolean }>;
  const bad = KEY_FIELDS.filter((f) => !key[f].valid);
  if (bad.length > 0) throw new KioskError('E_DOC_MRZ', `the MRZ's ${bad.join(', ')} did not check`, { subject: 'mrz', details: { fields: bad } });
  return {
    format: String(result.format),
    accessKey: {
      documentNumber: key.documentNumber.text,
      documentNumberCheckDigit: key.documentNumberCheckDigit.text,
      birthDate: key.birthDate.text,
      birthDateCheckDigit: key.birthDateCheckDigit.text,
      expiryDate: key.expirationDate.text,
      expiryDateCheckDigit: key.expirationDateCheckDigit.text,
    },
    invalid: result.details.filter((d) => !d.valid && d.field).map((d) => String(d.field)),
  };
}

/**
 * The "MRZ information" of Part 11 (document number padded to 9 with `<`, then birth and expiry
 * dates, each followed by its check digit). Document numbers longer than 9 characters (TD1 cards
 * that continue the number in the optional data) are not handled yet: E_DOC_MRZ says so.
 */
export function mrzInformation(k: MrzAccessKey): string {
  if (k.documentNumber.length !== 9 || k.documentNumberCheckDigit === '<')
    throw new KioskError('E_DOC_MRZ', 'document numbers longer than 9 characters are not supported yet', { subject: 'mrz' });
  return `${k.documentNumber}${k.documentNumberCheckDigit}${k.birthDate}${k.birthDateCheckDigit}${k.expiryDate}${k.expiryDateCheckDigit}`;
}
