import sharp from 'sharp';
import type { RgbImage } from '../../base/rgb-image.js';

/** Decodes an image file for tests (the product decoder lives in device/media). */
export async function loadRgb(path: string): Promise<RgbImage> {
  const { data, info } = await sharp(path).rotate().removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}
