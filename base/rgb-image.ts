/**
 * The frame type every model takes: packed 8-bit RGB, row-major, no padding.
 * Pure functions only: no tfjs, no sharp, so that pre-processing is testable and fast on a Pi.
 */
export interface RgbImage {
  readonly width: number;
  readonly height: number;
  /** width * height * 3 bytes, R,G,B per pixel. */
  readonly data: Uint8Array;
}

/** A 2x3 affine matrix [a, b, tx, c, d, ty] mapping destination (x, y) to source (a*x + b*y + tx, c*x + d*y + ty). */
export type Affine = readonly [number, number, number, number, number, number];

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export function makeImage(width: number, height: number, data?: Uint8Array): RgbImage {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new RangeError(`invalid image size ${width}x${height}`);
  }
  const bytes = data ?? new Uint8Array(width * height * 3);
  if (bytes.length !== width * height * 3) throw new RangeError(`image buffer has ${bytes.length} bytes, expected ${width * height * 3}`);
  return { width, height, data: bytes };
}

/**
 * Samples `src` through an affine map into a new image of `outW` x `outH`, bilinear, with
 * `fill` outside the source. Used for crops, resizes and the 5-point face alignment alike.
 */
export function warpAffine(src: RgbImage, m: Affine, outW: number, outH: number, fill = 0): RgbImage {
  const out = new Uint8Array(outW * outH * 3);
  const { width: w, height: h, data } = src;
  const [a, b, tx, c, d, ty] = m;
  let o = 0;
  for (let y = 0; y < outH; y++) {
    let sx = b * y + tx;
    let sy = d * y + ty;
    for (let x = 0; x < outW; x++, sx += a, sy += c, o += 3) {
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      if (x0 >= 0 && y0 >= 0 && x0 + 1 < w && y0 + 1 < h) {
        const i00 = (y0 * w + x0) * 3;
        const i10 = i00 + 3;
        const i01 = i00 + w * 3;
        const i11 = i01 + 3;
        const w00 = (1 - fx) * (1 - fy);
        const w10 = fx * (1 - fy);
        const w01 = (1 - fx) * fy;
        const w11 = fx * fy;
        out[o] = data[i00] * w00 + data[i10] * w10 + data[i01] * w01 + data[i11] * w11 + 0.5;
        out[o + 1] = data[i00 + 1] * w00 + data[i10 + 1] * w10 + data[i01 + 1] * w01 + data[i11 + 1] * w11 + 0.5;
        out[o + 2] = data[i00 + 2] * w00 + data[i10 + 2] * w10 + data[i01 + 2] * w01 + data[i11 + 2] * w11 + 0.5;
      } else {
        const xi = Math.round(sx);
        const yi = Math.round(sy);
        if (xi >= 0 && yi >= 0 && xi < w && yi < h) {
          const i = (yi * w + xi) * 3;
          out[o] = data[i];
          out[o + 1] = data[i + 1];
          out[o + 2] = data[i + 2];
        } else {
          out[o] = fill;
          out[o + 1] = fill;
          out[o + 2] = fill;
        }
      }
    }
  }
  return { width: outW, height: outH, data: out };
}

/**
 * Resizes the region `box` of `src` (may extend past the edges; filled with `fill`) to `outW` x `outH`.
 * Samples pixel centres, as OpenCV's resize does. When shrinking a lot, first averages 2x2 blocks
 * so that thin detail does not alias.
 */
export function cropResize(src: RgbImage, box: Box, outW: number, outH: number, fill = 0): RgbImage {
  let img = src;
  let bx = box;
  // Halve while the ratio is at least 2: a 2x2 box filter equals bilinear sampling at the new pixel
  // centres for an exact 2x step, is several times faster, and does not alias on larger steps.
  while (bx.width / outW >= 2 && bx.height / outH >= 2 && img.width >= 4 && img.height >= 4) {
    img = halve(img);
    bx = { x: bx.x / 2, y: bx.y / 2, width: bx.width / 2, height: bx.height / 2 };
  }
  if (bx.x === 0 && bx.y === 0 && bx.width === img.width && bx.height === img.height && img.width === outW && img.height === outH) {
    return img === src ? { width: outW, height: outH, data: src.data.slice() } : img;
  }
  const sx = bx.width / outW;
  const sy = bx.height / outH;
  return warpAffine(img, [sx, 0, bx.x + 0.5 * sx - 0.5, 0, sy, bx.y + 0.5 * sy - 0.5], outW, outH, fill);
}

/** Whole-image resize. */
export function resize(src: RgbImage, outW: number, outH: number): RgbImage {
  return cropResize(src, { x: 0, y: 0, width: src.width, height: src.height }, outW, outH);
}

