/**
 * From OCR text to MRZ lines (ICAO Doc 9303 parts 4-7): picks 2x44 / 2x36 / 3x30 lines out of what
 * the OCR read, checks every check digit by the printed layout, and repairs only characters that the
 * check digits then confirm (OCR confusions O/0, I/1, B/8, S/5, Z/2). Pure; no I/O.
 */

/** The MRZ formats by line count and length (MRV-A/B are visas, no composite check digit). */
export type MrzOcrFormat = 'TD1' | 'TD2' | 'TD3' | 'MRVA' | 'MRVB';

/** What characters a position may hold: digits, letters (+ filler), or both. */
type Kind = 'num' | 'alpha' | 'alnum';

interface Span {
  line: number;
  start: number;
  end: number;
}

/** A field closed by a check digit; `spans` are what the digit covers (one span except the composite). */
interface CheckedField {
  name: CheckName;
  spans: Span[];
  check: { line: number; col: number };
  kind: Kind;
  /** A date field: YYMMDD with a real month and day. */
  date?: boolean;
  /** An optional field: a filler check digit is valid when the field is all fillers. */
  optional?: boolean;
}

/** The names of the checks, as the screen shows them to the customer. */
export type CheckName = 'documentNumber' | 'birthDate' | 'expirationDate' | 'personalNumber' | 'composite';

/** The three checks that the chip's access key rests on. */
export const ACCESS_KEY_CHECKS: readonly CheckName[] = ['documentNumber', 'birthDate', 'expirationDate'];

const LENGTH: Record<MrzOcrFormat, [number, number]> = { TD1: [3, 30], TD2: [2, 36], TD3: [2, 44], MRVA: [2, 44], MRVB: [2, 36] };

const span = (line: number, start: number, end: number): Span => ({ line, start, end });

/** The checked fields of each format (0-based columns). */
function layout(format: MrzOcrFormat): CheckedField[] {
  if (format === 'TD1') {
    return [
      { name: 'documentNumber', spans: [span(0, 5, 14)], check: { line: 0, col: 14 }, kind: 'alnum' },
      { name: 'birthDate', spans: [span(1, 0, 6)], check: { line: 1, col: 6 }, kind: 'num', date: true },
      { name: 'expirationDate', spans: [span(1, 8, 14)], check: { line: 1, col: 14 }, kind: 'num', date: true },
      { name: 'composite', spans: [span(0, 5, 30), span(1, 0, 7), span(1, 8, 15), span(1, 18, 29)], check: { line: 1, col: 29 }, kind: 'alnum' },
    ];
  }
  const width = LENGTH[format][1];
  const fields: CheckedField[] = [
    { name: 'documentNumber', spans: [span(1, 0, 9)], check: { line: 1, col: 9 }, kind: 'alnum' },
    { name: 'birthDate', spans: [span(1, 13, 19)], check: { line: 1, col: 19 }, kind: 'num', date: true },
    { name: 'expirationDate', spans: [span(1, 21, 27)], check: { line: 1, col: 27 }, kind: 'num', date: true },
  ];
  if (format === 'TD3') {
    fields.push({ name: 'personalNumber', spans: [span(1, 28, 42)], check: { line: 1, col: 42 }, kind: 'alnum', optional: true });
  }
  if (format === 'TD2' || format === 'TD3') {
    fields.push({ name: 'composite', spans: [span(1, 0, 10), span(1, 13, 20), span(1, 21, width - 1)], check: { line: 1, col: width - 1 }, kind: 'alnum' });
  }
  return fields;
}

/** The ICAO 9303 check digit (weights 7, 3, 1; A=10 .. Z=35; filler 0). Undefined for a character outside the MRZ alphabet. */
export function checkDigit(text: string): string | undefined {
  const weights = [7, 3, 1];
  let sum = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    let v: number;
    if (c >= 48 && c <= 57) v = c - 48;
    else if (c >= 65 && c <= 90) v = c - 55;
    else if (c === 60) v = 0;
    else return undefined;
    sum += v * weights[i % 3];
  }
  return String(sum % 10);
}

