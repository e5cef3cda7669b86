/**
 * The 256-byte text record of China's resident identity card: UCS-2 little-endian, fixed-width
 * fields padded with spaces, in this order (characters): name 15, gender 1, nation 2, birth date 8,
 * address 35, ID number 18, issuing authority 15, valid from 8, valid until 8, 18 reserved. The
 * public drivers cited in frame.ts agree on these widths (one as a struct of byte widths 30/2/4/16/
 * 70/36/30/16/16/36, one as UTF-16LE offsets 0/30/32/36/52/122/158/188/204).
 *
 * Every value here is personal data: errors name the field that failed, never its content.
 */
import { KioskError } from '../../../base/errors.js';

export const TEXT_BYTES = 256;
/** Some readers pad with NULs instead of spaces. */
const NUL = String.fromCharCode(0);
const SUBJECT = 'cn-id text record';

/** Field widths in UCS-2 characters, in record order. */
const FIELDS = [
  ['name', 15],
  ['gender', 1],
  ['nation', 2],
  ['birthDate', 8],
  ['address', 35],
  ['idNumber', 18],
  ['issuingAuthority', 15],
  ['validFrom', 8],
  ['validUntil', 8],
] as const;

type FieldName = (typeof FIELDS)[number][0];

/** The card's text, parsed and checked. Personal data: kept in the process, never logged. */
export interface CnIdText {
  name: string;
  /** GB/T 2261.1 code: 1 male, 2 female (0 unknown, 9 unspecified). */
  gender: '0' | '1' | '2' | '9';
  /** GB 3304 nationality code, two digits (01 Han ... 56, 97 other, 98 of foreign origin). */
  nation: string;
  /** YYYY-MM-DD. */
  birthDate: string;
  address: string;
  /** 18 characters, the last the ISO 7064 MOD 11-2 check character (0-9 or X). */
  idNumber: string;
  issuingAuthority: string;
  /** YYYY-MM-DD. */
  validFrom: string;
  /** YYYY-MM-DD, or `long-term` (长期: cards issued from age 46 do not expire). */
  validUntil: string;
}

/** The raw fields of a text record, trimmed of the space and NUL padding. */
export function splitTextRecord(record: Uint8Array): Record<FieldName, string> {
  if (record.length !== TEXT_BYTES) {
    throw invalid(`the text record has ${record.length} bytes, expected ${TEXT_BYTES}`, 'record');
  }
  const text = Buffer.from(record).toString('utf16le');
  const out = {} as Record<FieldName, string>;
  let at = 0;
  for (const [name, width] of FIELDS) {
    out[name] = text
      .slice(at, at + width)
      .replaceAll(NUL, ' ')
      .trimEnd();
    at += width;
  }
  return out;
}

/** Parses and checks a 256-byte text record (ID number check character, dates, codes). */
export function parseTextRecord(record: Uint8Array): CnIdText {
  const f = splitTextRecord(record);
  if (!/^[0129]$/.test(f.gender)) throw invalid('the gender code is not one of 0, 1, 2, 9', 'gender');
  if (!/^\d{2}$/.test(f.nation)) throw invalid('the nation code is not two digits', 'nation');
  if (f.name.length === 0) throw invalid('the name is empty', 'name');
  checkIdNumber(f.idNumber);
  const birthDate = date(f.birthDate, 'birthDate');
  // The number carries the birth date (digits 7-14): a record where they differ is not one card's.
  if (f.idNumber.slice(6, 14) !== f.birthDate) throw invalid('the birth date differs from the one in the ID number', 'birthDate');
  const validFrom = date(f.validFrom, 'validFrom');
  const validUntil = f.validUntil === '长期' ? 'long-term' : date(f.validUntil, 'validUntil');
  if (validUntil !== 'long-term' && validUntil < validFrom) throw invalid('the validity ends before it starts', 'validUntil');
  return {
    name: f.name,
    gender: f.gender as CnIdText['gender'],
    nation: f.nation,
    birthDate,
    address: f.address,
    idNumber: f.idNumber,
    issuingAuthority: f.issuingAuthority,
    validFrom,
    validUntil,
  };
}

const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK = '10X98765432';

/** The ISO 7064 MOD 11-2 check character (GB 11643) of the first 17 digits. */
export function idCheckCharacter(first17: string): string {
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += Number(first17[i]) * WEIGHTS[i];
  return CHECK[sum % 11];
}

/** Throws unless `id` is 17 digits and its MOD 11-2 check character. */
export function checkIdNumber(id: string): void {
  if (!/^\d{17}[\dX]$/.test(id)) throw invalid('the ID number is not 17 digits and a check character', 'idNumber');
  if (idCheckCharacter(id.slice(0, 17)) !== id[17]) throw invalid('the ID number check character does not match', 'idNumber');
}

function date(yyyymmdd: string, field: FieldName): string {
  const m = /^(\d{4})(\d{2})(\d{2})$/.exec(yyyymmdd);
  if (!m) throw invalid('the date is not YYYYMMDD', field);
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const t = new Date(Date.UTC(y, mo - 1, d));
  if (y < 1900 || t.getUTCFullYear() !== y || t.getUTCMonth() !== mo - 1 || t.getUTCDate() !== d) {
    throw invalid('the date is not a calendar date', field);
  }
  return `${m[1]}-${m[2]}-${m[3]}`;
}

function invalid(message: string, field: string): KioskError {
  return new KioskError('E_DEVICE', `the card's text record does not check: ${message}`, {
    subject: SUBJECT,
    details: { reason: 'text_invalid', field },
  });
}

/** Builds a text record from raw field strings (the fake reader's cards and tests; the inverse of `splitTextRecord`). */
export function encodeTextRecord(fields: Record<FieldName, string>): Buffer {
  const out = Buffer.alloc(TEXT_BYTES, 0);
  let at = 0;
  for (const [name, width] of FIELDS) {
    const value = fields[name];
    if (value.length > width) throw new RangeError(`${name} is longer than ${width} characters`);
    out.write(value.padEnd(width, ' '), at * 2, 'utf16le');
    at += width;
  }
  return out;
}
