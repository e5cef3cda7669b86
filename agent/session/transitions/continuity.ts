/** After the gate: one face, never lost for long, never joined by another (shared by challenge and final capture). */
import { finish } from '../result.js';
import { viewFaces, type FaceView } from '../signals.js';
import type { Transition } from '../transition.js';
import type { FrameEvent } from '../types.js';

/**
 * The single face of this frame, or null when there is none or several (after prompting, or
 * ending the session with `face_lost` / `multiple_faces`).
 */
export function trackFace(tr: Transition, e: FrameEvent): FaceView | null {
  const s = tr.state;
  const cfg = s.config;
  const view = viewFaces(e.signals, cfg);
  if (view.count === 0) {
    // Brief detector dropouts are normal; only say something once it lasts.
    if (s.lastFaceMs !== null && s.nowMs - s.lastFaceMs > cfg.maxFaceLostMs / 3) tr.prompt('look_at_camera');
    checkFaceLost(tr);
    return null;
  }
  if (view.count > 1) {
    const streak = s.multiStreak + 1;
    tr.set({ multiStreak: streak, lastFaceMs: s.nowMs });
    if (streak >= cfg.multiFaceFrames) finish(tr, 'reject', ['multiple_faces']);
    else tr.prompt('only_one_person');
    return null;
  }
  tr.set({ multiStreak: 0, lastFaceMs: s.nowMs });
  return view;
}

/** Ends the session with `face_lost` once no face has been seen for longer than `maxFaceLostMs`. */
export function checkFaceLost(tr: Transition): Transition {
  const s = tr.state;
  if (s.lastFaceMs !== null && s.nowMs - s.lastFaceMs > s.config.maxFaceLostMs) finish(tr, 'reject', ['face_lost']);
  return tr;
}
