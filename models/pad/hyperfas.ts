import { cropResize, toPlanar, type Box, type RgbImage } from '../../base/rgb-image.js';
import type { ModelSession, TensorData } from '../runtime/types.js';

/** The manifest id of HyperFAS (zeusees/HyperFAS, converted from Keras). */
export const HYPERFAS_MODEL = 'hyperfas';

/** Whether a manifest id (or a variant of it, `x@fp16`) is that model. */
export function isHyperfasModel(modelId: string): boolean {
  return modelId.split('@')[0] === HYPERFAS_MODEL;
}

/** Input side of HyperFAS, px. */
export const HYPERFAS_INPUT = 224;
/** Half the crop's side = the face box's longer side times this, as its demo crops. */
export const HYPERFAS_HALF_SIDE = 0.6;

/** The crop HyperFAS's demo takes: a square of 1.2x the box's longer side about its centre, cut at the frame's edges (integer pixels). */
export function hyperfasCrop(frame: RgbImage, box: Box): Box {
  const r = Math.trunc(Math.max(box.width, box.height) * HYPERFAS_HALF_SIDE);
  const cx = Math.trunc(box.x + box.width / 2);
  const cy = Math.trunc(box.y + box.height / 2);
  const x1 = Math.max(cx - r, 0);
  const y1 = Math.max(cy - r, 0);
  const x2 = Math.min(cx + r, frame.width - 2);
  const y2 = Math.min(cy + r, frame.height - 2);
  return { x: x1, y: y1, width: Math.max(1, x2 - x1), height: Math.max(1, y2 - y1) };
}

/** The model's own preprocessing: that crop resized to 224x224, B,G,R, (x - 127.5) / 127.5, NCHW. */
export function preprocessHyperfas(frame: RgbImage, box: Box): TensorData {
  const img = cropResize(frame, hyperfasCrop(frame, box), HYPERFAS_INPUT, HYPERFAS_INPUT);
  return { data: toPlanar(img, 'bgr', 127.5, 127.5), shape: [1, 3, HYPERFAS_INPUT, HYPERFAS_INPUT] };
}

/** HyperFAS (MobileNet 0.5, BSD-3-Clause): one output, the probability the face is live. Attack score = 1 - that. */
export class HyperfasPad {
  constructor(private readonly session: ModelSession) {}

  async run(frame: RgbImage, box: Box): Promise<number> {
    const out = await this.session.run({ [this.session.inputNames[0]]: preprocessHyperfas(frame, box) });
    const live = out[this.session.outputNames[0]].data[0];
    return 1 - Math.min(1, Math.max(0, live));
  }
}
