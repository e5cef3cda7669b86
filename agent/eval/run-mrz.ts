/**
 * `eval mrz`: reads the MRZ from document images (device/document/mrz-ocr.ts) and reports, per image
 * and in total with counts: MRZ found, every check digit valid, the access key's three checks valid,
 * fields right where an expectation exists (PassportEye's own tests for its tests/data images; a
 * labels file `image<TAB>line1|line2[|line3]` for any other set), PassportEye's expected valid_score
 * (the number before `_` in its testdata file names) beside ours computed the same way, and wall time.
 */
import { readFile } from 'node:fs/promises';
import { KioskError } from '../../base/errors.js';
import type { MrzImageRead } from '../../device/document/mrz-ocr.js';
import { checkDigit } from '../../device/document/mrz-ocr-text.js';
import { failureOf, type FileFailure } from './deps.js';
import { share, type Share } from './metrics.js';

/** What the runner needs: a reader per image path (as listed) and a clock. */
export interface MrzEvalDeps {
  read(image: string): Promise<MrzImageRead>;
  /** Milliseconds, monotonic; default performance.now. */
  now?(): number;
  onProgress?(done: number, total: number, file: string): void;
}

/** Expected field values; a list means any of them (PassportEye accepts two readings of one personal number). */
export type FieldExpectation = Record<string, string | readonly string[]>;

/** The fields PassportEye's tests (tests/mrz_test.py) assert for its ICAO specimen images. */
const TD3_SPECIMEN: FieldExpectation = {
  type: 'P<',
  country: 'UTO',
  number: 'L898902C3',
  date_of_birth: '740812',
  expiration_date: '120415',
  nationality: 'UTO',
  sex: 'F',
  names: 'ANNA MARIA',
  surname: 'ERIKSSON',
  personal_number: ['2E184226B<<<<<', 'ZE184226B<<<<<'],
};
const { personal_number: _none, ...TD3_COMMON } = TD3_SPECIMEN;
const TD2_SPECIMEN: FieldExpectation = { ...TD3_COMMON, type: 'I<', number: 'D23145890', optional1: '<<<<<<<' };

/** Expectations from PassportEye's tests, by the end of the image path. */
export const PASSPORTEYE_EXPECTATIONS: Record<string, FieldExpectation> = {
  'tests/data/passport-td3.jpg': TD3_SPECIMEN,
  'tests/data/passport-td3.png': TD3_SPECIMEN,
  'tests/data/passport-td2.jpg': TD2_SPECIMEN,
  'tests/data/passport-td2.png': TD2_SPECIMEN,
};

/** The named fields of MRZ lines, in PassportEye's terms (for comparing with its expectations). */
export function fieldsOf(lines: readonly string[]): Record<string, string> {
  const names = (s: string) => {
    const [surname, given = ''] = s.split('<<', 2);
    return { surname: surname.replace(/</g, ' ').trim(), names: given.replace(/</g, ' ').trim() };
  };
  if (lines.length === 3) {
    const [a, b, c] = lines;
    return {
      type: a.slice(0, 2),
      country: a.slice(2, 5),
      number: a.slice(5, 14),
      date_of_birth: b.slice(0, 6),
      sex: b[7],
      expiration_date: b.slice(8, 14),
      nationality: b.slice(15, 18),
      ...names(c),
    };
  }
  const [a, b] = lines;
  const base = {
    type: a.slice(0, 2),
    country: a.slice(2, 5),
    ...names(a.slice(5)),
    number: b.slice(0, 9),
    nationality: b.slice(10, 13),
    date_of_birth: b.slice(13, 19),
    sex: b[20],
    expiration_date: b.slice(21, 27),
  };
  return a.length === 44 && a[0] !== 'V' ? { ...base, personal_number: b.slice(28, 42) } : { ...base, optional1: b.slice(28, a.length - 1) };
}

const realDate = (s: string) => /^\d\d(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])$/.test(s);
const digitOk = (field: string, check: string | undefined, date = false) => checkDigit(field) === check && (!date || realDate(field));

/**
 * PassportEye's valid_score for lines (0..100): ten points per check digit, one per line of the right
 * length, one for a plausible first letter, one for free, as a share of the maximum. Our lines are
 * always of the right length, so the score is mostly the check digits.
 */
