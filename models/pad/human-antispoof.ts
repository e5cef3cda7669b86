import { cropResize, scaledInside, toInterleaved, type Box, type RgbImage } from '../../base/rgb-image.js';
import type { ModelSession, TensorData } from '../runtime/types.js';

export const HUMAN_ANTISPOOF_INPUT = 128;

/** Face box (as is) to 128x128, RGB, x / 255, NHWC: what Human feeds its antispoof model. */
export function preprocessHumanAntispoof(frame: RgbImage, box: Box): TensorData {
  const crop = scaledInside(box, 1, frame.width, frame.height);
  const img = cropResize(frame, crop, HUMAN_ANTISPOOF_INPUT, HUMAN_ANTISPOOF_INPUT);
  return { data: toInterleaved(img, 0, 255), shape: [1, HUMAN_ANTISPOOF_INPUT, HUMAN_ANTISPOOF_INPUT, 3] };
}

/**
 * Human's antispoof model (TensorFlow.js graph): one output, the probability the face is real.
 * Kept as a measured alternative to fr_liveness; it is at chance on prints (see the README table).
 */
export class HumanAntispoofPad {
  constructor(private readonly session: ModelSession) {}

  async run(frame: RgbImage, box: Box): Promise<number> {
    const out = await this.session.run({ [this.session.inputNames[0]]: preprocessHumanAntispoof(frame, box) });
    const real = out[this.session.outputNames[0]].data[0];
    return 1 - Math.min(1, Math.max(0, real));
  }
}