/** 2x2 box-filter downscale. */
export function halve(src: RgbImage): RgbImage {
  const w = src.width >> 1;
  const h = src.height >> 1;
  const out = new Uint8Array(w * h * 3);
  const s = src.data;
  const stride = src.width * 3;
  let o = 0;
  for (let y = 0; y < h; y++) {
    const r0 = 2 * y * stride;
    const r1 = r0 + stride;
    for (let x = 0; x < w; x++) {
      const i = r0 + 6 * x;
      const j = r1 + 6 * x;
      out[o++] = (s[i] + s[i + 3] + s[j] + s[j + 3] + 2) >> 2;
      out[o++] = (s[i + 1] + s[i + 4] + s[j + 1] + s[j + 4] + 2) >> 2;
      out[o++] = (s[i + 2] + s[i + 5] + s[j + 2] + s[j + 5] + 2) >> 2;
    }
  }
  return { width: w, height: h, data: out };
}

/** ITU-R BT.601 luma, as OpenCV's RGB2GRAY. */
export function toGray(src: RgbImage): Float32Array {
  const n = src.width * src.height;
  const out = new Float32Array(n);
  const d = src.data;
  for (let i = 0, j = 0; i < n; i++, j += 3) out[i] = 0.299 * d[j] + 0.587 * d[j + 1] + 0.114 * d[j + 2];
  return out;
}

export type ChannelOrder = 'rgb' | 'bgr';

/**
 * Planar (NCHW) float tensor data from an image: value = (pixel - mean) / std, channels in `order`.
 */
export function toPlanar(src: RgbImage, order: ChannelOrder, mean: number, std: number, out?: Float32Array): Float32Array {
  const n = src.width * src.height;
  const t = out ?? new Float32Array(n * 3);
  const d = src.data;
  const inv = 1 / std;
  const first = order === 'rgb' ? 0 : 2;
  const last = 2 - first;
  // A lookup table turns the per-pixel arithmetic into three loads.
  const lut = new Float32Array(256);
  for (let v = 0; v < 256; v++) lut[v] = (v - mean) * inv;
  for (let i = 0, j = 0; i < n; i++, j += 3) {
    t[i] = lut[d[j + first]];
    t[n + i] = lut[d[j + 1]];
    t[2 * n + i] = lut[d[j + last]];
  }
  return t;
}

/** Interleaved (NHWC) float tensor data, RGB order, value = (pixel - mean) / std. */
export function toInterleaved(src: RgbImage, mean: number, std: number): Float32Array {
  const t = new Float32Array(src.data.length);
  const inv = 1 / std;
  for (let i = 0; i < t.length; i++) t[i] = (src.data[i] - mean) * inv;
  return t;
}

/** Clips a box to the image; may return a zero-size box. */
export function clipBox(b: Box, width: number, height: number): Box {
  const x0 = Math.max(0, Math.min(width, b.x));
  const y0 = Math.max(0, Math.min(height, b.y));
  const x1 = Math.max(0, Math.min(width, b.x + b.width));
  const y1 = Math.max(0, Math.min(height, b.y + b.height));
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

/** Square box around the centre of `b`, side = max(w, h) * scale. */
export function squareAround(b: Box, scale: number): Box {
  const side = Math.max(b.width, b.height) * scale;
  const cx = b.x + b.width / 2;
  const cy = b.y + b.height / 2;
  return { x: cx - side / 2, y: cy - side / 2, width: side, height: side };
}

/**
 * Scales `b` about its centre by `scale` (limited so that it fits the image), then shifts it to lie
 * inside the image. This is how the landmark and anti-spoofing models' training crops were made.
 */
export function scaledInside(b: Box, scale: number, width: number, height: number): Box {
  const s = Math.min((height - 1) / b.height, (width - 1) / b.width, scale);
  const w = b.width * s;
  const h = b.height * s;
  let x = b.x + b.width / 2 - w / 2;
  let y = b.y + b.height / 2 - h / 2;
  x = Math.max(0, Math.min(x, width - 1 - w));
  y = Math.max(0, Math.min(y, height - 1 - h));
  return { x, y, width: w, height: h };
}

/** Index `i` reflected into [0, n) without repeating the edge pixel (OpenCV's BORDER_REFLECT_101). */
function reflect101(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  let j = ((i % period) + period) % period;
  if (j >= n) j = period - j;
  return j;
}

/**
 * The integer square `size` x `size` at (`x`, `y`) of `src`; where it extends past the edges the
 * image is mirrored without repeating the edge pixel (OpenCV's BORDER_REFLECT_101), so a face near
 * the border (or a tight crop) keeps its scale instead of the crop shrinking to fit.
 */
export function cropReflect(src: RgbImage, x: number, y: number, size: number): RgbImage {
  if (!Number.isInteger(size) || size <= 0) throw new RangeError(`invalid crop size ${size}`);
  const out = new Uint8Array(size * size * 3);
  const { width: w, height: h, data } = src;
  const cols = new Int32Array(size);
  for (let c = 0; c < size; c++) cols[c] = reflect101(x + c, w) * 3;
  let o = 0;
  for (let r = 0; r < size; r++) {
    const row = reflect101(y + r, h) * w * 3;
    for (let c = 0; c < size; c++, o += 3) {
      const i = row + cols[c];
      out[o] = data[i];
      out[o + 1] = data[i + 1];
      out[o + 2] = data[i + 2];
    }
  }
  return { width: size, height: size, data: out };
}
