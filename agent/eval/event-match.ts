/**
 * Scoring detected events against labelled frame ranges (videos.tsv). Pure.
 */
import type { MoveKind } from '../session/types.js';
import type { LabelKind, LabelledRange } from './labels.js';

/** Event kinds in the SUBJECT's frame of reference (never the image's). */
export type EventKind = 'eyes_closed' | MoveKind;
export type EventCategory = 'eyes' | 'head';

/** An event the detector found: first and last frame index, inclusive. */
export interface DetectedEvent {
  kind: EventKind;
  first: number;
  last: number;
  /** Head: largest extent in its direction, degrees from the anchor. Eyes: how long they stayed closed, ms. */
  peak: number;
}

/** Category of an event kind: eye closures and head movements are scored separately. */
export function categoryOf(kind: EventKind): EventCategory {
  return kind === 'eyes_closed' ? 'eyes' : 'head';
}

export interface CameraGeometry {
  /** True when the frames are mirrored (a selfie preview); the labelled videos are not. */
  mirrored?: boolean;
}

/**
 * The one place label kinds become subject-centred event kinds.
 * - `blink` and `eyes_closed` are both an eye closure (`eyes_closed`);
 * - `yaw_image_right` means the face turned toward the IMAGE's right; in an unmirrored camera
 *   the subject's own left is the image's right, so that is the subject's `turn_left`
 *   (and `yaw_image_left` is `turn_right`); a mirrored camera swaps them;
 * - `pitch_up`/`pitch_down` are `look_up`/`look_down` either way;
 * - `frontal` is the absence of an event: null.
 */
export function labelKindToEventKind(kind: LabelKind, camera: CameraGeometry = {}): EventKind | null {
  switch (kind) {
    case 'blink':
    case 'eyes_closed':
      return 'eyes_closed';
    case 'yaw_image_right':
      return camera.mirrored ? 'turn_right' : 'turn_left';
    case 'yaw_image_left':
      return camera.mirrored ? 'turn_left' : 'turn_right';
    case 'pitch_up':
      return 'look_up';
    case 'pitch_down':
      return 'look_down';
    case 'frontal':
      return null;
  }
}

/** A labelled event after mapping its kind; `label` keeps the kind as written in the file. */
export interface ExpectedEvent {
  kind: EventKind;
  first: number;
  last: number;
  label: LabelKind;
}

/** Labelled ranges → expected events (frontal ranges dropped). */
export function expectedEvents(ranges: readonly LabelledRange[], camera: CameraGeometry = {}): ExpectedEvent[] {
  const out: ExpectedEvent[] = [];
  for (const r of ranges) {
    const kind = labelKindToEventKind(r.kind, camera);
    if (kind) out.push({ kind, first: r.first, last: r.last, label: r.kind });
  }
  return out;
}

export interface EventScore {
  labelled: number;
  detected: number;
  /** Labelled events with a detected event of the same kind overlapping them (one-to-one). */
  matched: number;
  /** Labelled events without such a detection. */
  missed: number;
  /** Detected events that are neither matched nor wrong-direction. */
  false: number;
  /**
   * Unmatched detected head movements overlapping a labelled head movement of another kind
   * (e.g. turn_right while turn_left was labelled). The labelled one then also counts as missed.
   */
  wrongDirection: number;
  pairs: { expected: ExpectedEvent; detected: DetectedEvent }[];
  missedEvents: ExpectedEvent[];
  falseEvents: DetectedEvent[];
  wrongDirectionEvents: DetectedEvent[];
}

function overlaps(a: { first: number; last: number }, b: { first: number; last: number }, tol: number): number {
  // > 0 when the ranges overlap once `b` is widened by `tol` frames each side: the overlap length + 1
  return Math.min(a.last, b.last + tol) - Math.max(a.first, b.first - tol) + 1;
}

/**
 * Matches detections to labels: a detection matches a labelled event when the kinds agree and
 * the ranges overlap, the labelled range widened by `toleranceFrames` on each side (labels are
 * approximate). Labelled events are taken in order and each takes the unmatched detection with
 * the largest overlap; a detection is used at most once, so a closure split in two counts one
 * match and one false event.
 */
export function scoreEvents(expected: readonly ExpectedEvent[], detected: readonly DetectedEvent[], toleranceFrames: number): EventScore {
  const used = new Set<number>();
  const pairs: EventScore['pairs'] = [];
  const missedEvents: ExpectedEvent[] = [];
  for (const e of [...expected].sort((a, b) => a.first - b.first)) {
    let best = -1;
    let bestOverlap = 0;
    detected.forEach((d, i) => {
      if (used.has(i) || d.kind !== e.kind) return;
      const o = overlaps(d, e, toleranceFrames);
      if (o > bestOverlap) {
        best = i;
        bestOverlap = o;
      }
    });
    if (best >= 0) {
      used.add(best);
      pairs.push({ expected: e, detected: detected[best] });
    } else {
      missedEvents.push(e);
    }
  }
  const falseEvents: DetectedEvent[] = [];
  const wrongDirectionEvents: DetectedEvent[] = [];
  detected.forEach((d, i) => {
    if (used.has(i)) return;
    const wrong =
      categoryOf(d.kind) === 'head' && expected.some((e) => categoryOf(e.kind) === 'head' && e.kind !== d.kind && overlaps(d, e, toleranceFrames) > 0);
    (wrong ? wrongDirectionEvents : falseEvents).push(d);
  });
  return {
    labelled: expected.length,
    detected: detected.length,
    matched: pairs.length,
    missed: missedEvents.length,
    false: falseEvents.length,
    wrongDirection: wrongDirectionEvents.length,
    pairs,
    missedEvents,
    falseEvents,
    wrongDirectionEvents,
  };
}

/** Scores one category only (eye closures or head movements). */
export function scoreCategory(
  category: EventCategory,
  expected: readonly ExpectedEvent[],
  detected: readonly DetectedEvent[],
  toleranceFrames: number,
): EventScore {
  return scoreEvents(
    expected.filter((e) => categoryOf(e.kind) === category),
    detected.filter((d) => categoryOf(d.kind) === category),
    toleranceFrames,
  );
}
