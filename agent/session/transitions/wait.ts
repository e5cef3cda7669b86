/** Phase `waiting_face`: until exactly one face (not counting background faces) is in view. */
import { finish } from '../result.js';
import { viewFaces } from '../signals.js';
import type { Transition } from '../transition.js';
import type { FrameEvent } from '../types.js';
import { gateFrame } from './gate.js';

export function waitFrame(tr: Transition, e: FrameEvent): Transition {
  const view = viewFaces(e.signals, tr.state.config);
  if (view.count === 0) return tr.set({ waitNoFace: tr.state.waitNoFace + 1 }).prompt('look_at_camera');
  if (view.count > 1) return tr.set({ waitMulti: tr.state.waitMulti + 1 }).prompt('only_one_person');
  tr.enter('quality_gate');
  return gateFrame(tr, e);
}

/** After `faceTimeoutMs` (or at the end of the input, `force`) without a single face: retry, `multiple_faces` if that is what was mostly seen. */
export function waitTimeout(tr: Transition, force = false): Transition {
  const s = tr.state;
  if (!force && s.nowMs - s.phaseStartedMs <= s.config.faceTimeoutMs) return tr;
  return finish(tr, 'retry', [s.waitMulti > s.waitNoFace ? 'multiple_faces' : 'no_face']);
}
