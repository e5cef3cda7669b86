import { KioskError, toKioskError } from '../../base/errors.js';
import { openMediaFile, type MediaFile } from '../media/media-file.js';
import type { MediaTools } from '../../base/process.js';
import { sleep } from '../../base/clock.js';
import { BufferedFrameSource, type SourceCommonOptions } from './base-source.js';

export interface ReplayOptions extends SourceCommonOptions {
  /** A video file, a still image or a folder of images (natural name order). */
  path: string;
  /**
   * `realtime`: frames come at the recording's pace, like a camera (a slow consumer loses frames);
   * `asap`: as fast as the consumer takes them, none dropped (evaluation, tests). Default `realtime`.
   */
  pace?: 'realtime' | 'asap';
  /** Start again at the end (a simulated kiosk's camera); default false: the source ends. */
  loop?: boolean;
  /** Video: resample to this rate; folder: the rate that sets frame times (default 30). */
  fps?: number;
  /** Downscale to at most this width. */
  maxWidth?: number;
  tools?: MediaTools;
}

/**
 * Replays a recording as a camera, with the media decoder of `device/media` (ffmpeg for video, sharp
 * for stills). Its identity is always virtual: a kiosk uses it only with `allowVirtual`.
 */
export class ReplayFrameSource extends BufferedFrameSource {
  private abort?: AbortController;
  private loop?: Promise<void>;

  constructor(private readonly opts: ReplayOptions) {
    super(opts);
  }

  async start(): Promise<void> {
    if (this.loop) return;
    this.resetForStart();
    const media = await openMediaFile(this.opts.path, { tools: this.opts.tools });
    this.admit({ kind: 'replay', device: this.opts.path, driver: media.kind, virtual: true, virtualReason: 'a recording, not a camera' });
    const abort = (this.abort = new AbortController());
    this.running = true;
    this.events.emit('started', { attempt: 0 });
    this.loop = this.run(media, abort.signal);
  }

  async stop(): Promise<void> {
    this.abort?.abort(new KioskError('E_ABORTED', 'replay stopped', { subject: this.opts.path }));
    this.buffer.close();
    await this.loop;
    this.loop = this.abort = undefined;
    this.running = false;
  }

  private async run(media: MediaFile, signal: AbortSignal): Promise<void> {
    const realtime = (this.opts.pace ?? 'realtime') === 'realtime';
    let offsetMs = 0;
    try {
      do {
        const t0 = this.clock.now();
        let lastMs = 0;
        let frames = 0;
        for await (const f of media.frames({ fps: this.opts.fps, maxWidth: this.opts.maxWidth, signal })) {
          if (realtime) await sleep(this.clock, t0 + f.timeMs - this.clock.now(), signal);
          else await this.buffer.room();
          if (signal.aborted) return;
          this.deliver(f.image, offsetMs + f.timeMs);
          lastMs = f.timeMs;
          frames++;
        }
        if (frames === 0) break;
        offsetMs += lastMs + lastMs / Math.max(1, frames - 1);
      } while (this.opts.loop && !signal.aborted);
    } catch (err) {
      if (signal.aborted) return;
      this.events.emit('failed', { error: toKioskError(err, 'E_VIDEO_DECODE', this.opts.path) });
    }
    if (signal.aborted) return;
    this.running = false;
    this.buffer.close(true);
    this.events.emit('ended');
  }
}
