// Which quantized variants are derived from which originals, how they are named, and the manifest
// entries that describe them. Everything here is a pure function of the original bytes.
import { createHash } from 'node:crypto';
import type { Manifest, ManifestFile, ManifestModel } from '../../models/manifest.js';
import { quantizeOnnxFloat16, quantizeOnnxInt8 } from './onnx-weights.js';
import { quantizeTfjsUint8 } from './tfjs-weights.js';

export type Method = 'int8-weights-per-channel' | 'float16-weights' | 'uint8-weights-affine';

export interface Variant {
  model: string;
  method: Method;
  /** Suffix of the derived id (`fr_feature@int8`) and of the file names. */
  tag: 'int8' | 'fp16' | 'uint8';
}

const ONNX_MODELS = ['fr_detect', 'fr_landmark', 'fr_eye', 'fr_liveness', 'fr_feature'];
const TFJS_MODELS = ['blazeface', 'facemesh', 'faceres', 'antispoof'];

/** Every variant `npm run quantize` makes, in manifest order. fr_pose is unused and skipped. */
export const VARIANTS: readonly Variant[] = [
  ...ONNX_MODELS.flatMap((model): Variant[] => [
    { model, method: 'int8-weights-per-channel', tag: 'int8' },
    { model, method: 'float16-weights', tag: 'fp16' },
  ]),
  ...TFJS_MODELS.map((model): Variant => ({ model, method: 'uint8-weights-affine', tag: 'uint8' })),
];

export const QUANT_DIR = 'quantized';

export const derivedId = (v: Variant) => `${v.model}@${v.tag}`;

const DTYPE: Record<Method, string> = {
  'int8-weights-per-channel': 'int8 weights (per-channel symmetric, DequantizeLinear, opset 13), float32 compute',
  'float16-weights': 'float16 weights (Cast to float32 at load), float32 compute',
  'uint8-weights-affine': 'uint8 weights (per-tensor affine, dequantized by the tfjs loader), float32 compute',
};

export interface DerivedFile {
  path: string;
  bytes: Uint8Array;
}

export interface DerivedModel {
  variant: Variant;
  entry: ManifestModel;
  files: DerivedFile[];
  summary: string;
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/**
 * Builds one variant from the original's verified files (path -> bytes, as readVerified returns).
 * The manifest entry copies task, input, licence and origin from the original.
 */
export function deriveVariant(original: ManifestModel, files: Map<string, Uint8Array>, v: Variant): DerivedModel {
  if (original.id !== v.model) throw new Error(`variant for ${v.model} given model ${original.id}`);
  const base = `${QUANT_DIR}/${v.model}-${v.tag}`;
  let out: DerivedFile[];
  let summary: string;
  if (original.format === 'onnx') {
    const src = files.get(original.files[0].path)!;
    const r = v.method === 'int8-weights-per-channel' ? quantizeOnnxInt8(src) : v.method === 'float16-weights' ? quantizeOnnxFloat16(src) : null;
    if (!r) throw new Error(`method ${v.method} does not apply to ONNX model ${v.model}`);
    out = [{ path: `${base}.onnx`, bytes: r.bytes }];
    summary = `${r.report.quantized} weights quantized, ${r.report.kept} float32 kept`;
  } else {
    if (v.method !== 'uint8-weights-affine') throw new Error(`method ${v.method} does not apply to tfjs model ${v.model}`);
    const json = original.files.find((f) => f.path.endsWith('.json'))!;
    const bins = original.files.filter((f) => f.path.endsWith('.bin')).map((f) => files.get(f.path)!);
    const binName = `${v.model}-${v.tag}.bin`;
    const r = quantizeTfjsUint8(files.get(json.path)!, bins, binName);
    out = [
      { path: `${base}.json`, bytes: r.json },
      { path: `${base}.bin`, bytes: r.bin },
    ];
    summary = `${r.report.quantized} weights quantized, ${r.report.kept} float kept`;
  }
  const manifestFiles: ManifestFile[] = out.map((f) => ({
    path: f.path,
    bytes: f.bytes.length,
    sha256: sha256(f.bytes),
    derivedFrom: { model: v.model, method: v.method },
  }));
  const entry: ManifestModel = {
    id: derivedId(v),
    task: original.task,
    input: original.input,
    dtype: DTYPE[v.method],
    origin: original.origin,
    format: original.format,
    runtime: original.runtime,
    licence: original.licence,
    files: manifestFiles,
  };
  return { variant: v, entry, files: out, summary };
}

/**
 * The manifest with the derived entries replaced by `derived`: original entries (and any entry this
 * script does not own) stay exactly where and as they are; derived entries come last, in VARIANTS order.
 */
export function withDerived(manifest: Manifest, derived: ManifestModel[]): Manifest {
  const ours = new Set(derived.map((d) => d.id));
  const owned = (m: ManifestModel) => ours.has(m.id) || m.files.some((f) => f.derivedFrom && VARIANTS.some((v) => derivedId(v) === m.id));
  return { ...manifest, models: [...manifest.models.filter((m) => !owned(m)), ...derived] };
}
