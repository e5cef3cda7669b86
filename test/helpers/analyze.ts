/** What the analyze command tests share: output sinks, an engine that "sees" red frames, fixtures. */
import { Writable } from 'node:stream';
import sharp from 'sharp';
import { runAnalyze, type AnalyzeOptions } from '../../agent/cli/analyze.js';
import { KioskError } from '../../base/errors.js';
import type { RgbImage } from '../../base/rgb-image.js';
import type { MediaFile } from '../../device/media/media-file.js';
import type { EngineInfo, FaceDecision, FaceEngine } from '../../models/engine.js';
import type { FaceSignals, FrameSignals } from '../../models/types.js';

/** Captures everything written, like a terminal or a pipe; `isTTY` as asked. */
export class Sink extends Writable {
  text = '';
  constructor(readonly isTTY = false) {
    super();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
  lines(): Array<Record<string, any>> {
    return this.text
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, any>);
  }
}

export const face: FaceSignals = {
  detection: { box: { x: 10.04, y: 20.06, width: 30.123, height: 40 }, score: 0.987654 },
  landmarks: [],
  keypoints: { eyeRight: { x: 1, y: 1 }, eyeLeft: { x: 2, y: 1 }, nose: { x: 1.5, y: 2 }, mouthRight: { x: 1, y: 3 }, mouthLeft: { x: 2, y: 3 } },
  eyes: { right: 0.31234, left: 0.29876, openProbability: 0.9 },
  pose: { yaw: 12.345, pitch: -3.21, roll: 0.04 },
  quality: { interEyePx: 61.26, faceWidthPx: 130, sharpness: 812.34, brightness: 121.6, contrast: 40.04 },
};

/**
 * Stands in for the real engine: it "finds a face" in frames that are mostly red, none otherwise, so a
 * test picks the outcome by the colour of its fixture. Records its lifecycle.
 */
export class FakeEngine implements FaceEngine {
  calls: string[] = [];
  analysed = 0;
  constructor(private readonly opts: { failStart?: boolean; failOn?: (img: RgbImage) => boolean } = {}) {}
  async start(): Promise<EngineInfo> {
    this.calls.push('start');
    if (this.opts.failStart) throw new KioskError('E_MODEL_INTEGRITY', 'sha256 mismatch', { subject: 'fr_detect.onnx' });
    return this.info();
  }
  async analyze(img: RgbImage): Promise<FrameSignals> {
    this.analysed++;
    if (this.opts.failOn?.(img)) throw new KioskError('E_INTERNAL', 'engine blew up');
    let r = 0;
    let gb = 0;
    for (let i = 0; i < img.data.length; i += 3) {
      r += img.data[i];
      gb += img.data[i + 1] + img.data[i + 2];
    }
    const n = img.width * img.height;
    const red = r / n > 150 && gb / n < 100;
    return { width: img.width, height: img.height, faces: red ? [face] : [], timings: { detect: 1.23456 } };
  }
  decide(): Promise<FaceDecision> {
    throw new Error('not used by analyze');
  }
  info(): EngineInfo {
    return { runtimes: [], models: [] };
  }
  async stop(): Promise<void> {
    this.calls.push('stop');
  }
}

export async function png(file: string, colour: string, width = 8, height = 6): Promise<string> {
  await sharp({ create: { width, height, channels: 3, background: colour } })
    .png()
    .toFile(file);
  return file;
}

export async function run(
  paths: string[],
  options: AnalyzeOptions,
  engine = new FakeEngine(),
  extra: { openSource?: (p: string) => Promise<MediaFile>; tty?: boolean } = {},
) {
  const out = new Sink();
  const err = new Sink(extra.tty ?? false);
  const code = await runAnalyze(paths, options, { engine, out, err, openSource: extra.openSource });
  return { code, out, err, engine };
}
