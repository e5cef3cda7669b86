import t from 'tap';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { defaultModelsDir, findModel, readManifest, readVerified } from '../../models/manifest.js';
import {
  dequantizeAffineUint8,
  dequantizeLinear,
  float16BitsToFloat32,
  float32ToFloat16Bits,
  quantizeAffineUint8,
  quantizeLinear,
  roundHalfEven,
} from '../../scripts/quantize/math.js';
import { quantizeOnnxFloat16, quantizeOnnxInt8 } from '../../scripts/quantize/onnx-weights.js';
import { decodeModel, defaultOpset } from '../../scripts/quantize/onnx-model.js';
import { quantizeTfjsUint8, decodeFloatWeight, type ModelJson } from '../../scripts/quantize/tfjs-weights.js';
import { deriveVariant, VARIANTS } from '../../scripts/quantize/derive.js';

t.test('round half to even', async (t) => {
  t.same([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4, -2.6].map(roundHalfEven), [0, 2, 2, -0, -2, -2, 2, -3]);
});

t.test('int8 per-channel symmetric: scales per axis 0, zero point 0, error <= scale/2', async (t) => {
  // Two output channels of 2x2: channel 0 in [-1, 0.5], channel 1 in [-0.01, 0.02].
  const w = new Float32Array([-1, 0.5, 0.25, 0, 0.02, -0.01, 0.005, 0.0199]);
  const q = quantizeLinear(w, [2, 1, 2, 2], 0, 'int8');
  t.same([...q.scales], [Math.fround(1 / 127), Math.fround(0.02 / 127)]);
  t.same([...q.zeroPoints], [0, 0]);
  t.same([...q.data.slice(0, 4)], [-127, 64, 32, 0]);
  t.equal(q.data[4], 127);
  const back = dequantizeLinear(q, [2, 1, 2, 2]);
  for (let i = 0; i < w.length; i++) t.ok(Math.abs(back[i] - w[i]) <= q.scales[i < 4 ? 0 : 1] / 2 + 1e-7, `element ${i}`);
  // The small channel keeps its precision: per-tensor would flatten it to 0 or +-1 code.
  const perTensor = quantizeLinear(w, [2, 1, 2, 2], null, 'int8');
  t.equal(perTensor.scales.length, 1);
  t.ok(Math.abs(dequantizeLinear(perTensor, [8])[7] - w[7]) > 20 * Math.abs(back[7] - w[7]));
});

t.test('uint8 asymmetric per axis 1 and all-zero channels', async (t) => {
  const w = new Float32Array([0, 1, 3, 0, 3, 5]); // shape [2,3], axis 1: channels (0,0), (1,3), (3,5)
  const q = quantizeLinear(w, [2, 3], 1, 'uint8');
  t.equal(q.scales[0], 1, 'an all-zero channel gets scale 1');
  t.same([...q.zeroPoints], [0, 0, 0]);
  t.same([...q.data], [0, 85, 153, 0, 255, 255]);
  const m = quantizeLinear(new Float32Array([-1, 3]), [2], null, 'uint8');
  t.equal(m.zeroPoints[0], 64, 'zero point = round(1 / (4/255))');
  const back = dequantizeLinear(m, [2]);
  t.ok(Math.abs(back[0] + 1) <= m.scales[0] && Math.abs(back[1] - 3) <= m.scales[0]);
});

t.test('tfjs affine uint8: zero is exact, error <= scale/2', async (t) => {
  const w = new Float32Array(1000).map((_, i) => Math.sin(i) * (i % 7 === 0 ? 0 : 0.3) - 0.05);
  w[3] = 0;
  const q = quantizeAffineUint8(w);
  t.equal(q.scale, Math.fround(q.scale));
  const back = dequantizeAffineUint8(q);
  t.equal(back[3], 0, 'an exact zero stays exactly zero');
  let worst = 0;
  for (let i = 0; i < w.length; i++) worst = Math.max(worst, Math.abs(back[i] - w[i]));
  t.ok(worst <= q.scale / 2 + 1e-6, `worst ${worst} vs scale ${q.scale}`);
});

t.test('float16 conversion: exact values, rounding, subnormals, overflow', async (t) => {
  t.equal(float32ToFloat16Bits(1), 0x3c00);
  t.equal(float32ToFloat16Bits(-2), 0xc000);
  t.equal(float32ToFloat16Bits(65504), 0x7bff);
  t.equal(float32ToFloat16Bits(1e6), 0x7c00, 'overflow to infinity');
  t.equal(float32ToFloat16Bits(2 ** -24), 0x0001, 'smallest subnormal');
  t.equal(float32ToFloat16Bits(1 + 2 ** -11), 0x3c00, 'tie rounds to even (down)');
  t.equal(float32ToFloat16Bits(1 + 3 * 2 ** -11), 0x3c02, 'tie rounds to even (up)');
  for (const v of [0.1, -Math.PI, 1e-5, 1234.5]) t.ok(Math.abs(float16BitsToFloat32(float32ToFloat16Bits(v)) - v) <= Math.abs(v) * 2 ** -11 + 2 ** -25, `${v}`);
});

