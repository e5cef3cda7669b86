import { spawn } from 'node:child_process';
import type { RgbImage } from '../base/rgb-image.js';

/**
 * Decodes up to `count` frames of a video, scaled and letterboxed to width x height, through ffmpeg
 * (every `step`-th frame). Used to make realistic 640x480 camera frames for the benchmark.
 */
export async function videoFrames(path: string, width: number, height: number, count: number, step = 1): Promise<RgbImage[]> {
  const vf = `select='not(mod(n\\,${step}))',scale=${width}:${height}:force_original_aspect_ratio=decrease,pad=${width}:${height}:(ow-iw)/2:(oh-ih)/2`;
  const child = spawn(
    'ffmpeg',
    ['-v', 'error', '-nostdin', '-i', path, '-vf', vf, '-vsync', '0', '-frames:v', String(count), '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const size = width * height * 3;
  const frames: RgbImage[] = [];
  let pending = Buffer.alloc(0);
  for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= size) {
      frames.push({ width, height, data: new Uint8Array(pending.subarray(0, size)) });
      pending = pending.subarray(size);
    }
  }
  return frames;
}