const realDate = (yymmdd: string): boolean => {
  if (!/^\d{6}$/.test(yymmdd)) return false;
  const m = Number(yymmdd.slice(2, 4));
  const d = Number(yymmdd.slice(4, 6));
  return m >= 1 && m <= 12 && d >= 1 && d <= 31;
};

const textOf = (lines: readonly string[], spans: readonly Span[]): string => spans.map((s) => lines[s.line].slice(s.start, s.end)).join('');

function holds(lines: readonly string[], f: CheckedField): boolean {
  const value = textOf(lines, f.spans);
  const check = lines[f.check.line][f.check.col];
  if (f.date && !realDate(value)) return false;
  if (f.optional && check === '<' && /^<*$/.test(value)) return true;
  return checkDigit(value) === check;
}

/** The format implied by the lines' count and length (and a leading V for visas), or undefined. */
export function formatOf(lines: readonly string[]): MrzOcrFormat | undefined {
  const visa = lines[0]?.startsWith('V');
  if (lines.length === 3 && lines.every((l) => l.length === 30)) return 'TD1';
  if (lines.length !== 2 || lines[0].length !== lines[1].length) return undefined;
  if (lines[0].length === 36) return visa ? 'MRVB' : 'TD2';
  if (lines[0].length === 44) return visa ? 'MRVA' : 'TD3';
  return undefined;
}

/** Each check of the lines' format and whether it holds. */
export function checkResults(lines: readonly string[]): { format: MrzOcrFormat; checks: Record<string, boolean> } | undefined {
  const format = formatOf(lines);
  if (!format) return undefined;
  return { format, checks: Object.fromEntries(layout(format).map((f) => [f.name, holds(lines, f)])) };
}

/**
 * Whether the fields no check digit covers hold what they must: letters (or fillers) in the issuing
 * state and nationality, M/F/X/< for sex. Used to choose between readings, never to change characters.
 */
export function plausibleLayout(lines: readonly string[]): boolean {
  const letters = (t: string) => /^[A-Z<]+$/.test(t);
  if (lines.length === 3) return letters(lines[0].slice(2, 5)) && letters(lines[1].slice(15, 18)) && 'MFX<'.includes(lines[1][7]);
  return letters(lines[0].slice(2, 5)) && letters(lines[1].slice(10, 13)) && 'MFX<'.includes(lines[1][20]);
}

/** Confusions the OCR makes between letters and digits (both directions). */
const CONFUSED: Record<string, string> = { O: '0', '0': 'O', I: '1', '1': 'I', B: '8', '8': 'B', S: '5', '5': 'S', Z: '2', '2': 'Z' };

const allowed = (kind: Kind, c: string): boolean =>
  kind === 'num' ? c >= '0' && c <= '9' : kind === 'alpha' ? c === '<' || (c >= 'A' && c <= 'Z') : /^[0-9A-Z<]$/.test(c);

/** Where a repair changed a character (line and column only: never the characters themselves). */
export interface Repair {
  field: CheckName;
  line: number;
  col: number;
}

/** At most this many positions are varied for one field: 2^8 candidates. */
const MAX_VARIED = 8;

/**
 * Tries confusion swaps on a failing field (and its check digit) and keeps a repair only when exactly
 * one smallest set of swaps makes the check hold; a field whose characters are not allowed at their
 * position must change them. Returns the repaired lines and positions, or undefined.
 */
