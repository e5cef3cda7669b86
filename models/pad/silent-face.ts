import { cropResize, scaledInside, toPlanar, type Box, type RgbImage } from '../image/rgb-image.js';
import type { ModelSession, TensorData } from '../runtime/types.js';
import { softmax } from '../eyes/eye-state.js';

export const PAD_INPUT = 128;
/** Context around the face box: the model looks for screen bezels, print edges and moiré around the face. */
export const PAD_CROP_SCALE = 2.7;
/** Output class of a live face (the other two are attack classes); measured on the NUAA sample: class 0 is live. */
export const PAD_LIVE_CLASS = 0;

/**
 * 2.7x face-box crop (kept inside the frame) resized to 128x128, channels B,G,R, raw 0-255, NCHW.
 * The B,G,R order matters: fed R,G,B the model calls nearly every real face an attack.
 */
export function preprocessPad(frame: RgbImage, box: Box): TensorData {
  const crop = scaledInside(box, PAD_CROP_SCALE, frame.width, frame.height);
  const img = cropResize(frame, crop, PAD_INPUT, PAD_INPUT);
  return { data: toPlanar(img, 'bgr', 0, 1), shape: [1, 3, PAD_INPUT, PAD_INPUT] };
}

/** Attack score in [0, 1] from the three logits: 1 - P(live). */
export function attackScoreFromLogits(logits: ArrayLike<number>): number {
  return 1 - softmax(logits)[PAD_LIVE_CLASS];
}

/** Passive presentation-attack detector (fr_liveness, MiniFASNet family). */
export class SilentFacePad {
  constructor(private readonly session: ModelSession) {}

  async run(frame: RgbImage, box: Box): Promise<number> {
    const out = await this.session.run({ [this.session.inputNames[0]]: preprocessPad(frame, box) });
    return attackScoreFromLogits(out[this.session.outputNames[0]].data);
  }
}
