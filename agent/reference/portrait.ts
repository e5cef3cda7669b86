/**
 * The reference portrait: the face the session's live face is matched against, taken from a photo
 * of an ID document or passport, or from a plain portrait image (what a chip reader returns).
 *
 * Steps: find the faces (a tight crop is retried with a margin, see `analyzeStill`; a document
 * photographed sideways is retried at 90/180/270 degrees); pick the portrait; set aside the
 * document's "ghost" image (a second, fainter, smaller copy of the same portrait); refuse a
 * picture with two genuinely different faces; check the portrait's size, sharpness and pose;
 * align it on its five keypoints and embed it (the engine's decision path).
 *
 * The template (embedding) is returned in memory only. The summary next to it holds measurements
 * of the portrait (no pixels, no landmarks, no embedding) and may be logged or printed.
 */
import { createHash } from 'node:crypto';
import type { FaceEngine } from '../../models/engine.js';
import { cosineSimilarity } from '../../models/engine.js';
import { makeImage, type RgbImage } from '../../base/rgb-image.js';
import { analyzeStill } from '../../models/still.js';
import type { FaceSignals } from '../../models/types.js';
import { KioskError } from '../../base/errors.js';
import { DEFAULT_SESSION_CONFIG } from '../session/config.js';

export interface ReferenceOptions {
  /**
   * Smallest inter-ocular distance of the portrait, px. Default 12: measured on deepface-verify
   * photos (not the documents reported on) downscaled until the face is that small, the median
   * similarity of the small copy to the full-size one stays far above the match threshold down to
   * 12 px and falls apart below it (docs/session.md, "Reference portrait").
   */
  minInterEyePx: number;
  /**
   * Lowest sharpness (variance of the Laplacian of the normalised face crop). Default: the live
   * quality gate's `minSharpness`, the same measurement on the same crop size.
   */
  minSharpness: number;
  /**
   * Largest |yaw| and |pitch| of the portrait, degrees. A gross check only (a profile or
   * three-quarter photo is no ID portrait): the pose estimator reads frontal ICAO portraits with up
   * to ~20 degrees of pitch bias on small faces, so a fine limit would refuse good documents.
   */
  maxPoseDeg: number;
  /**
   * A second face at least this similar to the portrait is a copy of it (the ghost image, a
   * duplicate print): ignored. Default: the session's match threshold.
   */
  sameHolderSimilarity: number;
  /**
   * A second face of another identity smaller than this fraction of the portrait (inter-ocular
   * distance) or fainter than `ghostMaxContrastRatio` of its contrast is taken for a ghost image
   * too faint or small to embed reliably: ignored. Anything larger is a second person: refused.
   */
  ghostMaxSizeRatio: number;
  ghostMaxContrastRatio: number;
  /** Try the image rotated by 90, 180 and 270 degrees when no face is found upright. Default true. */
  tryRotations: boolean;
}

export const DEFAULT_REFERENCE_OPTIONS: Readonly<ReferenceOptions> = Object.freeze({
  minInterEyePx: 12,
  minSharpness: DEFAULT_SESSION_CONFIG.minSharpness,
  maxPoseDeg: 30,
  sameHolderSimilarity: DEFAULT_SESSION_CONFIG.minMatchSimilarity,
  ghostMaxSizeRatio: 0.6,
  ghostMaxContrastRatio: 0.6,
  tryRotations: true,
});

/** Why a second face was set aside. */
export type IgnoredFaceReason = 'same_holder_copy' | 'faint_or_small_copy';

/** Measurements of the chosen portrait; plain numbers and strings only. */
export interface ReferenceSummary {
  /** Faces the detector found (in the orientation used). */
  facesFound: number;
  /** Rotation applied to find the portrait, degrees clockwise. */
  rotationDeg: 0 | 90 | 180 | 270;
  /** The image was padded with a margin (a tight crop). */
  padded: boolean;
  score: number;
  interEyePx: number;
  sharpness: number;
  contrast: number;
  brightness: number;
  yaw: number;
  pitch: number;
  roll: number;
  ignored: { reason: IgnoredFaceReason; score: number; interEyePx: number; contrast: number; similarity: number }[];
}

/** A reference template. `template` never leaves the process (not logged, not in any result). */
export interface ReferencePortrait {
  /** L2-normalised embedding of the aligned portrait. */
  template: Float32Array;
  /**
   * Identifier the abuse limit counts failures under. The caller should pass one derived from the
   * document (e.g. a hash of its number); by default a SHA-256 of the decoded pixels, 16 hex digits.
   */
  templateId: string;
  summary: ReferenceSummary;
}