export function passportEyeScore(lines: readonly string[] | null): number {
  if (!lines) return 0;
  const n = lines.length;
  const w = lines[0].length;
  const [a, b] = lines;
  let checks: boolean[];
  let misc: boolean;
  if (n === 3) {
    checks = [
      digitOk(a.slice(5, 14), a[14]),
      digitOk(b.slice(0, 6), b[6], true),
      digitOk(b.slice(8, 14), b[14], true),
      digitOk(a.slice(5, 30) + b.slice(0, 7) + b.slice(8, 15) + b.slice(18, 29), b[29]),
    ];
    misc = 'IAC'.includes(a[0]);
  } else {
    checks = [digitOk(b.slice(0, 9), b[9]), digitOk(b.slice(13, 19), b[19], true), digitOk(b.slice(21, 27), b[27], true)];
    if (a[0] === 'V') misc = true;
    else if (w === 36) {
      checks.push(digitOk(b.slice(0, 10) + b.slice(13, 20) + b.slice(21, 35), b[35]));
      misc = 'ACI'.includes(a[0]);
    } else {
      checks.push(digitOk(b.slice(0, 10) + b.slice(13, 20) + b.slice(21, 43), b[43]));
      const pn = b.slice(28, 42);
      checks.push(((b[42] === '<' || b[42] === '0') && pn === '<'.repeat(14)) || checkDigit(pn) === b[42]);
      misc = a[0] === 'P';
    }
  }
  const points = 10 * checks.filter(Boolean).length + n + (misc ? 1 : 0) + 1;
  return Math.floor((100 * points) / (10 * checks.length + n + 2));
}

/** One image's outcome. */
export interface MrzEvalRow {
  image: string;
  found: boolean;
  format: string | null;
  all_checks_valid: boolean;
  access_key_valid: boolean;
  failed_checks: string[];
  repairs: number;
  /** Against an expectation: fields compared, and the names of those wrong (never their values). Null without one. */
  fields: { source: 'passporteye-tests' | 'labels'; compared: number; wrong: string[] } | null;
  passporteye_expected_score: number | null;
  our_score: number;
  wall_ms: number;
}

/** The totals (counts beside every share) and every row. */
export interface MrzEvalReport {
  images: number;
  found: Share;
  all_checks_valid: Share;
  access_key_valid: Share;
  fields_right: Share;
  score: { compared: number; equal: number; higher: number; lower: number };
  wall_ms_median: number | null;
  failures: FileFailure[];
  rows: MrzEvalRow[];
}

/** PassportEye's expected valid_score from a testdata file name (`62_pass-aus.png` -> 62), or null. */
export function expectedScoreOf(image: string): number | null {
  const m = /(?:^|\/)mrz\/testdata\/(\d{1,3})_[^/]+$/.exec(image);
  return m ? Number(m[1]) : null;
}

/** Parses a labels file: `image<TAB>line1|line2[|line3]`, an optional header, `#` comments. */
export function parseMrzLabels(text: string, file: string): { image: string; lines: string[] }[] {
  const rows: { image: string; lines: string[] }[] = [];
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || (i === 0 && /^image\t/i.test(line))) continue;
    const cells = raw.split('\t');
    const lines = (cells[1] ?? '').trim().split('|');
    if (cells.length < 2 || cells[0].trim() === '' || !lines.every((l) => /^[A-Z0-9<]+$/.test(l)) || !(lines.length === 2 || lines.length === 3)) {
      throw new KioskError('E_LABELS_INVALID', `${file}:${i + 1}: expected image<TAB>2 or 3 MRZ lines joined by |`, {
        subject: file,
        details: { line: i + 1 },
      });
    }
    rows.push({ image: cells[0].trim(), lines });
  }
  return rows;
}

/** Reads a labels file (E_INPUT_NOT_FOUND when missing). */
export async function readMrzLabels(path: string): Promise<{ image: string; lines: string[] }[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new KioskError('E_INPUT_NOT_FOUND', 'cannot read label file', { subject: path, cause: err });
  }
  return parseMrzLabels(text, path);
}

function compare(read: readonly string[] | null, expected: FieldExpectation): string[] {
  const got = read ? fieldsOf(read) : {};
  return Object.entries(expected)
    .filter(([k, v]) => !(typeof v === 'string' ? [v] : v).includes(got[k] ?? ''))
    .map(([k]) => k);
}

