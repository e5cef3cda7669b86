// Weight-only quantization of ONNX models: int8 per-channel weights behind DequantizeLinear, or
// float16 weights behind Cast. The float tensor name is kept as the output of the inserted node, so
// every consumer of the weight is untouched and the model still computes in float32.
import { quantizeLinear, toFloat16, type IntDtype } from './math.js';
import {
  decodeModel,
  DT,
  encodeModel,
  float16Tensor,
  floatTensor,
  floatValues,
  int8Tensor,
  intAttr,
  node,
  attr,
  num,
  tensorSize,
  upgradeOpset,
  type Graph,
  type Model,
  type Node,
  type Tensor,
} from './onnx-model.js';

export interface Int8Options {
  /** Smallest weight (elements) worth quantizing; smaller ones stay float32. */
  minElements: number;
  /** int8 symmetric (zp 0) or uint8 asymmetric. */
  dtype: IntDtype;
  /** Per output channel (axis 0 for Conv) or one scale per tensor. */
  perChannel: boolean;
}

export const DEFAULT_INT8: Int8Options = { minElements: 256, dtype: 'int8', perChannel: true };

export interface WeightReport {
  quantized: number;
  kept: number;
  floatBytes: number;
  quantBytes: number;
}

/** The nodes that read each value, as "OpType:inputIndex" with the node. */
function consumers(g: Graph): Map<string, { n: Node; slot: number }[]> {
  const m = new Map<string, { n: Node; slot: number }[]>();
  for (const n of g.node ?? []) {
    (n.input ?? []).forEach((x, slot) => {
      if (!m.has(x)) m.set(x, []);
      m.get(x)!.push({ n, slot });
    });
  }
  return m;
}

/**
 * The output-channel axis of a weight read only as the B/W input (slot 1) of Conv, Gemm or MatMul;
 * null when the tensor is not such a weight. For a weight shared by ops that disagree, per-tensor (-1).
 */
export function weightAxis(t: Tensor, uses: { n: Node; slot: number }[] | undefined): number | null {
  if (!uses?.length) return null;
  const rank = (t.dims ?? []).length;
  const axes = new Set<number>();
  for (const { n, slot } of uses) {
    if (slot !== 1) return null;
    if (n.opType === 'Conv') axes.add(0);
    else if (n.opType === 'Gemm') axes.add(num(attr(n, 'transB')?.i) === 1 ? 0 : 1);
    else if (n.opType === 'MatMul') axes.add(rank === 2 ? 1 : -1);
    else return null;
  }
  return axes.size === 1 ? [...axes][0] : -1;
}

/** Unique name next to the graph's existing ones. */
function freshName(taken: Set<string>, base: string): string {
  let name = base;
  for (let i = 1; taken.has(name); i++) name = `${base}_${i}`;
  taken.add(name);
  return name;
}

function allNames(g: Graph): Set<string> {
  const s = new Set<string>();
  for (const t of g.initializer ?? []) s.add(t.name ?? '');
  for (const n of g.node ?? []) {
    for (const x of [...(n.input ?? []), ...(n.output ?? [])]) s.add(x);
    if (n.name) s.add(n.name);
  }
  for (const v of [...(g.input ?? []), ...(g.output ?? [])]) s.add(v.name ?? '');
  return s;
}

/**
 * int8 weight-only quantization. Returns the new model bytes; the input is not modified.
 * Conv weights [M, C/g, kh, kw] get one scale and zero point per output channel M (axis 0);
 * Gemm/MatMul weights per output column. Opset is raised to 13 for per-axis DequantizeLinear.
 */
export function quantizeOnnxInt8(bytes: Uint8Array, opts: Int8Options = DEFAULT_INT8): { bytes: Uint8Array; report: WeightReport } {
  const model: Model = decodeModel(bytes);
  upgradeOpset(model, 13);
  const g = model.graph!;
  const uses = consumers(g);
  const taken = allNames(g);
  const inits: Tensor[] = [];
  const dq: Node[] = [];
  const report: WeightReport = { quantized: 0, kept: 0, floatBytes: 0, quantBytes: 0 };
  for (const t of g.initializer ?? []) {
    const axis = t.dataType === DT.FLOAT && (t.dims ?? []).length >= 2 && tensorSize(t) >= opts.minElements ? weightAxis(t, uses.get(t.name!)) : null;
    if (axis === null) {
      inits.push(t);
      if (t.dataType === DT.FLOAT) report.kept++;
      continue;
    }
    const dims = (t.dims ?? []).map(num);
    const perAxis = opts.perChannel && axis >= 0 ? axis : null;
    const q = quantizeLinear(floatValues(t), dims, perAxis, opts.dtype);
    const name = t.name!;
    const qName = freshName(taken, `${name}_quantized`);
    const sName = freshName(taken, `${name}_scale`);
    const zName = freshName(taken, `${name}_zero_point`);
    const paramDims = perAxis === null ? [] : [dims[perAxis]];
    const zp = opts.dtype === 'int8' ? Int8Array.from(q.zeroPoints) : Uint8Array.from(q.zeroPoints);
    inits.push(
      int8Tensor(qName, dims, q.data, opts.dtype === 'int8'),
      floatTensor(sName, paramDims, q.scales),
      int8Tensor(zName, paramDims, zp, opts.dtype === 'int8'),
    );
    dq.push(
      node('DequantizeLinear', [qName, sName, zName], [name], freshName(taken, `${name}_DequantizeLinear`), perAxis === null ? [] : [intAttr('axis', perAxis)]),
    );
    report.quantized++;
    report.floatBytes += q.data.length * 4;
    report.quantBytes += q.data.length + q.scales.length * 5;
  }
  g.initializer = inits;
  g.node = [...dq, ...(g.node ?? [])];
  return { bytes: encodeModel(model), report };
}

/**
 * float16 weights: every float32 initializer of at least `minElements` becomes float16 followed by a
 * Cast to float32 carrying the original name. Cast from float16 exists since opset 6: no upgrade needed.
 */
export function quantizeOnnxFloat16(bytes: Uint8Array, minElements = 16): { bytes: Uint8Array; report: WeightReport } {
  const model: Model = decodeModel(bytes);
  const g = model.graph!;
  const taken = allNames(g);
  const inits: Tensor[] = [];
  const casts: Node[] = [];
  const report: WeightReport = { quantized: 0, kept: 0, floatBytes: 0, quantBytes: 0 };
  for (const t of g.initializer ?? []) {
    if (t.dataType !== DT.FLOAT || tensorSize(t) < minElements) {
      inits.push(t);
      if (t.dataType === DT.FLOAT) report.kept++;
      continue;
    }
    const name = t.name!;
    const hName = freshName(taken, `${name}_fp16`);
    const v = floatValues(t);
    inits.push(float16Tensor(hName, (t.dims ?? []).map(num), toFloat16(v)));
    casts.push(node('Cast', [hName], [name], freshName(taken, `${name}_Cast`), [intAttr('to', DT.FLOAT)]));
    report.quantized++;
    report.floatBytes += v.length * 4;
    report.quantBytes += v.length * 2;
  }
  g.initializer = inits;
  g.node = [...casts, ...(g.node ?? [])];
  return { bytes: encodeModel(model), report };
}