/** Builds the reference template from a decoded image; throws E_NO_FACE, E_MULTIPLE_FACES or E_FACE_QUALITY naming `subject`. */
export async function buildReference(
  engine: Pick<FaceEngine, 'analyze' | 'decide'>,
  image: RgbImage,
  options: Partial<ReferenceOptions> & { subject?: string; templateId?: string } = {},
): Promise<ReferencePortrait> {
  const opts: ReferenceOptions = { ...DEFAULT_REFERENCE_OPTIONS, ...stripUndefined(options) };
  const subject = options.subject ?? 'reference';
  const rotations: (0 | 90 | 180 | 270)[] = opts.tryRotations ? [0, 90, 180, 270] : [0];
  let found: { frame: RgbImage; faces: FaceSignals[]; padded: boolean; rotationDeg: 0 | 90 | 180 | 270 } | null = null;
  for (const rotationDeg of rotations) {
    const { frame, signals, padded } = await analyzeStill(engine as FaceEngine, rotate(image, rotationDeg));
    if (signals.faces.length > 0) {
      found = { frame, faces: signals.faces, padded, rotationDeg };
      break;
    }
  }
  if (!found) throw new KioskError('E_NO_FACE', 'no face found in the reference image', { subject });

  const ranked = [...found.faces].sort(portraitOrder);
  const main = ranked[0];
  const decision = await engine.decide(found.frame, main);
  const template = decision.embedding;
  const ignored: ReferenceSummary['ignored'] = [];
  for (const other of ranked.slice(1)) {
    const similarity = cosineSimilarity(template, (await engine.decide(found.frame, other)).embedding);
    const entry = {
      score: round(other.detection.score, 3),
      interEyePx: round(other.quality.interEyePx, 1),
      contrast: round(other.quality.contrast, 1),
      similarity: round(similarity, 3),
    };
    if (similarity >= opts.sameHolderSimilarity) {
      ignored.push({ reason: 'same_holder_copy', ...entry });
    } else if (
      other.quality.interEyePx < opts.ghostMaxSizeRatio * main.quality.interEyePx ||
      other.quality.contrast < opts.ghostMaxContrastRatio * main.quality.contrast
    ) {
      ignored.push({ reason: 'faint_or_small_copy', ...entry });
    } else {
      throw new KioskError('E_MULTIPLE_FACES', `the reference image shows ${found.faces.length} faces of different people; it must show one`, {
        subject,
        details: { faces: found.faces.length, similarity: entry.similarity },
      });
    }
  }

  const q = main.quality;
  const p = main.pose;
  const summary: ReferenceSummary = {
    facesFound: found.faces.length,
    rotationDeg: found.rotationDeg,
    padded: found.padded,
    score: round(main.detection.score, 3),
    interEyePx: round(q.interEyePx, 1),
    sharpness: round(q.sharpness, 1),
    contrast: round(q.contrast, 1),
    brightness: round(q.brightness, 1),
    yaw: round(p.yaw, 1),
    pitch: round(p.pitch, 1),
    roll: round(p.roll, 1),
    ignored,
  };
  if (q.interEyePx < opts.minInterEyePx) {
    throw quality(subject, 'too_small', `the portrait is too small: ${summary.interEyePx} px between the eyes, at least ${opts.minInterEyePx} needed`, summary);
  }
  if (q.sharpness < opts.minSharpness) {
    throw quality(subject, 'blurry', `the portrait is too blurred: sharpness ${summary.sharpness}, at least ${opts.minSharpness} needed`, summary);
  }
  if (Math.abs(p.yaw) > opts.maxPoseDeg || Math.abs(p.pitch) > opts.maxPoseDeg) {
    throw quality(
      subject,
      'not_frontal',
      `the portrait is not frontal: yaw ${summary.yaw}, pitch ${summary.pitch} degrees, at most ${opts.maxPoseDeg}`,
      summary,
    );
  }
  return { template, templateId: options.templateId ?? pixelDigest(image), summary };
}

/** Most confident first (to two decimals, as `primaryFace`), then the larger and more contrasted (the real portrait over its ghost). */
function portraitOrder(a: FaceSignals, b: FaceSignals): number {
  const ds = Math.round(b.detection.score * 100) - Math.round(a.detection.score * 100);
  if (ds !== 0) return ds;
  return b.quality.interEyePx * b.quality.contrast - a.quality.interEyePx * a.quality.contrast;
}

function quality(subject: string, issue: 'too_small' | 'blurry' | 'not_frontal', message: string, summary: ReferenceSummary): KioskError {
  return new KioskError('E_FACE_QUALITY', message, { subject, details: { issue, ...summary, ignored: summary.ignored.length } });
}

/** SHA-256 of the pixels, 16 hex digits: an id for the abuse limit, not a secret and not reversible. */
export function pixelDigest(image: RgbImage): string {
  return createHash('sha256').update(`${image.width}x${image.height}:`).update(image.data).digest('hex').slice(0, 16);
}

/** Rotates clockwise by a multiple of 90 degrees. */
export function rotate(src: RgbImage, deg: 0 | 90 | 180 | 270): RgbImage {
  if (deg === 0) return src;
  const { width: w, height: h, data } = src;
  const out = deg === 180 ? makeImage(w, h) : makeImage(h, w);
  const ow = out.width;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let nx: number;
      let ny: number;
      if (deg === 90) {
        nx = h - 1 - y;
        ny = x;
      } else if (deg === 180) {
        nx = w - 1 - x;
        ny = h - 1 - y;
      } else {
        nx = y;
        ny = w - 1 - x;
      }
      const i = (y * w + x) * 3;
      const o = (ny * ow + nx) * 3;
      out.data[o] = data[i];
      out.data[o + 1] = data[i + 1];
      out.data[o + 2] = data[i + 2];
    }
  }
  return out;
}

function round(x: number, digits: number): number {
  return Math.round(x * 10 ** digits) / 10 ** digits;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
