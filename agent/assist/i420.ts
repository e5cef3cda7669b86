/**
 * RGB (packed, as the camera hands it over) to I420 (what `RTCVideoSource.onFrame` takes), scaled
 * down on the way: remote assistance sends a reduced picture, never the full camera resolution.
 * Pure TypeScript so it runs without wrtc in unit tests; nearest-neighbour sampling, BT.601 limited range.
 */
import type { RgbImage } from '../../base/rgb-image.js';

/** An I420 frame: Y plane (width*height), then U and V (each width/2 * height/2). */
export interface I420Frame {
  width: number;
  height: number;
  data: Uint8ClampedArray;
}

/** The output size for `width`x`height` bounded by `maxWidth`: aspect kept, both even (I420 needs it), at least 2x2. */
export function scaledSize(width: number, height: number, maxWidth: number): { width: number; height: number } {
  const w = Math.max(2, Math.min(width, maxWidth) & ~1);
  const h = Math.max(2, Math.round((height * w) / width) & ~1);
  return { width: w, height: h };
}

/** Converts and scales `src` to I420 no wider than `maxWidth`. */
export function rgbToI420(src: RgbImage, maxWidth: number): I420Frame {
  const { width, height } = scaledSize(src.width, src.height, maxWidth);
  const data = new Uint8ClampedArray((width * height * 3) / 2);
  const uOff = width * height;
  const vOff = uOff + (width / 2) * (height / 2);
  const sx = src.width / width;
  const sy = src.height / height;
  const s = src.data;
  for (let y = 0; y < height; y++) {
    const row = Math.min(src.height - 1, Math.floor((y + 0.5) * sy)) * src.width;
    for (let x = 0; x < width; x++) {
      const i = (row + Math.min(src.width - 1, Math.floor((x + 0.5) * sx))) * 3;
      const r = s[i],
        g = s[i + 1],
        b = s[i + 2];
      data[y * width + x] = ((66 * r + 129 * g + 25 * b + 128) >> 8) + 16;
      if ((x & 1) === 0 && (y & 1) === 0) {
        const c = (y / 2) * (width / 2) + x / 2;
        data[uOff + c] = ((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128;
        data[vOff + c] = ((112 * r - 94 * g - 18 * b + 128) >> 8) + 128;
      }
    }
  }
  return { width, height, data };
}
