import type { RgbImage } from '../../base/rgb-image.js';
import type { Point } from '../types.js';

/**
 * How much of the skin colour of the upper face the lower face shows: the chroma (Cb, Cr of
 * YCbCr, relative to grey) of the region between the nose and the chin, projected on the chroma
 * of the nose bridge between the eyes, which a medical mask leaves uncovered. About 1 for a bare
 * face (lips and beards included: 0.35-1.2 on the dev recordings), about 0 or below for a white,
 * grey or blue mask, whose fabric has no skin tint. Chroma, not brightness: a beard, a shadow
 * under the nose or a top light change brightness, not hue.
 *
 * Null when the nose bridge itself shows too little colour to be a reference (a grey-scale or
 * infrared camera, a colourless replay): no answer is better than a wrong one.
 */
export function lowerFaceSkin(frame: RgbImage, landmarks: readonly Point[], interEyePx: number): number | null {
  if (landmarks.length !== 68 || !(interEyePx > 0)) return null;
  const r = 0.12 * interEyePx;
  const bridge = meanChroma(frame, (landmarks[27].x + landmarks[28].x) / 2, (landmarks[27].y + landmarks[28].y) / 2, r, r);
  const halfW = Math.abs(landmarks[54].x - landmarks[48].x) / 2;
  const halfH = (0.8 * Math.abs(landmarks[8].y - landmarks[33].y)) / 2;
  const lower = meanChroma(frame, (landmarks[48].x + landmarks[54].x) / 2, (landmarks[33].y + landmarks[8].y) / 2, halfW, halfH);
  if (!bridge || !lower) return null;
  const n2 = bridge.cb * bridge.cb + bridge.cr * bridge.cr;
  if (n2 < MIN_SKIN_CHROMA * MIN_SKIN_CHROMA) return null;
  return (lower.cb * bridge.cb + lower.cr * bridge.cr) / n2;
}

/** Least chroma (distance from grey in Cb/Cr units, 0-128) of the nose bridge for the measure to answer. */
export const MIN_SKIN_CHROMA = 8;

/** Mean (Cb - 128, Cr - 128) over a rectangle, sampled on a grid of at most ~24 x 24 points. */
function meanChroma(img: RgbImage, cx: number, cy: number, rx: number, ry: number): { cb: number; cr: number } | null {
  const x0 = Math.max(0, Math.round(cx - rx));
  const x1 = Math.min(img.width - 1, Math.round(cx + rx));
  const y0 = Math.max(0, Math.round(cy - ry));
  const y1 = Math.min(img.height - 1, Math.round(cy + ry));
  if (x1 < x0 || y1 < y0) return null;
  const step = Math.max(1, Math.floor(Math.max(x1 - x0, y1 - y0) / 24));
  let cb = 0;
  let cr = 0;
  let n = 0;
  for (let y = y0; y <= y1; y += step) {
    for (let x = x0; x <= x1; x += step) {
      const i = (y * img.width + x) * 3;
      const [r, g, b] = [img.data[i], img.data[i + 1], img.data[i + 2]];
      cb += -0.168736 * r - 0.331264 * g + 0.5 * b;
      cr += 0.5 * r - 0.418688 * g - 0.081312 * b;
      n++;
    }
  }
  return n ? { cb: cb / n, cr: cr / n } : null;
}