function repairField(lines: readonly string[], f: CheckedField): { lines: string[]; repairs: Repair[] } | undefined {
  const positions: { line: number; col: number; options: string[] }[] = [];
  const cells = [...f.spans.flatMap((s) => Array.from({ length: s.end - s.start }, (_, i) => ({ line: s.line, col: s.start + i }))), f.check];
  for (const cell of cells) {
    const c = lines[cell.line][cell.col];
    const isCheck = cell === f.check;
    const kind: Kind = isCheck ? 'num' : f.kind;
    const ok = allowed(kind, c) || (isCheck && c === '<' && f.optional === true);
    const alt = CONFUSED[c];
    const options = [ok ? c : undefined, alt !== undefined && allowed(kind, alt) ? alt : undefined].filter((x): x is string => x !== undefined);
    if (options.length === 0) return undefined;
    if (options.length > 1 || options[0] !== c) positions.push({ ...cell, options });
  }
  if (positions.length > MAX_VARIED) return undefined;
  let best: { changed: number; lines: string[]; repairs: Repair[] }[] = [];
  const total = 1 << positions.length;
  for (let mask = 0; mask < total; mask++) {
    const work = lines.map((l) => l.split(''));
    const repairs: Repair[] = [];
    let valid = true;
    for (const [i, p] of positions.entries()) {
      const pick = p.options.length === 1 ? p.options[0] : p.options[(mask >> i) & 1];
      if (p.options.length === 1 && (mask >> i) & 1) valid = false;
      if (pick !== work[p.line][p.col]) repairs.push({ field: f.name, line: p.line, col: p.col });
      work[p.line][p.col] = pick;
    }
    if (!valid) continue;
    const candidate = work.map((l) => l.join(''));
    if (!holds(candidate, f)) continue;
    if (best.length === 0 || repairs.length < best[0].changed) best = [{ changed: repairs.length, lines: candidate, repairs }];
    else if (repairs.length === best[0].changed) best.push({ changed: repairs.length, lines: candidate, repairs });
  }
  // Two different repairs of the same size would be a guess: refuse rather than pick one.
  return best.length === 1 ? { lines: best[0].lines, repairs: best[0].repairs } : undefined;
}

/** Lines after repair: which checks hold, which failed, and where characters were changed. */
export interface CheckedMrz {
  format: MrzOcrFormat;
  lines: string[];
  /** Check names whose check digit does not hold even after repair. */
  failed: CheckName[];
  repairs: Repair[];
  /** Checks in this format (for counting "every check digit valid"). */
  checks: CheckName[];
}

/** Checks the lines and repairs what the check digits confirm: fields first, then the composite over the result. */
export function checkAndRepair(input: readonly string[]): CheckedMrz | undefined {
  const format = formatOf(input);
  if (!format) return undefined;
  let lines = [...input];
  const repairs: Repair[] = [];
  const failed: CheckName[] = [];
  const fields = layout(format);
  for (const f of fields) {
    if (holds(lines, f)) continue;
    // The composite covers fields already settled above: only its own digit may be a confused character.
    const fixed = f.name === 'composite' ? repairCheckOnly(lines, f) : repairField(lines, f);
    if (fixed) {
      lines = fixed.lines;
      repairs.push(...fixed.repairs);
    } else failed.push(f.name);
  }
  return { format, lines, failed, repairs, checks: fields.map((f) => f.name) };
}

/** Repairs a check digit read as a confused letter, when the check then holds. */
function repairCheckOnly(lines: readonly string[], f: CheckedField): { lines: string[]; repairs: Repair[] } | undefined {
  const c = lines[f.check.line][f.check.col];
  const alt = CONFUSED[c];
  if (alt === undefined || !allowed('num', alt)) return undefined;
  const work = lines.map((l, i) => (i === f.check.line ? l.slice(0, f.check.col) + alt + l.slice(f.check.col + 1) : l));
  return holds(work, f) ? { lines: work, repairs: [{ field: f.name, line: f.check.line, col: f.check.col }] } : undefined;
}

/** The MRZ alphabet; everything else in OCR output is dropped (spaces between characters, stray marks). */
const NOT_MRZ = /[^A-Z0-9<]/g;

/**
 * Candidate line groups in OCR text: runs of 2 or 3 consecutive cleaned lines whose lengths fit a
 * format, each line in its plausible readings (see lineVariants), the unchanged reading first.
 * Which reading is right is left to the check digits (checkAndRepair).
 */
