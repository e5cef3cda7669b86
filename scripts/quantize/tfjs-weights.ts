// uint8 weight quantization of TensorFlow.js graph models, the format tfjs's own converter writes:
// each weightsManifest entry gets `quantization: { dtype: 'uint8', min, scale }` and 1 byte per value
// in the .bin; tf.io's decodeWeights dequantizes (q * scale + min) at load, so compute stays float32.
import { fromFloat16, quantizeAffineUint8 } from './math.js';

export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; min?: number; scale?: number; original_dtype?: string };
  [k: string]: unknown;
}

export interface ModelJson {
  modelTopology: unknown;
  weightsManifest: { paths: string[]; weights: WeightSpec[] }[];
  [k: string]: unknown;
}

export interface TfjsQuantResult {
  json: Uint8Array;
  bin: Uint8Array;
  report: { quantized: number; kept: number };
}

const BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2 };

function storedBytes(spec: WeightSpec, count: number): number {
  const dt = spec.quantization?.dtype ?? spec.dtype;
  const b = BYTES[dt];
  if (b === undefined) throw new Error(`weight ${spec.name}: unsupported stored dtype ${dt}`);
  return b * count;
}

/** The float32 values of a float weight as the tfjs loader would see them. */
export function decodeFloatWeight(spec: WeightSpec, raw: Uint8Array): Float32Array {
  const copy = new Uint8Array(raw).buffer;
  const q = spec.quantization;
  if (!q) return new Float32Array(copy);
  if (q.dtype === 'float16') return fromFloat16(new Uint16Array(copy));
  if (q.dtype === 'uint8') {
    const out = new Float32Array(raw.length);
    for (let i = 0; i < raw.length; i++) out[i] = raw[i] * q.scale! + q.min!;
    return out;
  }
  throw new Error(`weight ${spec.name}: cannot decode quantization ${q.dtype}`);
}

/**
 * Rewrites a tfjs graph model with uint8 affine weights. `bins` are the original weight files in
 * manifest path order (concatenated, as the loader does). Float weights smaller than `minElements`
 * (biases, BN vectors) keep their original encoding; int32 weights are copied unchanged.
 */
export function quantizeTfjsUint8(jsonBytes: Uint8Array, bins: Uint8Array[], binName: string, minElements = 256): TfjsQuantResult {
  const json = JSON.parse(Buffer.from(jsonBytes).toString('utf8')) as ModelJson;
  const total = bins.reduce((n, b) => n + b.length, 0);
  const data = new Uint8Array(total);
  let at = 0;
  for (const b of bins) {
    data.set(b, at);
    at += b.length;
  }
  const specs: WeightSpec[] = [];
  const parts: Uint8Array[] = [];
  const report = { quantized: 0, kept: 0 };
  let off = 0;
  for (const spec of json.weightsManifest.flatMap((g) => g.weights)) {
    const count = spec.shape.reduce((a, b) => a * b, 1);
    const len = storedBytes(spec, count);
    if (off + len > data.length) throw new Error(`weight ${spec.name} runs past the end of the weight data`);
    const raw = data.subarray(off, off + len);
    off += len;
    if (spec.dtype !== 'float32' || count < minElements || spec.quantization?.dtype === 'uint8') {
      specs.push(spec);
      parts.push(raw);
      if (spec.dtype === 'float32') report.kept++;
      continue;
    }
    const q = quantizeAffineUint8(decodeFloatWeight(spec, raw));
    const { quantization: _drop, ...rest } = spec;
    specs.push({ ...rest, quantization: { dtype: 'uint8', min: q.min, scale: q.scale, original_dtype: 'float32' } });
    parts.push(q.data);
    report.quantized++;
  }
  if (off !== data.length) throw new Error(`weight data has ${data.length - off} bytes the manifest does not describe`);
  const bin = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  at = 0;
  for (const p of parts) {
    bin.set(p, at);
    at += p.length;
  }
  const out: ModelJson = { ...json, weightsManifest: [{ paths: [binName], weights: specs }] };
  return { json: new TextEncoder().encode(JSON.stringify(out)), bin, report };
}
