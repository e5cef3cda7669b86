import type { FaceSignals } from './types.js';

/**
 * The face a still image or a session is about: the most confident detection, and among detections
 * equally confident to two decimals, the largest. "Largest" alone picks blurred background false
 * positives in portrait photos (measured on deepface img41: 0.98 false box larger than the 1.00 face).
 */
export function primaryFace(faces: readonly FaceSignals[]): FaceSignals | undefined {
  let best: FaceSignals | undefined;
  for (const f of faces) {
    if (!best) {
      best = f;
      continue;
    }
    const ds = Math.round(f.detection.score * 100) - Math.round(best.detection.score * 100);
    if (ds > 0 || (ds === 0 && f.detection.box.width * f.detection.box.height > best.detection.box.width * best.detection.box.height)) best = f;
  }
  return best;
}
