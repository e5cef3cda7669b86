/**
 * Parsers for the evaluation label files in `../shared/data/labels/` (see that folder's README).
 * Tab-separated, a fixed header line, paths relative to the data root. Any malformed line is an
 * `E_LABELS_INVALID` error naming the file and the line: an evaluation on half-read labels would
 * report numbers about a different set than the one named.
 */
import { readFile } from 'node:fs/promises';
import { KioskError } from '../../base/errors.js';

export interface VerifyPair {
  imageA: string;
  imageB: string;
  /** True for a mated pair (same person). */
  same: boolean;
  source: string;
  /** 1-based line in the label file. */
  line: number;
}

export interface SpoofRow {
  image: string;
  bonaFide: boolean;
  /** "real" for bona fide; the attack species (e.g. "print", "replay") otherwise. */
  species: string;
  line: number;
}

/** Event kinds as written in videos.tsv. `yaw_image_*` are directions in the IMAGE, not the subject's. */
export const LABEL_KINDS = ['blink', 'eyes_closed', 'frontal', 'yaw_image_left', 'yaw_image_right', 'pitch_up', 'pitch_down'] as const;
export type LabelKind = (typeof LABEL_KINDS)[number];

/** A labelled frame range, inclusive at both ends, 0-based frame indices. */
export interface LabelledRange {
  kind: LabelKind;
  first: number;
  last: number;
}

export interface VideoRow {
  video: string;
  bonaFide: boolean;
  /** The attack species after `attack:`; "real" for bona fide. */
  species: string;
  fps: number;
  frames: number;
  events: LabelledRange[];
  labelQuality: string;
  /** The `+-N frames` stated in label_quality, when stated. */
  toleranceFrames?: number;
  /** False when label_quality says blinks were not labelled: blinks are then unknown, not absent. */
  blinksLabelled: boolean;
  line: number;
}

const SPECIES_RE = /^[a-z][a-z0-9_]*$/;

function invalid(file: string, line: number, message: string): KioskError {
  return new KioskError('E_LABELS_INVALID', `${file}:${line}: ${message}`, { subject: file, details: { line } });
}

/** Splits a TSV text into rows after checking the header; blank lines are skipped. */
function rowsOf(text: string, file: string, header: readonly string[]): { cells: string[]; line: number }[] {
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  if (lines[0] !== header.join('\t')) {
    throw invalid(file, 1, `header must be "${header.join('<TAB>')}", found "${lines[0] ?? ''}"`);
  }
  const out: { cells: string[]; line: number }[] = [];
  for (let i = 1; i < lines.length; i++) {
    if (lines[i].trim() === '') continue;
    const cells = lines[i].split('\t');
    if (cells.length !== header.length) throw invalid(file, i + 1, `expected ${header.length} tab-separated columns, found ${cells.length}`);
    header.forEach((name, c) => {
      // the free-text last columns (videos.tsv's label_quality, the pairing files' label_source) may be empty
      if (cells[c] === '' && name !== 'label_quality' && name !== 'label_source') throw invalid(file, i + 1, `column ${name} is empty`);
    });
    out.push({ cells, line: i + 1 });
  }
  return out;
}

function relativePath(value: string, file: string, line: number, column: string): string {
  if (value.startsWith('/') || value.split('/').includes('..')) {
    throw invalid(file, line, `${column} must be a path relative to the data root without "..": ${value}`);
  }
  return value;
}

/** Parses `verify-pairs.tsv`: image_a, image_b, same (1/0), source. */
export function parseVerifyPairs(text: string, file: string): VerifyPair[] {
  return rowsOf(text, file, ['image_a', 'image_b', 'same', 'source']).map(({ cells, line }) => {
    const [a, b, same, source] = cells;
    if (same !== '0' && same !== '1') throw invalid(file, line, `same must be 1 or 0, found "${same}"`);
    return {
      imageA: relativePath(a, file, line, 'image_a'),
      imageB: relativePath(b, file, line, 'image_b'),
      same: same === '1',
      source,
      line,
    };
  });
}

/** Parses `spoof.tsv`: image, class (bona_fide/attack), species (real for bona fide, else the attack species). */
export function parseSpoofLabels(text: string, file: string): SpoofRow[] {
  return rowsOf(text, file, ['image', 'class', 'species']).map(({ cells, line }) => {
    const [image, cls, species] = cells;
    const { bonaFide } = parseClass(cls, species, file, line);
    return { image: relativePath(image, file, line, 'image'), bonaFide, species, line };
  });
}

function parseClass(cls: string, species: string, file: string, line: number): { bonaFide: boolean } {
  if (cls !== 'bona_fide' && cls !== 'attack') throw invalid(file, line, `class must be bona_fide or attack, found "${cls}"`);
  if (!SPECIES_RE.test(species)) throw invalid(file, line, `species must be a lower-case identifier, found "${species}"`);
  if ((cls === 'bona_fide') !== (species === 'real')) {
    throw invalid(file, line, `class ${cls} does not go with species ${species} (bona_fide is exactly species real)`);
  }
  return { bonaFide: cls === 'bona_fide' };
}

/** Parses one `kind@first-last;...` events cell; `-` is no labelled event. */
export function parseEvents(cell: string, file: string, line: number): LabelledRange[] {
  if (cell.trim() === '-') return [];
  return cell
    .split(';')
    .filter((s) => s.trim() !== '')
    .map((item) => {
      const m = /^([a-z_]+)@(\d+)-(\d+)$/.exec(item.trim());
      if (!m) throw invalid(file, line, `event must be kind@first-last, found "${item}"`);
      const kind = m[1] as LabelKind;
      if (!LABEL_KINDS.includes(kind)) throw invalid(file, line, `unknown event kind "${m[1]}" (known: ${LABEL_KINDS.join(', ')})`);
      const first = Number(m[2]);
      const last = Number(m[3]);
      if (last < first) throw invalid(file, line, `event range ends before it starts: ${item}`);
      return { kind, first, last };
    });
}

