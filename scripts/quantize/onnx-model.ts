// ONNX protobuf helpers on top of onnx-proto (protobufjs static code): decode/encode, tensors to and
// from typed arrays, and the opset upgrade that per-axis DequantizeLinear needs (opset >= 13).
import { createRequire } from 'node:module';
import type { onnx as OnnxNs } from 'onnx-proto';

export const { onnx } = createRequire(import.meta.url)('onnx-proto') as { onnx: typeof OnnxNs };
export type Model = OnnxNs.ModelProto;
export type Graph = OnnxNs.IGraphProto;
export type Tensor = OnnxNs.ITensorProto;
export type Node = OnnxNs.INodeProto;
type IntLike = number | { toString(): string };

export const DT = onnx.TensorProto.DataType;
const AT = onnx.AttributeProto.AttributeType;

export function decodeModel(bytes: Uint8Array): Model {
  return onnx.ModelProto.decode(bytes);
}

/** Serialises deterministically: protobufjs writes fields in schema order and ONNX has no map fields. */
export function encodeModel(model: Model): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

export function num(v: IntLike | null | undefined): number {
  return v === null || v === undefined ? 0 : Number(v.toString());
}

/** Copies raw little-endian bytes into a fresh (aligned) buffer. Kiosk targets and CI are little-endian. */
function aligned(raw: Uint8Array): ArrayBuffer {
  return new Uint8Array(raw).buffer; // a copy: Buffer#slice would share the pool
}

export function tensorSize(t: Tensor): number {
  return (t.dims ?? []).reduce<number>((a, d) => a * num(d), 1);
}

export function floatValues(t: Tensor): Float32Array {
  if (t.dataType !== DT.FLOAT) throw new TypeError(`tensor ${t.name} is not float32`);
  if (t.rawData?.length) return new Float32Array(aligned(t.rawData));
  return Float32Array.from(t.floatData ?? []);
}

function tensor(name: string, dims: readonly number[], dataType: number, raw: Uint8Array): Tensor {
  return onnx.TensorProto.create({ name, dims: [...dims], dataType, rawData: raw });
}

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

export function floatTensor(name: string, dims: readonly number[], v: Float32Array): Tensor {
  return tensor(name, dims, DT.FLOAT, bytesOf(v));
}
export function float16Tensor(name: string, dims: readonly number[], bits: Uint16Array): Tensor {
  return tensor(name, dims, DT.FLOAT16, bytesOf(bits));
}
export function int8Tensor(name: string, dims: readonly number[], v: Int8Array | Uint8Array, signed: boolean): Tensor {
  return tensor(name, dims, signed ? DT.INT8 : DT.UINT8, bytesOf(v));
}
export function int64Tensor(name: string, dims: readonly number[], v: readonly IntLike[]): Tensor {
  return tensor(name, dims, DT.INT64, bytesOf(BigInt64Array.from(v.map((x) => BigInt(x.toString())))));
}

export function intAttr(name: string, i: number): OnnxNs.IAttributeProto {
  return onnx.AttributeProto.create({ name, type: AT.INT, i });
}

export function node(opType: string, inputs: string[], outputs: string[], name: string, attribute: OnnxNs.IAttributeProto[] = []): Node {
  return onnx.NodeProto.create({ opType, input: inputs, output: outputs, name, attribute });
}

export function attr(n: Node, name: string): OnnxNs.IAttributeProto | undefined {
  return (n.attribute ?? []).find((a) => a.name === name);
}

/** Opset of the default ("" / "ai.onnx") domain. */
export function defaultOpset(model: Model): number {
  const o = model.opsetImport.find((x) => !x.domain || x.domain === 'ai.onnx');
  if (!o) throw new Error('model has no default-domain opset import');
  return num(o.version);
}

/** Ops whose semantics do not change between opset 9 and 13 for the attributes these models use. */
const UNCHANGED_9_TO_13 = new Set([
  'Add',
  'AveragePool',
  'BatchNormalization',
  'Concat',
  'Constant',
  'Conv',
  'Div',
  'Exp',
  'Flatten',
  'Gather',
  'Gemm',
  'GlobalAveragePool',
  'Identity',
  'LeakyRelu',
  'MatMul',
  'MaxPool',
  'Mul',
  'PRelu',
  'Relu',
  'Reshape',
  'Shape',
  'Sigmoid',
  'Sub',
  'Tanh',
  'Transpose',
]);

/** Rank of a value when the graph declares it (outputs and value_info); undefined otherwise. */
function declaredRank(g: Graph, name: string): number | undefined {
  const vi = [...(g.output ?? []), ...(g.valueInfo ?? []), ...(g.input ?? [])].find((v) => v.name === name);
  const dims = vi?.type?.tensorType?.shape?.dim;
  return dims ? dims.length : undefined;
}

/**
 * Raises the default-domain opset to `target` (>= 13), rewriting the ops whose signature changed:
 * Unsqueeze (axes attribute -> input, 13) and Slice (starts/ends/axes/steps attributes -> inputs, 10).
 * Softmax changed meaning at 13 (one axis instead of "flatten from axis"); it is accepted only where
 * the axis is the declared last axis, where both meanings agree. Any other op not known to be unchanged
 * is refused, so the script never silently changes what a graph computes.
 */
export function upgradeOpset(model: Model, target: number): void {
  const from = defaultOpset(model);
  if (from >= target) return;
  if (from < 9) throw new Error(`opset ${from} is too old to upgrade safely`);
  const g = model.graph!;
  const extra: Tensor[] = [];
  for (const n of g.node ?? []) {
    const op = n.opType ?? '';
    const id = n.output?.[0] ?? n.name ?? op;
    if (op === 'Unsqueeze' && from < 13) {
      const axes = attr(n, 'axes');
      if (!axes) throw new Error(`Unsqueeze ${id} has no axes attribute`);
      const t = int64Tensor(`${id}__axes`, [axes.ints!.length], axes.ints!);
      extra.push(t);
      n.input = [n.input![0], t.name!];
      n.attribute = (n.attribute ?? []).filter((a) => a.name !== 'axes');
    } else if (op === 'Slice' && from < 10) {
      const get = (k: string) => attr(n, k)?.ints ?? null;
      const starts = get('starts');
      const ends = get('ends');
      if (!starts || !ends) throw new Error(`Slice ${id} lacks starts/ends`);
      const inputs = [n.input![0]];
      for (const [k, v] of [
        ['starts', starts],
        ['ends', ends],
        ['axes', get('axes')],
      ] as const) {
        if (!v) break;
        const t = int64Tensor(`${id}__${k}`, [v.length], v);
        extra.push(t);
        inputs.push(t.name!);
      }
      n.input = inputs;
      n.attribute = [];
    } else if (op === 'Softmax' || op === 'LogSoftmax' || op === 'Hardmax') {
      const axis = num(attr(n, 'axis')?.i ?? 1);
      const rank = declaredRank(g, n.output![0]);
      if (axis !== -1 && (rank === undefined || axis !== rank - 1)) {
        throw new Error(`${op} ${id}: axis ${axis} is not the declared last axis; opset 13 would change its meaning`);
      }
    } else if (!UNCHANGED_9_TO_13.has(op)) {
      throw new Error(`op ${op} (${id}) is not known to keep its meaning from opset ${from} to ${target}`);
    }
  }
  g.initializer = [...(g.initializer ?? []), ...extra];
  for (const o of model.opsetImport) if (!o.domain || o.domain === 'ai.onnx') o.version = target;
  // Opset 13 needs IR version 7 or later.
  if (num(model.irVersion) < 7) model.irVersion = 7;
}
