// Quantization arithmetic shared by the ONNX and TensorFlow.js paths. Pure functions on typed arrays,
// no runtime dependency, so that the unit test can check them on known arrays.

/** Rounds half to even, as ONNX QuantizeLinear does (so 2.5 -> 2, 3.5 -> 4, -2.5 -> -2). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  // Math.round rounds .5 toward +inf; fix the ties that land on an odd integer.
  if (Math.abs(x % 1) === 0.5 && r % 2 !== 0) return r - 1;
  return r;
}

export type IntDtype = 'int8' | 'uint8';

/** Affine quantization parameters, one scale and zero point per slice along `axis` (or one for the tensor). */
export interface LinearQuant {
  dtype: IntDtype;
  /** null: per tensor. */
  axis: number | null;
  /** Quantized values, in the tensor's row-major order. */
  data: Int8Array | Uint8Array;
  /** float32 scales (already rounded to float32, as stored in the model). */
  scales: Float32Array;
  zeroPoints: Int32Array;
}

/** Number of slices along `axis` and the stride of one step along it, for a row-major tensor. */
export function axisLayout(shape: readonly number[], axis: number | null): { channels: number; inner: number } {
  if (axis === null) return { channels: 1, inner: shape.reduce((a, b) => a * b, 1) };
  if (axis < 0 || axis >= shape.length) throw new RangeError(`axis ${axis} out of range for shape [${shape.join(',')}]`);
  return { channels: shape[axis], inner: shape.slice(axis + 1).reduce((a, b) => a * b, 1) };
}

function channelOf(i: number, channels: number, inner: number): number {
  return channels === 1 ? 0 : Math.floor(i / inner) % channels;
}

/**
 * Linear quantization q = clamp(round(x / scale) + zp), dequantized as (q - zp) * scale.
 * - int8: symmetric, zp = 0, q in [-127, 127] (the -128 code is left unused, the usual choice for weights);
 * - uint8: asymmetric, the range [min(x,0), max(x,0)] mapped onto [0, 255] with an integer zp.
 * The error of every element is at most scale / 2 (int8) or scale (uint8, zp rounding).
 */
export function quantizeLinear(values: Float32Array, shape: readonly number[], axis: number | null, dtype: IntDtype): LinearQuant {
  const size = shape.reduce((a, b) => a * b, 1);
  if (size !== values.length) throw new RangeError(`shape [${shape.join(',')}] has ${size} elements, data has ${values.length}`);
  const { channels, inner } = axisLayout(shape, axis);
  const lo = new Float64Array(channels).fill(0);
  const hi = new Float64Array(channels).fill(0);
  for (let i = 0; i < size; i++) {
    const c = channelOf(i, channels, inner);
    const v = values[i];
    if (!Number.isFinite(v)) throw new RangeError(`non-finite weight at element ${i}`);
    if (v < lo[c]) lo[c] = v;
    if (v > hi[c]) hi[c] = v;
  }
  const scales = new Float32Array(channels);
  const zeroPoints = new Int32Array(channels);
  for (let c = 0; c < channels; c++) {
    if (dtype === 'int8') {
      const m = Math.max(-lo[c], hi[c]);
      scales[c] = m > 0 ? m / 127 : 1;
      zeroPoints[c] = 0;
    } else {
      const range = hi[c] - lo[c];
      scales[c] = range > 0 ? range / 255 : 1;
      zeroPoints[c] = Math.min(255, Math.max(0, roundHalfEven(-lo[c] / scales[c])));
    }
  }
  const data = dtype === 'int8' ? new Int8Array(size) : new Uint8Array(size);
  const qmin = dtype === 'int8' ? -127 : 0;
  const qmax = dtype === 'int8' ? 127 : 255;
  for (let i = 0; i < size; i++) {
    const c = channelOf(i, channels, inner);
    const q = roundHalfEven(values[i] / scales[c]) + zeroPoints[c];
    data[i] = q < qmin ? qmin : Math.min(q, qmax);
  }
  return { dtype, axis, data, scales, zeroPoints };
}

/** (q - zp) * scale in float32, as DequantizeLinear computes it. */
export function dequantizeLinear(q: LinearQuant, shape: readonly number[]): Float32Array {
  const { channels, inner } = axisLayout(shape, q.axis);
  const out = new Float32Array(q.data.length);
  for (let i = 0; i < out.length; i++) {
    const c = channelOf(i, channels, inner);
    out[i] = (q.data[i] - q.zeroPoints[c]) * q.scales[c];
  }
  return out;
}

/** TensorFlow.js-style affine uint8: value = q * scale + min, one (min, scale) per tensor. */
export interface AffineUint8 {
  data: Uint8Array;
  min: number;
  scale: number;
}

/**
 * Quantizes to uint8 the way the tfjs loader dequantizes (`q * scale + min`). The range is widened to
 * include 0 and nudged so that 0.0 maps exactly onto an integer code (zero weights stay exactly zero).
 * scale is a float32 value and min an exact multiple of it, so the JSON numbers round-trip exactly.
 */
export function quantizeAffineUint8(values: Float32Array): AffineUint8 {
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) throw new RangeError(`non-finite weight at element ${i}`);
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const data = new Uint8Array(values.length);
  if (hi === lo) return { data, min: 0, scale: 1 }; // all zeros
  const scale = Math.fround((hi - lo) / 255);
  const zp = roundHalfEven(-lo / scale);
  // Exact in float64 (24-bit mantissa x 8-bit integer), so q = zp decodes to exactly 0 in the loader.
  const min = -zp * scale;
  for (let i = 0; i < values.length; i++) {
    const q = roundHalfEven((values[i] - min) / scale);
    data[i] = q < 0 ? 0 : Math.min(q, 255);
  }
  return { data, min, scale };
}

export function dequantizeAffineUint8(q: AffineUint8): Float32Array {
  const out = new Float32Array(q.data.length);
  for (let i = 0; i < out.length; i++) out[i] = q.data[i] * q.scale + q.min;
  return out;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 -> IEEE 754 binary16 bits, round to nearest even, overflow to infinity, subnormals kept. */
export function float32ToFloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // inf / nan
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow
  if (e <= 0) {
    if (e < -10) return sign; // underflows to zero
    const m = mant | 0x800000; // implicit bit
    const shift = 14 - e;
    let half = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++; // may carry into the exponent: still correct
  return sign | h;
}

export function float16BitsToFloat32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

export function toFloat16(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = float32ToFloat16Bits(values[i]);
  return out;
}

export function fromFloat16(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = float16BitsToFloat32(bits[i]);
  return out;
}
