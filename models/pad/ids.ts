/**
 * The presentation-attack models the engine knows how to feed (manifest ids; `x@fp16` variants are
 * chosen by `engine.variant`). The config schema offers exactly these for `engine.padModels`.
 */
export const PAD_MODEL_IDS = ['fr_liveness', 'minifasnet_v2', 'minifasnet_v1se', 'minifas_celebaspoof', 'hyperfas', 'antispoof'] as const;

export type PadModelId = (typeof PAD_MODEL_IDS)[number];
