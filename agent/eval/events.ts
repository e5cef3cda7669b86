/**
 * Per-frame signals → events (eye closures, head movements), pure and causal: each frame is
 * judged only from frames before it, as the kiosk will have to do live. Baselines adapt per
 * video (per person, camera and light) from frames judged "open"/"neutral", so a closure or a
 * turn never drags its own baseline along.
 */

/** One analysed frame: `ear`/`yaw`/`pitch` are absent when no face was found in it. */
export interface FrameSample {
  index: number;
  timeMs: number;
  /** Eye aspect ratio, mean of both eyes. */
  ear?: number;
  /** Degrees; > 0 = the subject turns to their OWN left (models/types.ts). */
  yaw?: number;
  /** Degrees; > 0 = the subject looks up. */
  pitch?: number;
  /** Detection score of the face the signals came from (0-1); absent = treated as confident. */
  faceScore?: number;
}

/** Event kinds in the SUBJECT's frame of reference (never the image's). */
export type EventKind = 'eyes_closed' | 'turn_left' | 'turn_right' | 'look_up' | 'look_down';
export type EventCategory = 'eyes' | 'head';

export interface DetectedEvent {
  kind: EventKind;
  /** First and last frame index, inclusive. */
  first: number;
  last: number;
  /** Eyes: lowest EAR / baseline ratio. Head: largest deviation from neutral in degrees. */
  peak: number;
}

/** Category of an event kind: eye closures and head movements are scored separately. */
export function categoryOf(kind: EventKind): EventCategory {
  return kind === 'eyes_closed' ? 'eyes' : 'head';
}

export interface EyeClosureParams {
  /** Closed when EAR < closeRatio × baseline. 0.7: a 30 % drop is far above landmark jitter (a few %) yet reached by blinks that a 24-30 fps camera samples only half-closed. */
  closeRatio: number;
  /** Open again when EAR > openRatio × baseline; the gap to closeRatio is the hysteresis that keeps one closure from splitting in two. */
  openRatio: number;
  /** Baseline = median EAR of the last N frames judged open (~2 s at 30 fps: follows light and distance, ignores blinks). */
  baselineFrames: number;
  /** No decision until this many open frames have been seen. */
  warmupFrames: number;
  /** Shorter closures are dropped (60 ms = at least 2 frames at 24-30 fps; single-frame dips are landmark glitches). */
  minDurationMs: number;
  /** A run of frames without a face longer than this ends the current event at the last frame seen. */
  maxGapMs: number;
}

export const DEFAULT_EYE_PARAMS: EyeClosureParams = {
  closeRatio: 0.7,
  openRatio: 0.85,
  baselineFrames: 60,
  warmupFrames: 5,
  minDurationMs: 60,
  maxGapMs: 300,
};

export interface HeadMoveParams {
  /** A yaw deviation from neutral of at least this starts a turn (a deliberate turn is 20-45°, pose jitter a few degrees). */
  yawEnterDeg: number;
  /** The turn ends when the deviation falls below this (hysteresis). */
  yawExitDeg: number;
  /** Pitch threshold to start look_up/look_down (people nod less far than they turn; estimators are noisier in pitch). */
  pitchEnterDeg: number;
  pitchExitDeg: number;
  /** Neutral = median yaw/pitch of the last N frames inside the exit band on both axes. */
  baselineFrames: number;
  /** The first N frames with a face are taken as neutral: a session starts facing the camera. */
  warmupFrames: number;
  /** Shorter movements are dropped (a deliberate movement lasts well over 200 ms; pose spikes do not). */
  minDurationMs: number;
  /**
   * How long the face may be missing (or only weakly detected) before a movement under way is ended
   * at the last frame seen. Frames without a confident face are absence of evidence, not evidence
   * that the head came back: the detector often loses a face at the far end of a steep nod or turn,
   * and a movement (1-3 s) must not be split in two by that. 1 s: longer than such losses, shorter
   * than a person leaving and coming back.
   */
  maxGapMs: number;
  /**
   * Pose from a detection scored below this is not used (its box, so its landmarks and pose, are
   * unreliable); such frames count as gaps. 0.9: the engine's "confident" level (STILL_CONFIDENT_SCORE).
   */
  minFaceScore: number;
}

export const DEFAULT_HEAD_PARAMS: HeadMoveParams = {
  yawEnterDeg: 15,
  yawExitDeg: 8,
  pitchEnterDeg: 12,
  pitchExitDeg: 6,
  baselineFrames: 60,
  warmupFrames: 10,
  minDurationMs: 200,
  maxGapMs: 1000,
  minFaceScore: 0.9,
};

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function pushWindow(window: number[], value: number, size: number): void {
  window.push(value);
  if (window.length > size) window.shift();
}

/** Median spacing of frame times; the duration of a one-frame event. */
function frameIntervalMs(samples: readonly FrameSample[]): number {
  const d: number[] = [];
  for (let i = 1; i < samples.length; i++) d.push(samples[i].timeMs - samples[i - 1].timeMs);
  return d.length ? median(d) : 0;
}

interface OpenEvent {
  kind: EventKind;
  first: number;
  firstMs: number;
  last: number;
  lastMs: number;
  peak: number;
}

/** Collects events, dropping those shorter than the minimum duration. */
class EventSink {
  readonly events: DetectedEvent[] = [];
  constructor(private readonly minDurationMs: number, private readonly intervalMs: number) {}

  close(e: OpenEvent | undefined): undefined {
    if (e && e.lastMs - e.firstMs + this.intervalMs >= this.minDurationMs) {
      this.events.push({ kind: e.kind, first: e.first, last: e.last, peak: e.peak });
    }
    return undefined;
  }
}

