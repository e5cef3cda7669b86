/**
 * Decoded frames saved once and read on both machines, so that the parity run compares the models
 * on the very same pixels and decoding differences are measured separately. A frames folder holds
 * `index.json` (which clip, which frame, where its bytes start) and `frames.rgb` (packed RGB, concatenated).
 */
import { open, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeImage, type RgbImage } from '../../base/rgb-image.js';

/** One saved frame: its place in the clip and in `frames.rgb`. */
export interface SavedFrame {
  index: number;
  timeMs: number;
  width: number;
  height: number;
  offset: number;
}

/** The frames of one clip, named by its path relative to the data root. */
export interface SavedClip {
  clip: string;
  frames: SavedFrame[];
}

export interface FramesIndex {
  version: 1;
  /** Host architecture and Node version that decoded the frames. */
  decodedOn: { arch: string; node: string };
  clips: SavedClip[];
}

/** Writes frames as they are decoded; `close()` writes the index. */
export class FramesWriter {
  private offset = 0;
  private readonly clips: SavedClip[] = [];
  private handle?: Awaited<ReturnType<typeof open>>;

  constructor(private readonly dir: string) {}

  async start(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    this.handle = await open(join(this.dir, 'frames.rgb'), 'w');
  }

  /** Appends one frame of `clip` (clips are written one after the other). */
  async add(clip: string, index: number, timeMs: number, image: RgbImage): Promise<void> {
    if (!this.handle) throw new Error('FramesWriter used before start()');
    let c = this.clips.at(-1);
    if (c?.clip !== clip) {
      c = { clip, frames: [] };
      this.clips.push(c);
    }
    await this.handle.write(image.data, 0, image.data.length, this.offset);
    c.frames.push({ index, timeMs, width: image.width, height: image.height, offset: this.offset });
    this.offset += image.data.length;
  }

  async close(): Promise<FramesIndex> {
    await this.handle?.close();
    const index: FramesIndex = { version: 1, decodedOn: { arch: process.arch, node: process.version }, clips: this.clips };
    await writeFile(join(this.dir, 'index.json'), `${JSON.stringify(index, null, 1)}\n`);
    return index;
  }
}

/** Reads a frames folder's index. */
export async function readFramesIndex(dir: string): Promise<FramesIndex> {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as FramesIndex;
  if (index.version !== 1 || !Array.isArray(index.clips)) throw new Error(`${dir}/index.json is not a frames index (version 1)`);
  return index;
}

/** Yields the saved frames of one clip in order, reading only their bytes. */
export async function* readClipFrames(dir: string, clip: SavedClip): AsyncGenerator<{ saved: SavedFrame; image: RgbImage }> {
  const handle = await open(join(dir, 'frames.rgb'), 'r');
  try {
    for (const saved of clip.frames) {
      const data = new Uint8Array(saved.width * saved.height * 3);
      const { bytesRead } = await handle.read(data, 0, data.length, saved.offset);
      if (bytesRead !== data.length) throw new Error(`${dir}/frames.rgb is truncated at frame ${saved.index} of ${clip.clip}`);
      yield { saved, image: makeImage(saved.width, saved.height, data) };
    }
  } finally {
    await handle.close();
  }
}

/** Largest and mean absolute difference of two images' bytes; null when their sizes differ. */
export function pixelDiff(a: RgbImage, b: RgbImage): { max: number; mean: number } | null {
  if (a.width !== b.width || a.height !== b.height) return null;
  let max = 0;
  let sum = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs(a.data[i] - b.data[i]);
    sum += d;
    if (d > max) max = d;
  }
  return { max, mean: a.data.length ? sum / a.data.length : 0 };
}
