import { cropResize, scaledInside, toPlanar, type Box, type RgbImage } from '../../base/rgb-image.js';
import type { ModelSession, TensorData } from '../runtime/types.js';
import { softmax } from '../eyes/eye-state.js';

/** How a MiniFASNet-family model sees a face: its input side, the crop around the face box, its live class. */
export interface MiniFasParams {
  /** Square input side, px. */
  input: number;
  /** Crop = the face box scaled by this (kept inside the frame): the model looks for screen bezels, print edges and moire around the face. */
  cropScale: number;
  /** Index of the live class among the three outputs (the other two are attack classes). */
  liveClass: number;
}

/**
 * Per model: fr_liveness (faceplugin, 128 px, 2.7x; measured on the NUAA sample: class 0 is live) and
 * the two Silent-Face-Anti-Spoofing models (80 px; 2.7x and 4.0x as their file names and authors
 * say; class 1 is live in their code).
 */
export const MINIFAS_PARAMS: Readonly<Record<string, MiniFasParams>> = {
  fr_liveness: { input: 128, cropScale: 2.7, liveClass: 0 },
  minifasnet_v2: { input: 80, cropScale: 2.7, liveClass: 1 },
  minifasnet_v1se: { input: 80, cropScale: 4.0, liveClass: 1 },
};

export const PAD_INPUT = MINIFAS_PARAMS.fr_liveness.input;
export const PAD_CROP_SCALE = MINIFAS_PARAMS.fr_liveness.cropScale;
export const PAD_LIVE_CLASS = MINIFAS_PARAMS.fr_liveness.liveClass;

/** The parameters of a manifest id (a quantized variant `x@fp16` is model `x`); null when not a MiniFASNet we know. */
export function miniFasParams(modelId: string): MiniFasParams | null {
  return MINIFAS_PARAMS[modelId.split('@')[0]] ?? null;
}

/**
 * The scaled face-box crop (kept inside the frame) resized to the model's input, channels B,G,R,
 * raw 0-255, NCHW. The B,G,R order matters: fed R,G,B, fr_liveness calls nearly every real face an attack.
 */
export function preprocessPad(frame: RgbImage, box: Box, p: MiniFasParams = MINIFAS_PARAMS.fr_liveness): TensorData {
  const crop = scaledInside(box, p.cropScale, frame.width, frame.height);
  const img = cropResize(frame, crop, p.input, p.input);
  return { data: toPlanar(img, 'bgr', 0, 1), shape: [1, 3, p.input, p.input] };
}

/** Attack score in [0, 1] from the three logits: 1 - P(live). */
export function attackScoreFromLogits(logits: ArrayLike<number>, liveClass = PAD_LIVE_CLASS): number {
  return 1 - softmax(logits)[liveClass];
}

/** Passive presentation-attack detector of the MiniFASNet family (fr_liveness, Silent-Face's V2 and V1SE). */
export class SilentFacePad {
  constructor(
    private readonly session: ModelSession,
    private readonly params: MiniFasParams = MINIFAS_PARAMS.fr_liveness,
  ) {}

  async run(frame: RgbImage, box: Box): Promise<number> {
    const out = await this.session.run({ [this.session.inputNames[0]]: preprocessPad(frame, box, this.params) });
    return attackScoreFromLogits(out[this.session.outputNames[0]].data, this.params.liveClass);
  }
}
