/**
 * Raw frame layouts the capture tools write to the pipe, and their conversion to packed RGB.
 * Each knows its exact byte count per frame, which is how frames are cut from the byte stream.
 */
import type { RgbImage } from '../../base/rgb-image.js';

export interface PixelLayout {
  /** Bytes of one frame on the pipe. */
  readonly frameBytes: number;
  /** Turns one frame's bytes (exactly `frameBytes`, owned by the caller) into an RGB image. */
  toRgb(bytes: Uint8Array): RgbImage;
}

/** Packed RGB, no padding (ffmpeg `-pix_fmt rgb24`). */
export function rgb24(width: number, height: number): PixelLayout {
  return { frameBytes: width * height * 3, toRgb: (data) => ({ width, height, data }) };
}

/**
 * Packed RGB with rows padded to 4 bytes: GStreamer's `video/x-raw,format=RGB` default stride
 * (a 322-pixel row is 966 bytes of pixels in 968 bytes).
 */
export function rgbPadded(width: number, height: number): PixelLayout {
  const stride = Math.ceil((width * 3) / 4) * 4;
  if (stride === width * 3) return rgb24(width, height);
  return {
    frameBytes: stride * height,
    toRgb(bytes) {
      const data = new Uint8Array(width * height * 3);
      for (let y = 0; y < height; y++) data.set(bytes.subarray(y * stride, y * stride + width * 3), y * width * 3);
      return { width, height, data };
    },
  };
}

/**
 * Planar YUV 4:2:0 (I420: Y plane, then U, then V at quarter size), BT.601 limited range, as
 * `rpicam-vid --codec yuv420` and ffmpeg `-pix_fmt yuv420p` write it. Width and height even.
 */
export function i420(width: number, height: number): PixelLayout {
  if (width % 2 || height % 2) throw new RangeError(`I420 needs an even size, got ${width}x${height}`);
  const ySize = width * height;
  const cw = width / 2;
  const cSize = ySize / 4;
  return {
    frameBytes: ySize + 2 * cSize,
    toRgb(bytes) {
      const data = new Uint8Array(ySize * 3);
      for (let y = 0; y < height; y++) {
        const crow = (y >> 1) * cw;
        for (let x = 0; x < width; x++) {
          const c = Math.max(0, bytes[y * width + x] - 16) * 1.164;
          const u = bytes[ySize + crow + (x >> 1)] - 128;
          const v = bytes[ySize + cSize + crow + (x >> 1)] - 128;
          const o = (y * width + x) * 3;
          data[o] = clamp(c + 1.596 * v);
          data[o + 1] = clamp(c - 0.392 * u - 0.813 * v);
          data[o + 2] = clamp(c + 2.017 * u);
        }
      }
      return { width, height, data };
    },
  };
}

function clamp(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
}
