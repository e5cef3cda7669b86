/**
 * The events a recording shows, read by the kiosk's own detector (agent/session/gestures.ts) with
 * the kiosk's own settings: what `eval video` scores against the labels. Pure.
 *
 * 1. The anchor: the first run of frames that would pass the session's quality gate and is held
 *    still (`extendStillRun`), as at the kiosk. The checks about the capture set-up (face size,
 *    light, sharpness, distance, a mask) are left out: they decide whether a kiosk can run a
 *    session at all, not how the detector reads a head or the eyes, and a 176x144 or masked
 *    recording still has moves to find.
 * 2. Every frame, from the first, through `trackGesture` without an asked move: each move that
 *    reaches its threshold for `holdFrames` frames is an event from that frame until it is
 *    released; each eye closure ending in open eyes is an event (a blink when short enough). The
 *    frames before the anchor are read against it too: a recording may start with a move.
 */
import type { FrameSignals } from '../../models/types.js';
import type { SessionConfig } from '../session/config.js';
import { extendStillRun, NEW_TRACK, trackGesture, type MoveEvent, type RelPose, type StillPose } from '../session/gestures.js';
import { qualityIssue, viewFaces } from '../session/signals.js';
import type { DetectedEvent } from './event-match.js';

/** One analysed frame of a recording. */
export interface SignalFrame {
  index: number;
  timeMs: number;
  signals: FrameSignals;
}

export interface SessionEvents {
  /** The frame the anchor was taken on and its pose, or null when no frame passed the gate. */
  anchor: (RelPose & { index: number }) | null;
  /** Head moves and eye closures, sorted by first frame. */
  events: DetectedEvent[];
}

/** The session config with the capture set-up checks switched off (step 1 above). */
export function detectorGateConfig(cfg: SessionConfig): SessionConfig {
  return {
    ...cfg,
    minInterEyePx: 0,
    maxFaceWidthRatio: Number.POSITIVE_INFINITY,
    minBrightness: 0,
    maxBrightness: 255,
    minSharpness: 0,
    minLowerFaceSkin: Number.NEGATIVE_INFINITY,
  };
}

/** The anchor of step 1, or null. */
export function findAnchor(frames: readonly SignalFrame[], cfg: SessionConfig): SessionEvents['anchor'] {
  const gate = detectorGateConfig(cfg);
  let run: StillPose[] = [];
  for (const f of frames) {
    const view = viewFaces(f.signals, cfg);
    if (qualityIssue(f.signals, view, gate) !== null) {
      run = [];
      continue;
    }
    const still = extendStillRun(run, { yaw: view.face!.pose.yaw, pitch: view.face!.pose.pitch, tMs: f.timeMs }, cfg);
    run = still.run;
    if (still.anchor) return { ...still.anchor, index: f.index };
  }
  return null;
}

/** Steps 1 and 2 over a whole recording. */
export function detectSessionEvents(frames: readonly SignalFrame[], cfg: SessionConfig): SessionEvents {
  const anchor = findAnchor(frames, cfg);
  if (!anchor) return { anchor, events: [] };
  const events: DetectedEvent[] = [];
  const asEvent = (m: MoveEvent): DetectedEvent => ({ kind: m.kind, first: m.first, last: m.last, peak: m.peakDeg });
  let track = NEW_TRACK;
  for (const f of frames) {
    const seen = trackGesture(track, { index: f.index, tMs: f.timeMs, face: viewFaces(f.signals, cfg).face }, anchor, cfg);
    track = seen.track;
    if (seen.released) events.push(asEvent(seen.released));
    if (seen.closure) events.push({ kind: 'eyes_closed', first: seen.closure.first, last: seen.closure.last, peak: seen.closure.durationMs });
  }
  // A move still held when the recording ends was seen all the same.
  if (track.held) events.push(asEvent(track.held));
  return { anchor, events: events.sort((a, b) => a.first - b.first) };
}
