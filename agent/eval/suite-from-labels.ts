/**
 * A suite of verification sessions derived from the data's own label files (`videos.tsv`, and when
 * given `photo-video-identity.tsv` and `replay-of.tsv`), so that `eval sessions` runs on recordings
 * nobody wrote a suite for. Pure: rows in, cases out. The rules, per recording:
 *
 * - **plan**: the labelled head moves in order (image directions mapped to the subject's, as
 *   `eval video` does), moves that start before the first labelled frontal range dropped (the
 *   session asks for nothing before the face is settled), repeats in a row merged, at most
 *   `MAX_STEPS` (a kiosk never asks for more). Without a labelled move: one blink step per labelled
 *   blink, at most two. A plan of one step or without a head move runs with `allowWeakPlans=true`.
 * - **reference**: the person's photo from `photo-video-identity.tsv` (same_identity 1); otherwise a
 *   frame of the recording itself, the middle of its longest frontal range (the later on a tie), or
 *   without one the middle of the longest stretch with no labelled event.
 * - **bona fide with a plan**: `genuine` (expected accept); `impostor` (the same recording against
 *   the reference of the next person in the file who has a photo, else of the next person;
 *   expected reject, `no_match`); `wrong-order`
 *   (the first two moves swapped; reject, `challenge_wrong_action`); `still` (the recording's
 *   reference frame held still for 10 s; not accepted, `reject|retry`: a frame with the eyes shut
 *   is rightly kept at the gate). Each identity row with same_identity 0 is one more impostor case.
 *   An impostor or wrong-order case that never gets past the gate does not pass: what it is there
 *   to test (the match, the order) was never reached.
 * - **bona fide without a labelled action** (no move, no labelled blink): `no-action`, a
 *   non-compliant session asked to turn left then right; not accepted.
 * - **attack**: the live person's reference and plan when `replay-of.tsv` names the recording it
 *   re-films (its own labelled moves first, when it has any), else its own; not accepted, for any
 *   reason.
 *
 * People are told apart by their photo when they have one, else by their recording; an attack is
 * the person it re-films. Two recordings of one person without a photo are two people here, so
 * such data needs `photo-video-identity.tsv` for its impostor cases to be right.
 */
import { KioskError } from '../../base/errors.js';
import { MAX_STEPS, type StepKind } from '../../protocol/plan.js';
import type { CaseClass, SuiteCase } from '../session/suite.js';
import type { ReasonCode } from '../session/types.js';
import { labelKindToEventKind } from './event-match.js';
import type { IdentityRow, LabelledRange, ReplayOfRow, VideoRow } from './labels.js';

export interface LabelSuiteInput {
  videos: readonly VideoRow[];
  identity?: readonly IdentityRow[];
  replayOf?: readonly ReplayOfRow[];
}

/** The steps the labels show, and whether the session must be told to accept a weak plan. */
export interface LabelledPlan {
  steps: StepKind[];
  weak: boolean;
}

/** Blink steps asked of a recording with labelled blinks and no labelled move. */
const MAX_BLINK_STEPS = 2;
/** What a recording with no labelled action is asked to do. */
const NO_ACTION_PLAN: readonly StepKind[] = ['turn_left', 'turn_right'];

/** The plan a recording's labels show (see the module doc), or null when no action is labelled. */
export function labelledPlan(row: Pick<VideoRow, 'events' | 'blinksLabelled'>): LabelledPlan | null {
  const sorted = [...row.events].sort((a, b) => a.first - b.first);
  const settled = sorted.find((e) => e.kind === 'frontal')?.first ?? 0;
  const moves: StepKind[] = [];
  for (const e of sorted) {
    const kind = labelKindToEventKind(e.kind);
    if (kind === null || kind === 'eyes_closed' || e.first < settled) continue;
    if (moves.at(-1) !== kind) moves.push(kind);
  }
  if (moves.length > 0) {
    const steps = moves.slice(0, MAX_STEPS);
    return { steps, weak: steps.length < 2 };
  }
  const blinks = row.blinksLabelled ? sorted.filter((e) => e.kind === 'blink').length : 0;
  if (blinks === 0) return null;
  return { steps: Array<StepKind>(Math.min(blinks, MAX_BLINK_STEPS)).fill('blink'), weak: true };
}

