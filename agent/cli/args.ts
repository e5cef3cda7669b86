/** Option parsers of the kiosk commands that know the face engine. */
import { InvalidArgumentError } from 'commander';
import { MODEL_VARIANTS, type ModelVariant } from '../../models/variants.js';

/** `--variant`: one of the weight variants (float, fp16, int8). */
export function variantArg(value: string): ModelVariant {
  if (!(MODEL_VARIANTS as readonly string[]).includes(value)) throw new InvalidArgumentError(`--variant must be one of ${MODEL_VARIANTS.join(', ')}`);
  return value as ModelVariant;
}
