// Helpers shared by bench/compare.ts and its child process: capped image decoding, Human's still-image
// analysis with the same margin retry as ours, and the eye aspect ratio from FaceMesh points.
import { decodeImageFile } from '../../device/media/image.js';
import type { RgbImage } from '../../base/rgb-image.js';
import { padImage, STILL_CONFIDENT_SCORE, STILL_PAD_FRACTION } from '../../models/still.js';
import type { HumanFace, HumanFaceModels, HumanPeer } from '../human.js';

/** Long side cap for still images, applied the same way before either engine sees them. */
export const MAX_SIDE = 1280;

/** Decodes an image (EXIF-oriented RGB) and downscales it so that its long side is at most MAX_SIDE. */
export async function loadCapped(path: string): Promise<RgbImage> {
  const img = await decodeImageFile(path);
  const long = Math.max(img.width, img.height);
  if (long <= MAX_SIDE) return img;
  // decodeImageFile caps the width only: decode again with the width that brings the long side to the cap.
  return decodeImageFile(path, { maxWidth: Math.floor((img.width * MAX_SIDE) / long) });
}

const bestScore = (faces: readonly HumanFace[]) => faces.reduce((m, f) => Math.max(m, f.score), 0);

/** The most confident face (Human runs with maxDetected 1, so there is at most one). */
export function humanPrimary(faces: readonly HumanFace[]): HumanFace | undefined {
  let best: HumanFace | undefined;
  for (const f of faces) if (!best || f.score > best.score) best = f;
  return best;
}

/**
 * Human on a still image with the rule our `analyzeStill` applies (models/still.ts): below a face score
 * of STILL_CONFIDENT_SCORE, try again with the same margin around the image and keep the more confident.
 * One difference remains: ours maps a face found on the margin canvas back to the original image, so its
 * PAD and embedding see real pixels only; Human cannot be given a box, so on a retried still its antispoof,
 * liveness and description run on the margin canvas (bench/compare.ts counts those images).
 */
export async function humanStill(human: HumanPeer, image: RgbImage, models: HumanFaceModels): Promise<{ faces: HumanFace[]; padded: boolean }> {
  const first = await human.analyse(image, models);
  if (bestScore(first) >= STILL_CONFIDENT_SCORE) return { faces: first, padded: false };
  const retry = await human.analyse(padImage(image, STILL_PAD_FRACTION).image, models);
  return bestScore(retry) > bestScore(first) ? { faces: retry, padded: true } : { faces: first, padded: false };
}

/**
 * Six FaceMesh points per eye in the order our 68-point EAR uses (models/eyes/eye-aspect.ts, iBUG 36-41 / 42-47):
 * EAR = (|p2 - p6| + |p3 - p5|) / (2 |p1 - p4|), p1 and p4 the corners; p2, p3 the upper lid; p6, p5 the lower lid below them. These are the
 * MediaPipe eye-contour indices commonly used for the Soukupová-Čech EAR, fixed before any measurement:
 * - subject's right eye (image left): corners 33 / 133, upper lid 160, 158, lower lid 144, 153;
 * - subject's left eye (image right): corners 362 / 263, upper lid 385, 387, lower lid 380, 373.
 * With iris on, Human replaces these lid points with the iris model's eye contour when the face is frontal.
 */
export const MESH_EAR_INDICES = {
  right: [33, 160, 158, 133, 153, 144],
  left: [362, 385, 387, 263, 373, 380],
} as const;

function earOf(mesh: readonly number[][], idx: readonly number[]): number {
  const [p1, p2, p3, p4, p5, p6] = idx.map((i) => mesh[i]);
  const d = (a: number[], b: number[]) => Math.hypot(a[0] - b[0], a[1] - b[1]);
  const width = d(p1, p4);
  return width === 0 ? 0 : (d(p2, p6) + d(p3, p5)) / (2 * width);
}

/** EAR per eye from Human's mesh (image x, y; z ignored), or undefined without a full mesh. */
export function meshEyeOpenness(mesh: readonly number[][]): { right: number; left: number } | undefined {
  if (mesh.length < 468) return undefined;
  return { right: earOf(mesh, MESH_EAR_INDICES.right), left: earOf(mesh, MESH_EAR_INDICES.left) };
}