/** The frame of a recording that stands for its face (see the module doc); 0-based. */
export function referenceFrame(row: Pick<VideoRow, 'events' | 'frames'>): number {
  const frontal = row.events.filter((e) => e.kind === 'frontal' && e.first < row.frames);
  if (frontal.length > 0) {
    let best = frontal[0];
    for (const r of frontal) if (span(r, row.frames) >= span(best, row.frames)) best = r;
    return midpoint(best.first, Math.min(best.last, row.frames - 1));
  }
  // the longest stretch between labelled events (before the first, between two, after the last)
  const busy = [...row.events].sort((a, b) => a.first - b.first);
  let start = 0;
  let best = { first: 0, last: row.frames - 1, length: busy.length === 0 ? row.frames : -1 };
  for (const e of [...busy, { first: row.frames, last: row.frames }]) {
    const length = e.first - start;
    if (length > best.length) best = { first: start, last: e.first - 1, length };
    start = Math.max(start, e.last + 1);
  }
  return best.length > 0 ? midpoint(best.first, best.last) : Math.floor(row.frames / 2);
}

function span(r: LabelledRange, frames: number): number {
  return Math.min(r.last, frames - 1) - r.first;
}

function midpoint(first: number, last: number): number {
  return Math.floor((first + last) / 2);
}

/** A short, readable, unique case name from a recording's path. */
function nameMaker(): (prefix: string, path: string) => string {
  const used = new Set<string>();
  return (prefix, path) => {
    const parts = path.replace(/\.[A-Za-z0-9]+$/, '').split('/');
    const full = parts
      .slice(-2)
      .join('-')
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '');
    // a long name keeps its end, cut at a word
    const stem = full.length <= 40 ? full : full.slice(-40).replace(/^[^-]*-/, '');
    let name = `${prefix}-${stem}`;
    for (let n = 2; used.has(name); n++) name = `${prefix}-${stem}-${n}`;
    used.add(name);
    return name;
  };
}

function invalid(message: string, subject: string, line: number): KioskError {
  return new KioskError('E_LABELS_INVALID', `${subject}:${line}: ${message}`, { subject, details: { line } });
}