/** Eye closures from the EAR series (frames without `ear` are missing). */
export function detectEyeClosures(samples: readonly FrameSample[], params: Partial<EyeClosureParams> = {}): DetectedEvent[] {
  const p = { ...DEFAULT_EYE_PARAMS, ...params };
  const sink = new EventSink(p.minDurationMs, frameIntervalMs(samples));
  const window: number[] = [];
  let current: OpenEvent | undefined;
  let lastSeenMs = Number.NEGATIVE_INFINITY;
  for (const s of samples) {
    if (current && s.timeMs - lastSeenMs > p.maxGapMs) current = sink.close(current);
    if (s.ear === undefined || !Number.isFinite(s.ear)) continue;
    lastSeenMs = s.timeMs;
    if (window.length < p.warmupFrames) {
      pushWindow(window, s.ear, p.baselineFrames);
      continue;
    }
    const ratio = s.ear / median(window);
    if (current) {
      if (ratio > p.openRatio) {
        current = sink.close(current);
        pushWindow(window, s.ear, p.baselineFrames);
      } else {
        current.last = s.index;
        current.lastMs = s.timeMs;
        current.peak = Math.min(current.peak, ratio);
      }
    } else if (ratio < p.closeRatio) {
      current = { kind: 'eyes_closed', first: s.index, firstMs: s.timeMs, last: s.index, lastMs: s.timeMs, peak: ratio };
    } else {
      pushWindow(window, s.ear, p.baselineFrames);
    }
  }
  sink.close(current); // a closure still going at the end was seen: keep it
  return sink.events;
}

/** The deviation along the axis of `kind`, signed so that positive means "further into it". */
function alongKind(kind: EventKind, dyaw: number, dpitch: number): number {
  switch (kind) {
    case 'turn_left': return dyaw;
    case 'turn_right': return -dyaw;
    case 'look_up': return dpitch;
    case 'look_down': return -dpitch;
    default: return 0;
  }
}

/** Head movements from the yaw/pitch series against a running neutral baseline. */
export function detectHeadMovements(samples: readonly FrameSample[], params: Partial<HeadMoveParams> = {}): DetectedEvent[] {
  const p = { ...DEFAULT_HEAD_PARAMS, ...params };
  const sink = new EventSink(p.minDurationMs, frameIntervalMs(samples));
  const yaws: number[] = [];
  const pitches: number[] = [];
  let current: OpenEvent | undefined;
  let lastSeenMs = Number.NEGATIVE_INFINITY;
  let seen = 0;
  for (const s of samples) {
    if (current && s.timeMs - lastSeenMs > p.maxGapMs) current = sink.close(current);
    if (s.yaw === undefined || s.pitch === undefined || !Number.isFinite(s.yaw) || !Number.isFinite(s.pitch)) continue;
    if (s.faceScore !== undefined && s.faceScore < p.minFaceScore) continue;
    lastSeenMs = s.timeMs;
    if (seen++ < p.warmupFrames) {
      pushWindow(yaws, s.yaw, p.baselineFrames);
      pushWindow(pitches, s.pitch, p.baselineFrames);
      continue;
    }
    const dyaw = s.yaw - median(yaws);
    const dpitch = s.pitch - median(pitches);
    if (current) {
      const exit = current.kind === 'turn_left' || current.kind === 'turn_right' ? p.yawExitDeg : p.pitchExitDeg;
      const d = alongKind(current.kind, dyaw, dpitch);
      if (d >= exit) {
        current.last = s.index;
        current.lastMs = s.timeMs;
        current.peak = Math.max(current.peak, d);
        continue;
      }
      current = sink.close(current); // and judge this frame afresh: a turn may flow into a nod
    }
    const yawScore = Math.abs(dyaw) / p.yawEnterDeg;
    const pitchScore = Math.abs(dpitch) / p.pitchEnterDeg;
    if (yawScore >= 1 || pitchScore >= 1) {
      const kind: EventKind = yawScore >= pitchScore
        ? (dyaw > 0 ? 'turn_left' : 'turn_right')
        : (dpitch > 0 ? 'look_up' : 'look_down');
      current = { kind, first: s.index, firstMs: s.timeMs, last: s.index, lastMs: s.timeMs, peak: alongKind(kind, dyaw, dpitch) };
    } else if (Math.abs(dyaw) < p.yawExitDeg && Math.abs(dpitch) < p.pitchExitDeg) {
      pushWindow(yaws, s.yaw, p.baselineFrames);
      pushWindow(pitches, s.pitch, p.baselineFrames);
    }
  }
  sink.close(current);
  return sink.events;
}

export interface VideoEventParams {
  eyes?: Partial<EyeClosureParams>;
  head?: Partial<HeadMoveParams>;
  /**
   * Ignore EAR while a head movement is under way (default true): lids look closer when the
   * head tilts down or turns, which would read as a closure, and the baseline must not learn it.
   */
  eyesOnlyWhenNeutral?: boolean;
}

/** Head movements first, then eye closures on the frames outside them; both sorted by first frame. */
export function detectVideoEvents(samples: readonly FrameSample[], params: VideoEventParams = {}): { eyes: DetectedEvent[]; head: DetectedEvent[] } {
  const head = detectHeadMovements(samples, params.head);
  let eyeInput = samples;
  if (params.eyesOnlyWhenNeutral ?? true) {
    const moving = (i: number) => head.some((e) => i >= e.first && i <= e.last);
    eyeInput = samples.map((s) => (moving(s.index) ? { index: s.index, timeMs: s.timeMs } : s));
  }
  return { eyes: detectEyeClosures(eyeInput, params.eyes), head };
}
