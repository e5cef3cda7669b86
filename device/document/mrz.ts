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

/** The three fields a customer types or corrects on the screen (no check digits: those are computed). */
export interface MrzKeyFields {
  documentNumber: string;
  birthDate: string;
  expiryDate: string;
}

/** The name of one of those fields (what `E_DOC_MRZ` details and the screen's `invalid` list carry). */
export type MrzKeyField = keyof MrzKeyFields;

/** The fields in MRZ order. */
export const MRZ_KEY_FIELDS = ['documentNumber', 'birthDate', 'expiryDate'] as const satisfies readonly MrzKeyField[];

/** ICAO 9303 Part 3 check digit: weights 7-3-1 over digits, A-Z as 10-35 and the filler `<` as 0, modulo 10. */
export function mrzCheckDigit(text: string): string {
  let sum = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const value = c >= 48 && c <= 57 ? c - 48 : c >= 65 && c <= 90 ? c - 55 : c === 60 ? 0 : -1;
    if (value < 0) throw new KioskError('E_DOC_MRZ', 'a character outside the MRZ alphabet', { subject: 'mrz' });
    sum += value * [7, 3, 1][i % 3];
  }
  return String(sum % 10);
}

/** True for YYMMDD naming a day that exists (February 29 only in years divisible by 4: 2000 was a leap year). */
function isMrzDate(s: string): boolean {
  if (!/^[0-9]{6}$/.test(s)) return false;
  const [yy, mm, dd] = [s.slice(0, 2), s.slice(2, 4), s.slice(4, 6)].map(Number);
  if (mm < 1 || mm > 12 || dd < 1) return false;
  const days = [31, yy % 4 === 0 ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mm - 1];
  return dd <= days;
}

/**
 * The access key from fields a person typed (or an OCR read they corrected): the document number
 * is 1-9 of A-Z/0-9 (trailing fillers allowed) and is padded with `<` to 9, the dates are YYMMDD
 * days that exist; the check digits are computed. E_DOC_MRZ lists the bad fields by name in
 * `details.fields` (never their values: they are personal data).
 */
export function accessKeyFromFields(f: MrzKeyFields): MrzAccessKey {
  const number = typeof f.documentNumber === 'string' ? f.documentNumber.replace(/<+$/, '') : '';
  const bad: MrzKeyField[] = [];
  if (!/^[A-Z0-9]{1,9}$/.test(number)) bad.push('documentNumber');
  if (typeof f.birthDate !== 'string' || !isMrzDate(f.birthDate)) bad.push('birthDate');
  if (typeof f.expiryDate !== 'string' || !isMrzDate(f.expiryDate)) bad.push('expiryDate');
  if (bad.length > 0) throw new KioskError('E_DOC_MRZ', `the entered ${bad.join(', ')} is not valid`, { subject: 'mrz', details: { fields: bad } });
  const documentNumber = number.padEnd(9, '<');
  return {
    documentNumber,
    documentNumberCheckDigit: mrzCheckDigit(documentNumber),
    birthDate: f.birthDate,
    birthDateCheckDigit: mrzCheckDigit(f.birthDate),
    expiryDate: f.expiryDate,
    expiryDateCheckDigit: mrzCheckDigit(f.expiryDate),
  };
}

/** The three fields of an access key as the customer sees them (the inverse of accessKeyFromFields: the document number without fillers). */
export function keyFields(k: MrzAccessKey): MrzKeyFields {
  return { documentNumber: k.documentNumber.replace(/<+$/, ''), birthDate: k.birthDate, expiryDate: k.expiryDate };
}