/** The suite the label files describe (see the module doc); throws E_LABELS_INVALID when they disagree. */
export function suiteFromLabels(input: LabelSuiteInput, files: { identity?: string; replayOf?: string } = {}): SuiteCase[] {
  const byVideo = new Map(input.videos.map((v) => [v.video, v]));
  const photoOf = new Map<string, string>();
  for (const r of input.identity ?? []) {
    const v = byVideo.get(r.video);
    if (!v) throw invalid(`video ${r.video} is not in the videos label file`, files.identity ?? 'identity', r.line);
    if (r.same && v.bonaFide && !photoOf.has(r.video)) photoOf.set(r.video, r.photo);
  }
  const sourceOf = new Map<string, VideoRow>();
  for (const r of input.replayOf ?? []) {
    const attack = byVideo.get(r.attackVideo);
    const source = byVideo.get(r.sourceVideo);
    const file = files.replayOf ?? 'replay-of';
    if (!attack || attack.bonaFide) throw invalid(`attack_video ${r.attackVideo} is not an attack in the videos label file`, file, r.line);
    if (!source?.bonaFide) throw invalid(`source_live_video ${r.sourceVideo} is not bona fide in the videos label file`, file, r.line);
    sourceOf.set(r.attackVideo, source);
  }

  const referenceOf = (v: VideoRow) => photoOf.get(v.video) ?? `${v.video}#frame=${referenceFrame(v)}`;
  const personOf = (v: VideoRow) => photoOf.get(v.video) ?? v.video;
  const name = nameMaker();
  const cases: SuiteCase[] = [];
  const add = (
    prefix: string,
    cls: CaseClass,
    v: VideoRow,
    id: string,
    video: string,
    plan: LabelledPlan,
    expected: SuiteCase['expected'],
    reason: ReasonCode | null,
    note: string,
  ) =>
    cases.push({
      name: name(prefix, v.video),
      kind: 'session',
      class: cls,
      id,
      video,
      challenge: plan.steps.join(','),
      expected,
      expectedReason: reason,
      config: plan.weak ? { allowWeakPlans: true } : {},
      note,
    });

  // Other people's references for the impostor cases: the next person with a photo, else the next one.
  const people: { person: string; reference: string; photo: boolean }[] = [];
  for (const v of input.videos.filter((x) => x.bonaFide)) {
    if (!people.some((p) => p.person === personOf(v))) people.push({ person: personOf(v), reference: referenceOf(v), photo: photoOf.has(v.video) });
  }
  const otherPerson = (v: VideoRow) => {
    const at = people.findIndex((p) => p.person === personOf(v));
    const others = people.slice(at + 1).concat(people.slice(0, at));
    return others.find((p) => p.photo) ?? others[0] ?? null;
  };

  for (const v of input.videos) {
    if (!v.bonaFide) {
      const source = sourceOf.get(v.video);
      const plan = labelledPlan(v) ?? (source && labelledPlan(source)) ?? { steps: [...NO_ACTION_PLAN], weak: false };
      const ref = referenceOf(source ?? v);
      const of = source ? `a re-filming of ${source.video}` : 'no live source named';
      add(v.species, `attack:${v.species}`, v, ref, v.video, plan, 'reject|retry', null, `${of}; reference ${ref}`);
      continue;
    }
    const ref = referenceOf(v);
    const plan = labelledPlan(v);
    if (!plan) {
      const noAction = { steps: [...NO_ACTION_PLAN], weak: false };
      add('no-action', 'non_compliant', v, ref, v.video, noAction, 'reject|retry', null, 'no move or blink labelled; asked to turn left then right');
      continue;
    }
    const refNote = photoOf.has(v.video) ? 'reference: their photo' : `reference: frame ${referenceFrame(v)} of the recording`;
    add('genuine', 'bona_fide', v, ref, v.video, plan, 'accept', null, `the labelled moves in order; ${refNote}`);
    const other = otherPerson(v);
    if (other) add('impostor', 'impostor', v, other.reference, v.video, plan, 'reject', 'no_match', `against ${other.reference}`);
    if (plan.steps.length >= 2 && plan.steps[0] !== plan.steps[1]) {
      const swapped = { ...plan, steps: [plan.steps[1], plan.steps[0], ...plan.steps.slice(2)] };
      add('wrong-order', 'attack:wrong_order', v, ref, v.video, swapped, 'reject', 'challenge_wrong_action', 'the first two labelled moves swapped');
    }
    const still = `${v.video}#frame=${referenceFrame(v)}`;
    add('still', 'attack:still', v, ref, still, plan, 'reject|retry', null, `frame ${referenceFrame(v)} held still`);
  }
  for (const r of input.identity ?? []) {
    const v = byVideo.get(r.video)!;
    const plan = labelledPlan(v);
    if (r.same || !v.bonaFide || !plan) continue;
    add('impostor', 'impostor', v, r.photo, v.video, plan, 'reject', 'no_match', `against ${r.photo} (same_identity 0)`);
  }
  if (cases.length === 0) throw new KioskError('E_LABELS_INVALID', 'the label files describe no session', { subject: 'videos' });
  return cases;
}

/** The suite as a suite file (`readSuite` reads it back to the same cases). */
export function suiteToTsv(cases: readonly SuiteCase[]): string {
  const clean = (s: string) => s.replace(/[\t\r\n]+/g, ' ');
  const config = (c: SuiteCase) =>
    Object.keys(c.config).length === 0
      ? '-'
      : Object.entries(c.config)
          .map(([k, val]) => `${k}=${String(val)}`)
          .join(';');
  const lines = cases.map((c) =>
    [c.name, c.kind, c.class, c.id, c.video, c.challenge, c.expected, c.expectedReason ?? '-', config(c), clean(c.note)].join('\t'),
  );
  return `${['case', 'kind', 'class', 'id', 'video', 'challenge', 'expected', 'expected_reason', 'config', 'note'].join('\t')}\n${lines.join('\n')}\n`;
}
