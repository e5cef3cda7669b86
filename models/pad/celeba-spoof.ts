import { cropReflect, resize, toPlanar, type Box, type RgbImage } from '../../base/rgb-image.js';
import type { ModelSession, TensorData } from '../runtime/types.js';
import { softmax } from '../eyes/eye-state.js';

/** The manifest id of the CelebA-Spoof MiniFASNetV2-SE (face-antispoof-onnx). */
export const CELEBA_SPOOF_MODEL = 'minifas_celebaspoof';

/** Whether a manifest id (or a variant of it, `x@fp16`) is that model. */
export function isCelebaSpoofModel(modelId: string): boolean {
  return modelId.split('@')[0] === CELEBA_SPOOF_MODEL;
}

/** Input side of the CelebA-Spoof MiniFASNetV2-SE, px. */
export const CELEBA_SPOOF_INPUT = 128;
/** The square crop's side = the face box's longer side times this, as the model was trained. */
export const CELEBA_SPOOF_EXPANSION = 1.5;

/**
 * The model's own preprocessing: a square of 1.5x the box's longer side centred on the box, the
 * part outside the frame mirrored (BORDER_REFLECT_101), resized to 128x128, R,G,B, x / 255, NCHW.
 */
export function preprocessCelebaSpoof(frame: RgbImage, box: Box): TensorData {
  const side = Math.max(box.width, box.height);
  const size = Math.max(1, Math.trunc(side * CELEBA_SPOOF_EXPANSION));
  const cx = box.x + box.width / 2;
  const cy = box.y + box.height / 2;
  const crop = cropReflect(frame, Math.trunc(cx - size / 2), Math.trunc(cy - size / 2), size);
  const img = resize(crop, CELEBA_SPOOF_INPUT, CELEBA_SPOOF_INPUT);
  return { data: toPlanar(img, 'rgb', 0, 255), shape: [1, 3, CELEBA_SPOOF_INPUT, CELEBA_SPOOF_INPUT] };
}

/**
 * MiniFASNetV2-SE trained on CelebA-Spoof (johnraivenolazo/face-antispoof-onnx, Apache-2.0): two
 * logits, [real, spoof]. Attack score = P(spoof).
 */
export class CelebaSpoofPad {
  constructor(private readonly session: ModelSession) {}

  async run(frame: RgbImage, box: Box): Promise<number> {
    const out = await this.session.run({ [this.session.inputNames[0]]: preprocessCelebaSpoof(frame, box) });
    return 1 - softmax(out[this.session.outputNames[0]].data)[0];
  }
}