/** Runs the reader on every image and scores it; an image that fails to read counts as not found. */
export async function runMrzEval(images: readonly string[], deps: MrzEvalDeps, labels: ReadonlyMap<string, string[]> = new Map()): Promise<MrzEvalReport> {
  const now = deps.now ?? (() => performance.now());
  const rows: MrzEvalRow[] = [];
  const failures: FileFailure[] = [];
  for (const [i, image] of images.entries()) {
    const t0 = now();
    let read: MrzImageRead | null = null;
    try {
      read = await deps.read(image);
    } catch (err) {
      failures.push(failureOf(image, err));
    }
    const wall = now() - t0;
    const label = labels.get(image);
    const pe = Object.entries(PASSPORTEYE_EXPECTATIONS).find(([suffix]) => image.endsWith(suffix))?.[1];
    let fields: MrzEvalRow['fields'] = null;
    if (label) {
      const expected = fieldsOf(label);
      const wrong = compare(read?.lines ?? null, expected);
      // Whole lines too: a field list never covers every character (optional data, fillers).
      if (!read || read.lines.join('|') !== label.join('|')) wrong.push('lines');
      fields = { source: 'labels', compared: Object.keys(expected).length + 1, wrong };
    } else if (pe) {
      fields = { source: 'passporteye-tests', compared: Object.keys(pe).length, wrong: compare(read?.lines ?? null, pe) };
    }
    rows.push({
      image,
      found: read !== null,
      format: read?.format ?? null,
      all_checks_valid: read !== null && read.failed.length === 0,
      access_key_valid: read?.accessKey !== undefined,
      failed_checks: read?.failed ?? [],
      repairs: read?.repairs.length ?? 0,
      fields,
      passporteye_expected_score: expectedScoreOf(image),
      our_score: passportEyeScore(read?.lines ?? null),
      wall_ms: Math.round(wall),
    });
    deps.onProgress?.(i + 1, images.length, image);
  }
  const withFields = rows.filter((r) => r.fields !== null);
  const scored = rows.filter((r) => r.passporteye_expected_score !== null);
  const walls = rows.map((r) => r.wall_ms).sort((a, b) => a - b);
  return {
    images: rows.length,
    found: share(rows.filter((r) => r.found).length, rows.length),
    all_checks_valid: share(rows.filter((r) => r.all_checks_valid).length, rows.length),
    access_key_valid: share(rows.filter((r) => r.access_key_valid).length, rows.length),
    fields_right: share(withFields.filter((r) => r.fields?.wrong.length === 0).length, withFields.length),
    score: {
      compared: scored.length,
      equal: scored.filter((r) => r.our_score === r.passporteye_expected_score).length,
      higher: scored.filter((r) => r.our_score > (r.passporteye_expected_score ?? 0)).length,
      lower: scored.filter((r) => r.our_score < (r.passporteye_expected_score ?? 0)).length,
    },
    wall_ms_median:
      walls.length === 0 ? null : walls.length % 2 ? walls[(walls.length - 1) / 2] : Math.round((walls[walls.length / 2 - 1] + walls[walls.length / 2]) / 2),
    failures,
    rows,
  };
}

const count = (s: Share) => `${s.count}/${s.total}`;

/** The text report: one line per image, then the totals with counts. */
export function formatMrzReport(r: MrzEvalReport): string {
  const out = ['image\tfound\tformat\tchecks\tkey\tfields\tscore (PassportEye/ours)\tms\tfailed'];
  for (const row of r.rows) {
    const fields = row.fields ? (row.fields.wrong.length === 0 ? 'right' : `wrong: ${row.fields.wrong.join(',')}`) : '-';
    out.push(
      [
        row.image,
        row.found ? 'yes' : 'no',
        row.format ?? '-',
        row.all_checks_valid ? 'valid' : 'fail',
        row.access_key_valid ? 'ok' : 'no',
        fields,
        `${row.passporteye_expected_score ?? '-'}/${row.our_score}`,
        row.wall_ms,
        row.failed_checks.join(',') || '-',
      ].join('\t'),
    );
  }
  out.push('');
  out.push(`MRZ found               ${count(r.found)}`);
  out.push(`check digits valid      ${count(r.all_checks_valid)} (every check digit of the format)`);
  out.push(`access key valid        ${count(r.access_key_valid)} (document number, birth date, expiry date)`);
  out.push(`fields right            ${count(r.fields_right)} (images with an expectation)`);
  out.push(
    `score vs PassportEye    equal ${r.score.equal}/${r.score.compared}, higher ${r.score.higher}/${r.score.compared}, lower ${r.score.lower}/${r.score.compared}`,
  );
  out.push(`wall time per image     median ${r.wall_ms_median ?? '-'} ms`);
  if (r.failures.length > 0) out.push(`not read                ${r.failures.map((f) => `${f.file} (${f.code})`).join(', ')}`);
  return out.join('\n');
}
