import { toPlanar, warpAffine, type RgbImage } from '../../base/rgb-image.js';
import type { ModelSession, TensorData } from '../runtime/types.js';
import type { FiveKeypoints } from '../types.js';
import { alignmentWarp } from './align.js';

export const EMBED_INPUT = 112;

/** 5-point aligned 112x112 crop, RGB, (x - 127.5) / 128, NCHW. */
export function preprocessEmbedding(frame: RgbImage, k: FiveKeypoints): TensorData {
  const aligned = warpAffine(frame, alignmentWarp(k), EMBED_INPUT, EMBED_INPUT);
  return { data: toPlanar(aligned, 'rgb', 127.5, 128), shape: [1, 3, EMBED_INPUT, EMBED_INPUT] };
}

/** Scales a vector to unit length (in place) and returns it. */
export function l2normalise(v: Float32Array): Float32Array {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  const n = Math.sqrt(s);
  if (n > 0) for (let i = 0; i < v.length; i++) v[i] /= n;
  return v;
}

/** 512-d face embedding (fr_feature) on the ArcFace-aligned crop; compare with cosine similarity. */
export class FaceEmbedder {
  constructor(private readonly session: ModelSession) {}

  async run(frame: RgbImage, k: FiveKeypoints): Promise<Float32Array> {
    const out = await this.session.run({ [this.session.inputNames[0]]: preprocessEmbedding(frame, k) });
    return l2normalise(Float32Array.from(out[this.session.outputNames[0]].data));
  }
}
