/**
 * `eval video`: head moves and eye closures read by the kiosk's own detector with the session's
 * settings (session-events.ts), scored against the labelled frame ranges of videos.tsv. Every
 * category is scored on every video, except eye closures where the labels say blinks were not
 * labelled: there they are listed as unscored (unknown is not absent).
 */
import type { VideoRow } from './labels.js';
import { resolveSessionConfig, type SessionConfig } from '../session/config.js';
import { failureOf, type EvalDeps, type FileFailure } from './deps.js';
import { categoryOf, expectedEvents, scoreCategory, scoreEvents, type DetectedEvent, type EventScore, type ExpectedEvent } from './event-match.js';
import { detectSessionEvents, type SignalFrame } from './session-events.js';

export interface VideoEvalOptions {
  /** Match tolerance in frames; default: the `+-N frames` of the row's label_quality, else DEFAULT_TOLERANCE_FRAMES. */
  toleranceFrames?: number;
  /** Session settings over the defaults (the detector reads the kiosk's thresholds). */
  config?: Partial<SessionConfig>;
  /** The videos are mirrored (default false: the labelled videos are not). */
  mirrored?: boolean;
}

/** Tolerance when neither the option nor the label file states one. */
export const DEFAULT_TOLERANCE_FRAMES = 5;

/** Counts for one category or for all; snake_case as in the `--json` document. */
export interface EventCounts {
  labelled: number;
  detected: number;
  matched: number;
  missed: number;
  false: number;
  wrong_direction: number;
}

export interface VideoResult extends EventCounts {
  video: string;
  class: string;
  frames_labelled: number;
  frames_analysed: number;
  frames_with_face: number;
  tolerance_frames: number;
  /** Frame and pose of the anchor the moves were measured from; null when no frame passed the gate. */
  anchor: { frame: number; yaw: number; pitch: number } | null;
  /** False when the labels say blinks were not labelled: eye closures are then listed, not scored. */
  eyes_scored: boolean;
  eyes: EventCounts;
  head: EventCounts;
  events: {
    matched: { label: string; kind: string; labelled: [number, number]; detected: [number, number] }[];
    missed: ExpectedEvent[];
    false: DetectedEvent[];
    wrong_direction: DetectedEvent[];
    /** Eye closures in a video whose blinks are not labelled. */
    unscored: DetectedEvent[];
  };
  /** Set when the video could not be decoded or analysed; its labelled events then count as missed. */
  error?: FileFailure;
}

export interface VideoReport {
  videos: VideoResult[];
  totals: EventCounts & { eyes: EventCounts; head: EventCounts };
}

function counts(s: EventScore): EventCounts {
  return { labelled: s.labelled, detected: s.detected, matched: s.matched, missed: s.missed, false: s.false, wrong_direction: s.wrongDirection };
}

function add(a: EventCounts, b: EventCounts): EventCounts {
  return {
    labelled: a.labelled + b.labelled,
    detected: a.detected + b.detected,
    matched: a.matched + b.matched,
    missed: a.missed + b.missed,
    false: a.false + b.false,
    wrong_direction: a.wrong_direction + b.wrong_direction,
  };
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

const ZERO: EventCounts = { labelled: 0, detected: 0, matched: 0, missed: 0, false: 0, wrong_direction: 0 };

/** The engine's signals for every frame (the analysis keeps no pixels). */
async function analyseVideo(deps: EvalDeps, video: string, frames: SignalFrame[]): Promise<void> {
  for await (const frame of deps.frames(video)) {
    frames.push({ index: frame.index, timeMs: frame.timeMs, signals: await deps.engine.analyze(frame.image) });
  }
}

/** Analyses each video, detects events as the session does, scores them against its labels. */
export async function runVideoEval(rows: readonly VideoRow[], deps: EvalDeps, options: VideoEvalOptions = {}): Promise<VideoReport> {
  const cfg = resolveSessionConfig(options.config);
  const videos: VideoResult[] = [];
  for (const [i, row] of rows.entries()) {
    const tolerance = options.toleranceFrames ?? row.toleranceFrames ?? DEFAULT_TOLERANCE_FRAMES;
    const labelled = expectedEvents(row.events, { mirrored: options.mirrored });
    const expected = row.blinksLabelled ? labelled : labelled.filter((e) => categoryOf(e.kind) !== 'eyes');
    const frames: SignalFrame[] = [];
    let error: FileFailure | undefined;
    try {
      await analyseVideo(deps, row.video, frames);
    } catch (err) {
      // the frames decoded before the damage are still read
      error = failureOf(row.video, err);
    }
    const found = detectSessionEvents(frames, cfg);
    const unscored = row.blinksLabelled ? [] : found.events.filter((e) => categoryOf(e.kind) === 'eyes');
    const detected = row.blinksLabelled ? found.events : found.events.filter((e) => categoryOf(e.kind) !== 'eyes');
    // a video that failed still counts its labelled events, as missed: totals must not improve by failing
    const all = scoreEvents(expected, detected, tolerance);
    videos.push({
      video: row.video,
      class: row.bonaFide ? 'bona_fide' : `attack:${row.species}`,
      frames_labelled: row.frames,
      frames_analysed: frames.length,
      frames_with_face: frames.filter((f) => f.signals.faces.length > 0).length,
      tolerance_frames: tolerance,
      anchor: found.anchor ? { frame: found.anchor.index, yaw: round1(found.anchor.yaw), pitch: round1(found.anchor.pitch) } : null,
      eyes_scored: row.blinksLabelled,
      ...counts(all),
      eyes: counts(scoreCategory('eyes', expected, detected, tolerance)),
      head: counts(scoreCategory('head', expected, detected, tolerance)),
      events: {
        matched: all.pairs.map((p) => ({
          label: p.expected.label,
          kind: p.detected.kind,
          labelled: [p.expected.first, p.expected.last],
          detected: [p.detected.first, p.detected.last],
        })),
        missed: all.missedEvents,
        false: all.falseEvents,
        wrong_direction: all.wrongDirectionEvents,
        unscored,
      },
      ...(error ? { error } : {}),
    });
    deps.onProgress?.(i + 1, rows.length, row.video);
  }
  return {
    videos,
    totals: {
      ...videos.reduce<EventCounts>((acc, v) => add(acc, v), ZERO),
      eyes: videos.reduce<EventCounts>((acc, v) => add(acc, v.eyes), ZERO),
      head: videos.reduce<EventCounts>((acc, v) => add(acc, v.head), ZERO),
    },
  };
}