/** Parses `videos.tsv`: video, class (bona_fide or attack:<species>), fps, frames, events, label_quality. */
export function parseVideoLabels(text: string, file: string): VideoRow[] {
  return rowsOf(text, file, ['video', 'class', 'fps', 'frames', 'events', 'label_quality']).map(({ cells, line }) => {
    const [video, clsCell, fpsCell, framesCell, eventsCell, labelQuality] = cells;
    const [cls, attackSpecies] = clsCell.split(':');
    const species = cls === 'bona_fide' && attackSpecies === undefined ? 'real' : (attackSpecies ?? '');
    const { bonaFide } = parseClass(cls, species, file, line);
    const fps = Number(fpsCell);
    if (!Number.isFinite(fps) || fps <= 0) throw invalid(file, line, `fps must be a positive number, found "${fpsCell}"`);
    const frames = Number(framesCell);
    if (!Number.isInteger(frames) || frames <= 0) throw invalid(file, line, `frames must be a positive integer, found "${framesCell}"`);
    const tol = /(?:\+-|±)\s*(\d+)\s*frames?/.exec(labelQuality);
    return {
      video: relativePath(video, file, line, 'video'),
      bonaFide,
      species,
      fps,
      frames,
      events: parseEvents(eventsCell, file, line),
      labelQuality,
      ...(tol ? { toleranceFrames: Number(tol[1]) } : {}),
      blinksLabelled: !/blinks?\s+(?:are\s+)?not\s+labell?ed/i.test(labelQuality),
      line,
    };
  });
}

/** A row of `photo-video-identity.tsv`: a photo and a live video, of the same person (`same`) or not. */
export interface IdentityRow {
  photo: string;
  video: string;
  same: boolean;
  line: number;
}

/** A row of `replay-of.tsv`: the live recording an attack recording re-films. */
export interface ReplayOfRow {
  attackVideo: string;
  sourceVideo: string;
  line: number;
}

/** Parses `photo-video-identity.tsv`: photo, video, same_identity (1/0), label_source. */
export function parseIdentityLabels(text: string, file: string): IdentityRow[] {
  return rowsOf(text, file, ['photo', 'video', 'same_identity', 'label_source']).map(({ cells, line }) => {
    const [photo, video, same] = cells;
    if (same !== '0' && same !== '1') throw invalid(file, line, `same_identity must be 1 or 0, found "${same}"`);
    return { photo: relativePath(photo, file, line, 'photo'), video: relativePath(video, file, line, 'video'), same: same === '1', line };
  });
}

/** Parses `replay-of.tsv`: attack_video, source_live_video, label_source. */
export function parseReplayOf(text: string, file: string): ReplayOfRow[] {
  return rowsOf(text, file, ['attack_video', 'source_live_video', 'label_source']).map(({ cells, line }) => {
    const [attack, source] = cells;
    return {
      attackVideo: relativePath(attack, file, line, 'attack_video'),
      sourceVideo: relativePath(source, file, line, 'source_live_video'),
      line,
    };
  });
}

/** Reads and parses a label file; a missing or unreadable file is an error naming it. */
export async function readLabelFile<T>(path: string, parse: (text: string, file: string) => T[]): Promise<T[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'E_INPUT_NOT_FOUND' : 'E_INPUT_UNREADABLE';
    throw new KioskError(code, 'cannot read label file', { subject: path, cause: err });
  }
  return parse(text, path);
}

/**
 * The subject (person) an image shows, for subject-disjoint splits. NUAA keeps one folder per
 * subject under ClientFace/ and ImposterFace/, and the same folder name is the same person in
 * both (`ClientFace/0001/…` and `ImposterFace/0001/…` → `<set>/0001`). Any other set is treated
 * as ONE subject named after its top folder (silentface's three images show one person), which
 * keeps a set whole on one side of a split rather than guessing identities.
 */
export function subjectOf(path: string): string {
  const parts = path.split('/');
  const i = parts.findIndex((p) => p === 'ClientFace' || p === 'ImposterFace');
  if (i >= 0 && i + 2 < parts.length) return `${parts[0]}/${parts[i + 1]}`;
  return parts[0];
}

export interface SubjectSplit<T> {
  a: T[];
  b: T[];
  subjectsA: string[];
  subjectsB: string[];
}

/**
 * Splits rows into two subject-disjoint halves, deterministically. Subjects are sorted; with no
 * seed, even positions go to `a` and odd ones to `b`; with a seed, the sorted list is shuffled by
 * a seeded PRNG first and cut in the middle. Row order within each half is kept.
 */
export function splitBySubject<T>(rows: readonly T[], subject: (row: T) => string, seed?: number): SubjectSplit<T> {
  const subjects = [...new Set(rows.map(subject))].sort();
  let inA: Set<string>;
  if (seed === undefined) {
    inA = new Set(subjects.filter((_, i) => i % 2 === 0));
  } else {
    const rnd = mulberry32(seed);
    const shuffled = [...subjects];
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
    }
    inA = new Set(shuffled.slice(0, Math.ceil(shuffled.length / 2)));
  }
  return {
    a: rows.filter((r) => inA.has(subject(r))),
    b: rows.filter((r) => !inA.has(subject(r))),
    subjectsA: subjects.filter((s) => inA.has(s)),
    subjectsB: subjects.filter((s) => !inA.has(s)),
  };
}

/** Small deterministic PRNG (mulberry32) so that a seeded split is the same on every machine. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
