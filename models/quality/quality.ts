import type { FaceQuality, FiveKeypoints } from '../types.js';
import type { Box } from '../../base/rgb-image.js';

/**
 * Image quality of a face from its square grey crop (side x side, 0-255): mean (brightness), standard
 * deviation (contrast) and variance of the 4-neighbour Laplacian (sharpness), over the inner 80%
 * so that background at the crop edges counts little. Scale-free: the crop has a fixed size.
 */
export function greyStats(grey: Float32Array, side: number): { brightness: number; contrast: number; sharpness: number } {
  const m = Math.round(side * 0.1);
  let sum = 0,
    sum2 = 0,
    n = 0;
  let lsum = 0,
    lsum2 = 0,
    ln = 0;
  for (let y = m; y < side - m; y++) {
    for (let x = m; x < side - m; x++) {
      const v = grey[y * side + x];
      sum += v;
      sum2 += v * v;
      n++;
      if (x > 0 && y > 0 && x < side - 1 && y < side - 1) {
        const lap = grey[(y - 1) * side + x] + grey[(y + 1) * side + x] + grey[y * side + x - 1] + grey[y * side + x + 1] - 4 * v;
        lsum += lap;
        lsum2 += lap * lap;
        ln++;
      }
    }
  }
  const brightness = n ? sum / n : 0;
  const contrast = n ? Math.sqrt(Math.max(0, sum2 / n - brightness * brightness)) : 0;
  const lm = ln ? lsum / ln : 0;
  const sharpness = ln ? Math.max(0, lsum2 / ln - lm * lm) : 0;
  return { brightness, contrast, sharpness };
}

export function faceQuality(box: Box, k: FiveKeypoints, grey: Float32Array, side: number): FaceQuality {
  return {
    interEyePx: Math.hypot(k.eyeLeft.x - k.eyeRight.x, k.eyeLeft.y - k.eyeRight.y),
    faceWidthPx: box.width,
    ...greyStats(grey, side),
  };
}