export function candidateLines(ocrText: string): { lines: string[]; dropped: boolean }[] {
  const lines = ocrText
    .toUpperCase()
    .split('\n')
    .map((l) => l.replace(NOT_MRZ, ''))
    .filter((l) => l.length >= 20);
  const out: { lines: string[]; dropped: boolean }[] = [];
  for (const [count, width] of [
    [2, 44],
    [2, 36],
    [3, 30],
  ] as const) {
    for (let i = 0; i + count <= lines.length; i++) {
      const variants = lines.slice(i, i + count).map((l, j) => lineVariants(j === nameLine(count) ? fillerTail(l) : l, width, j === nameLine(count)));
      if (variants.some((v) => v.length === 0)) continue;
      let groups: string[][] = [[]];
      for (const v of variants) groups = groups.flatMap((g) => v.map((line) => [...g, line]));
      out.push(...groups.map((g) => ({ lines: g, dropped: false })));
      // One character too many on a data line (the OCR saw a mark as a character): each single deletion,
      // to be kept only when every check digit then holds (see bestIn in mrz-ocr.ts).
      for (const [j, raw] of lines.slice(i, i + count).entries()) {
        if (j === nameLine(count) || raw.length !== width + 1 || groups.length === 0) continue;
        const drops = new Set(Array.from({ length: raw.length }, (_, k) => raw.slice(0, k) + raw.slice(k + 1)));
        for (const d of drops) out.push({ lines: groups[0].map((l, jj) => (jj === j ? d : l)), dropped: true });
      }
    }
  }
  return out;
}

/** How far a line's length may be off when a run of fillers can absorb the difference. */
const RUN_SLACK = 6;
/** How far a line's length may be off otherwise (padded or cut at the end). */
const END_SLACK = 2;

/**
 * The readings of one OCR line at `width`: the LSTM model collapses or repeats fillers in a run, and
 * reads a filler as K between fillers. So: padded or cut at the end; or its longest filler run grown
 * or shrunk to the width; and, outside the name line, each of those with K between fillers read as `<`.
 */
export function lineVariants(line: string, width: number, isName = false): string[] {
  const delta = width - line.length;
  const out: string[] = [];
  // The name line has no check digit and its filler run is where the OCR errs most: cut or pad it further.
  if (Math.abs(delta) <= (isName ? NAME_SLACK : END_SLACK)) out.push(delta >= 0 ? line + '<'.repeat(delta) : line.slice(0, width));
  if (delta !== 0 && Math.abs(delta) <= (isName ? NAME_SLACK : RUN_SLACK)) {
    let best: { start: number; len: number } | undefined;
    for (const m of line.matchAll(/<+/g)) if (!best || m[0].length >= best.len) best = { start: m.index ?? 0, len: m[0].length };
    if (best && best.len + delta >= 1) out.push(line.slice(0, best.start) + '<'.repeat(best.len + delta) + line.slice(best.start + best.len));
  }
  if (!isName)
    for (const v of [...out]) {
      const k = v.replace(/(?<=<)K+(?=<|$)/g, (m) => '<'.repeat(m.length));
      if (k !== v) out.push(k);
    }
  return [...new Set(out)].filter((v) => v.length === width);
}

/** How far the name line's length may be off (fillers read twice, or as K). */
const NAME_SLACK = 8;

/** The line holding the holder's name: the last of TD1, the first of the two-line formats. */
const nameLine = (count: number): number => (count === 3 ? 2 : 0);

/**
 * The tesseract English model reads the filler `<` as `K` now and then. In the trailing run of fillers
 * after the name (a run of six or more that starts with `<` and holds at least three fillers) a K cannot be a
 * letter of the name, so it is read as a filler. This is the one change not confirmed by a check digit
 * (names carry none); it never touches a K that follows a letter, but would turn a one-letter given
 * name K at the very end into a filler.
 */
export function fillerTail(line: string): string {
  const run = /<[<K]*$/.exec(line)?.[0] ?? '';
  if (run.length < 6 || (run.match(/</g)?.length ?? 0) < 3) return line;
  return line.slice(0, line.length - run.length) + '<'.repeat(run.length);
}
