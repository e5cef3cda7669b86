/**
 * The camera preview for the customer screen: a reduced copy of the agent's frames (at most
 * `fps` per second, at most `maxWidth` px wide, mirrored like a looking glass, JPEG), encoded off
 * the analysis path. While one frame is being encoded, or while the page has not taken the last
 * one, newer frames are skipped, never queued. Frames are only held for the encode.
 */
import sharp from 'sharp';
import type { RgbImage } from '../../base/rgb-image.js';

export interface PreviewOptions {
  /** Frames per second at most. Default 5. */
  fps: number;
  /** Width at most, px (never enlarged). Default 320. */
  maxWidth: number;
  /** JPEG quality, 1-100. Default 60. */
  quality: number;
}

export const DEFAULT_PREVIEW: PreviewOptions = { fps: 5, maxWidth: 320, quality: 60 };

export interface PreviewDeps {
  /** Where an encoded frame goes; returns false when it could not be taken (then the frame is dropped). */
  send: (jpeg: Buffer) => void;
  /** Whether anyone is watching: frames are not encoded for nobody. */
  wanted: () => boolean;
  /** Wall clock, ms. */
  now?: () => number;
}

/** Validates preview options (throws early on nonsense). */
export function previewOptions(o: Partial<PreviewOptions> = {}): PreviewOptions {
  const opts = { ...DEFAULT_PREVIEW, ...o };
  if (!(opts.fps > 0 && opts.fps <= 15)) throw new RangeError(`preview fps must be in (0, 15], got ${opts.fps}`);
  if (!Number.isInteger(opts.maxWidth) || opts.maxWidth < 32 || opts.maxWidth > 640)
    throw new RangeError(`preview maxWidth must be an integer in [32, 640], got ${opts.maxWidth}`);
  if (!Number.isInteger(opts.quality) || opts.quality < 1 || opts.quality > 100)
    throw new RangeError(`preview quality must be an integer in [1, 100], got ${opts.quality}`);
  return opts;
}

export class PreviewEncoder {
  private readonly opts: PreviewOptions;
  private readonly now: () => number;
  private lastMs = -Infinity;
  private busy: Promise<void> | null = null;
  /** Frames encoded and sent, and frames skipped (rate, busy, nobody watching). */
  sent = 0;
  skipped = 0;

  constructor(
    private readonly deps: PreviewDeps,
    options: Partial<PreviewOptions> = {},
  ) {
    this.opts = previewOptions(options);
    this.now = deps.now ?? (() => performance.now());
  }

  /** Offers a frame; returns at once (the encode runs on sharp's thread pool). */
  offer(image: RgbImage): void {
    const t = this.now();
    if (this.busy || !this.deps.wanted() || t - this.lastMs < 1000 / this.opts.fps) {
      this.skipped++;
      return;
    }
    this.lastMs = t;
    this.busy = this.encode(image)
      .then((jpeg) => {
        if (this.deps.wanted()) {
          this.deps.send(jpeg);
          this.sent++;
        }
      })
      // A frame that fails to encode is only a missing preview frame; the session does not depend on it.
      .catch(() => {
        this.skipped++;
      })
      .finally(() => {
        this.busy = null;
      });
  }

  /** Waits for the frame being encoded, if any (for stop and tests). */
  async idle(): Promise<void> {
    await this.busy;
  }

  private encode(image: RgbImage): Promise<Buffer> {
    const { width, height, data } = image;
    const raw = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    return sharp(raw, { raw: { width, height, channels: 3 } })
      .resize({ width: Math.min(width, this.opts.maxWidth), withoutEnlargement: true })
      .flop()
      .jpeg({ quality: this.opts.quality })
      .toBuffer();
  }
}