t.test('tfjs uint8 rewrite: manifest entries, byte layout, float16 originals decoded', async (t) => {
  const f16 = new Uint16Array(300).map((_, i) => float32ToFloat16Bits((i - 150) / 100));
  const i32 = new Int32Array([7, -1]);
  const json: ModelJson = {
    modelTopology: { node: [] },
    format: 'graph-model',
    weightsManifest: [
      {
        paths: ['m.bin'],
        weights: [
          { name: 'w', shape: [300], dtype: 'float32', quantization: { dtype: 'float16' } },
          { name: 'b', shape: [2], dtype: 'int32' },
          { name: 'tiny', shape: [1], dtype: 'float32' },
        ],
      },
    ],
  };
  const bin = new Uint8Array([...new Uint8Array(f16.buffer), ...new Uint8Array(i32.buffer), ...new Uint8Array(new Float32Array([0.5]).buffer)]);
  const r = quantizeTfjsUint8(new TextEncoder().encode(JSON.stringify(json)), [bin], 'q.bin');
  const out = JSON.parse(Buffer.from(r.json).toString()) as ModelJson;
  t.same(out.weightsManifest[0].paths, ['q.bin']);
  const [w, b, tiny] = out.weightsManifest[0].weights;
  t.match(w.quantization, { dtype: 'uint8', min: Number, scale: Number });
  t.same(b, json.weightsManifest[0].weights[1]);
  t.same(tiny, json.weightsManifest[0].weights[2], 'small weights keep their encoding');
  t.equal(r.bin.length, 300 + 8 + 4);
  const back = decodeFloatWeight(w, r.bin.subarray(0, 300));
  for (let i = 0; i < 300; i++) if (Math.abs(back[i] - (i - 150) / 100) > w.quantization!.scale! / 2 + 1e-3) t.fail(`w[${i}]`);
  t.same([...new Int32Array(r.bin.slice(300, 308).buffer)], [7, -1]);
});

const hasModels = await readManifest().then((m) =>
  readVerified(findModel(m, 'fr_eye')).then(
    () => true,
    () => false,
  ),
);

t.test(
  'fr_eye int8 / fp16: deterministic, opset 13, loads in ONNX Runtime, output close to float',
  { skip: hasModels ? false : 'models/files not fetched' },
  async (t) => {
    const src = new Uint8Array(await readFile(join(defaultModelsDir(), 'faceplugin/fr_eye.onnx')));
    const a = quantizeOnnxInt8(src);
    const b = quantizeOnnxInt8(new Uint8Array(src));
    t.ok(Buffer.from(a.bytes).equals(Buffer.from(b.bytes)), 'same input bytes give the same output bytes');
    t.ok(a.bytes.length < src.length * 0.4, `int8 file is ${a.bytes.length} of ${src.length} bytes`);
    const m = decodeModel(a.bytes);
    t.equal(defaultOpset(m), 13);
    const dq = m.graph!.node!.filter((n) => n.opType === 'DequantizeLinear');
    t.equal(dq.length, a.report.quantized);
    t.ok(
      dq.every((n) => n.attribute?.some((x) => x.name === 'axis')),
      'Conv weights are per channel',
    );
    const h = quantizeOnnxFloat16(src);

    const opts: ort.InferenceSession.SessionOptions = { intraOpNumThreads: 1, executionProviders: ['cpu'] };
    const [s0, s1, s2] = await Promise.all([src, a.bytes, h.bytes].map((x) => ort.InferenceSession.create(x, opts)));
    const x = new Float32Array(24 * 24).map((_, i) => 0.5 + 0.4 * Math.sin(i / 7) * Math.cos(i / 31));
    const run = async (s: ort.InferenceSession) =>
      (await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', x, [1, 1, 24, 24]) }))[s.outputNames[0]].data as Float32Array;
    const [y0, y1, y2] = [await run(s0), await run(s1), await run(s2)];
    const range = Math.max(...y0.map(Math.abs));
    for (let i = 0; i < y0.length; i++) {
      t.ok(Math.abs(y0[i] - y1[i]) <= 0.05 * range + 0.05, `int8 logit ${i}: ${y1[i]} vs ${y0[i]}`);
      t.ok(Math.abs(y0[i] - y2[i]) <= 0.01 * range + 0.01, `fp16 logit ${i}: ${y2[i]} vs ${y0[i]}`);
    }
    for (const s of [s0, s1, s2]) await s.release();
  },
);

t.test('derived manifest entry: derivedFrom, hash of the bytes, same task and input', { skip: hasModels ? false : 'models/files not fetched' }, async (t) => {
  const manifest = await readManifest();
  const orig = findModel(manifest, 'fr_eye');
  const d = deriveVariant(orig, await readVerified(orig), VARIANTS.find((v) => v.model === 'fr_eye' && v.tag === 'int8')!);
  t.equal(d.entry.id, 'fr_eye@int8');
  t.same(d.entry.input, orig.input);
  t.equal(d.entry.task, orig.task);
  t.match(d.entry.files[0], {
    path: 'quantized/fr_eye-int8.onnx',
    bytes: d.files[0].bytes.length,
    derivedFrom: { model: 'fr_eye', method: 'int8-weights-per-channel' },
  });
  t.notOk(d.entry.files[0].source, 'no source: fetch-models.mjs skips it');
  const committed = manifest.models.find((m) => m.id === 'fr_eye@int8');
  if (committed) t.same(committed.files, d.entry.files, 'the committed manifest hash matches what this machine derives');
});
