/**
 * `eval video`: eye closures and head movements detected from the engine's per-frame signals,
 * scored against the labelled frame ranges of videos.tsv. Every category is scored on every
 * video: a blink found in a video labelled only for head turns counts as a false event.
 */
import type { VideoRow } from './labels.js';
import { primaryFace } from '../../models/select.js';
import { failureOf, type EvalDeps, type FileFailure } from './deps.js';
import { detectVideoEvents, type DetectedEvent, type FrameSample, type VideoEventParams } from './events.js';
import { expectedEvents, scoreCategory, scoreEvents, type EventScore, type ExpectedEvent } from './event-match.js';

export interface VideoEvalOptions {
  /** Match tolerance in frames; default: the `+-N frames` of the row's label_quality, else DEFAULT_TOLERANCE_FRAMES. */
  toleranceFrames?: number;
  /** Detector parameters (defaults in events.ts). */
  params?: VideoEventParams;
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
  eyes: EventCounts;
  head: EventCounts;
  events: {
    matched: { label: string; kind: string; labelled: [number, number]; detected: [number, number] }[];
    missed: ExpectedEvent[];
    false: DetectedEvent[];
    wrong_direction: DetectedEvent[];
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

const ZERO: EventCounts = { labelled: 0, detected: 0, matched: 0, missed: 0, false: 0, wrong_direction: 0 };

/** Per-frame signals of the primary face (most confident, then largest); frames without a face become gaps. */
async function sampleVideo(deps: EvalDeps, video: string): Promise<FrameSample[]> {
  const samples: FrameSample[] = [];
  for await (const frame of deps.frames(video)) {
    const face = primaryFace((await deps.engine.analyze(frame.image)).faces);
    samples.push(face
      ? { index: frame.index, timeMs: frame.timeMs, ear: (face.eyes.left + face.eyes.right) / 2, yaw: face.pose.yaw, pitch: face.pose.pitch, faceScore: face.detection.score }
      : { index: frame.index, timeMs: frame.timeMs });
  }
  return samples;
}

/** Analyses each video, detects events, scores them against its labels. */
export async function runVideoEval(rows: readonly VideoRow[], deps: EvalDeps, options: VideoEvalOptions = {}): Promise<VideoReport> {
  const videos: VideoResult[] = [];
  for (const [i, row] of rows.entries()) {
    const tolerance = options.toleranceFrames ?? row.toleranceFrames ?? DEFAULT_TOLERANCE_FRAMES;
    const expected = expectedEvents(row.events, { mirrored: options.mirrored });
    let samples: FrameSample[] = [];
    let error: FileFailure | undefined;
    try {
      samples = await sampleVideo(deps, row.video);
    } catch (err) {
      error = failureOf(row.video, err);
    }
    const found = detectVideoEvents(samples, options.params);
    const detected = [...found.eyes, ...found.head].sort((a, b) => a.first - b.first);
    // a video that failed still counts its labelled events, as missed: totals must not improve by failing
    const all = scoreEvents(expected, detected, tolerance);
    videos.push({
      video: row.video,
      class: row.bonaFide ? 'bona_fide' : `attack:${row.species}`,
      frames_labelled: row.frames,
      frames_analysed: samples.length,
      frames_with_face: samples.filter((s) => s.ear !== undefined).length,
      tolerance_frames: tolerance,
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
