import type { Manifest } from './manifest.js';

/** Weight variants: the float originals, or what `npm run quantize` derives from them. */
export const MODEL_VARIANTS = ['float', 'fp16', 'int8'] as const;
export type ModelVariant = (typeof MODEL_VARIANTS)[number];

/**
 * The manifest id serving `id` in `variant`: `fr_feature` + fp16 -> `fr_feature@fp16` when the manifest
 * lists it, else the original id (tfjs models have uint8 variants only, for example).
 */
export function variantId(manifest: Manifest, id: string, variant: ModelVariant): string {
  if (variant === 'float') return id;
  const derived = `${id}@${variant}`;
  return manifest.models.some((m) => m.id === derived) ? derived : id;
}
