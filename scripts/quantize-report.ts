// Size, load time, single-thread inference time and output drift of every quantized variant against
// its float original, on real inputs from ../shared/data. Prints a markdown table (stdout).
//
//   npx tsx scripts/quantize-report.ts [--runs 50] [--per-set 6] [--only fr_feature,...] [--json]
//
// Needs `npm run quantize` to have written models/files/quantized/ (files are verified against the
// manifest before loading, like the engine does). Timing: the float and quantized sessions run
// alternately on the same input, one intra-op thread, after 3 warm-up runs; median reported.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createProgress } from '../base/progress.js';
import { findModel, readManifest, readVerified, type ManifestModel } from '../models/manifest.js';
import { OnnxRuntime } from '../models/runtime/onnx.js';
import { TfjsRuntime } from '../models/runtime/tfjs.js';
import type { InferenceRuntime, ModelSession, TensorData } from '../models/runtime/types.js';
import { attackScoreFromLogits } from '../models/pad/silent-face.js';
import { EYE_OPEN_CLASS, softmax } from '../models/eyes/eye-state.js';
import { derivedId, VARIANTS } from './quantize/derive.js';
import { buildInputs, pickImages } from './quantize/inputs.js';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const RUNS = Number(arg('--runs', '50'));
const PER_SET = Number(arg('--per-set', '6'));
const ONLY = process.argv.includes('--only') ? arg('--only', '').split(',') : null;
const DATA = resolve(process.env.KIOSK_TEST_DATA ?? join(fileURLToPath(import.meta.url), '../../../shared/data'));

const median = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

interface Row {
  id: string;
  original: string;
  bytes: number;
  origBytes: number;
  loadMs: number;
  origLoadMs: number;
  inferMs: number;
  origInferMs: number;
  inputs: number;
  maxAbs: number;
  meanAbs: number;
  /** Largest |output| of the float model, to read maxAbs against. */
  range: number;
  task: string;
}

async function load(rt: InferenceRuntime, model: ManifestModel): Promise<{ s: ModelSession; ms: number }> {
  const files = await readVerified(model);
  const t0 = performance.now();
  const s = await rt.load(model, files);
  return { s, ms: performance.now() - t0 };
}

const cosine = (a: Float32Array, b: Float32Array) => {
  let ab = 0,
    aa = 0,
    bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb);
};

async function measure(orig: ManifestModel, quant: ManifestModel, rt: InferenceRuntime, inputs: TensorData[]): Promise<Row> {
  const a = await load(rt, orig);
  const b = await load(rt, quant);
  try {
    const feed = (s: ModelSession, t: TensorData) => s.run({ [s.inputNames[0]]: t });
    let maxAbs = 0,
      sum = 0,
      count = 0,
      range = 0;
    const task: number[] = [];
    for (const x of inputs) {
      const [oa, ob] = [await feed(a.s, x), await feed(b.s, x)];
      for (const name of a.s.outputNames) {
        const [va, vb] = [oa[name].data, ob[name].data];
        for (let i = 0; i < va.length; i++) {
          const d = Math.abs(va[i] - vb[i]);
          if (d > maxAbs) maxAbs = d;
          if (Math.abs(va[i]) > range) range = Math.abs(va[i]);
          sum += d;
          count++;
        }
        // Task-level drift: embeddings by cosine, the PAD model by its attack score.
        if (orig.task === 'embed' && va.length >= 128) task.push(cosine(va, vb));
        if (orig.id === 'fr_liveness') task.push(Math.abs(attackScoreFromLogits(va) - attackScoreFromLogits(vb)));
        if (orig.id === 'fr_eye') task.push(Math.abs(softmax(va)[EYE_OPEN_CLASS] - softmax(vb)[EYE_OPEN_CLASS]));
      }
    }
    const ta: number[] = [],
      tb: number[] = [];
    const x0 = inputs[0];
    for (let i = 0; i < 3; i++) {
      await feed(a.s, x0);
      await feed(b.s, x0);
    }
    for (let i = 0; i < RUNS; i++) {
      let t = performance.now();
      await feed(a.s, x0);
      ta.push(performance.now() - t);
      t = performance.now();
      await feed(b.s, x0);
      tb.push(performance.now() - t);
    }
    const taskText = !task.length
      ? ''
      : orig.task === 'embed'
        ? `cosine min ${Math.min(...task).toFixed(4)} / mean ${(task.reduce((p, q) => p + q, 0) / task.length).toFixed(4)}`
        : `${orig.id === 'fr_eye' ? 'P(open)' : 'attack score'} |Δ| max ${Math.max(...task).toFixed(4)}`;
    return {
      id: quant.id,
      original: orig.id,
      bytes: quant.files.reduce((n, f) => n + f.bytes, 0),
      origBytes: orig.files.reduce((n, f) => n + f.bytes, 0),
      loadMs: b.ms,
      origLoadMs: a.ms,
      inferMs: median(tb),
      origInferMs: median(ta),
      inputs: inputs.length,
      maxAbs,
      meanAbs: sum / count,
      range,
      task: taskText,
    };
  } finally {
    await a.s.dispose();
    await b.s.dispose();
  }
}

async function main(): Promise<void> {
  if (!existsSync(join(DATA, 'labels'))) throw new Error(`no data in ${DATA} (set KIOSK_TEST_DATA)`);
  const manifest = await readManifest();
  const images = pickImages(DATA, PER_SET);
  console.error(`[report] ${images.length} images from ${DATA}; building inputs with the float engine`);
  const inputs = await buildInputs(images, (p, why) => console.error(`[report] ${p}: ${why}`));
  const onnx = new OnnxRuntime({ threads: 1 });
  const tfjs = new TfjsRuntime();
  const rows: Row[] = [];
  const variants = VARIANTS.filter((x) => !ONLY || ONLY.includes(x.model));
  // On a terminal (not in CI), a line on stderr under the results; the table or JSON on stdout is untouched.
  const progress = createProgress({ total: variants.length, label: 'quantize report' });
  try {
    for (const [i, v] of variants.entries()) {
      progress.update(i, derivedId(v));
      const orig = findModel(manifest, v.model);
      const quant = findModel(manifest, derivedId(v));
      const xs = inputs.get(v.model) ?? [];
      if (!xs.length) continue;
      const r = await measure(orig, quant, orig.runtime === 'onnx' ? onnx : tfjs, xs);
      progress.clear();
      console.error(`[report] ${r.id}: ${r.origInferMs.toFixed(2)} -> ${r.inferMs.toFixed(2)} ms, max |Δ| ${r.maxAbs.toPrecision(3)} ${r.task}`);
      rows.push(r);
    }
  } finally {
    progress.done();
  }
  await onnx.stop();
  await tfjs.stop();
  const info = tfjs.info();
  if (process.argv.includes('--json')) {
    console.log(JSON.stringify({ runs: RUNS, tfjs_backend: info.backend, rows }, null, 2));
    return;
  }
  const kb = (n: number) => `${(n / 1024).toFixed(0)} KiB`;
  console.log(
    `| variant | size (float → quant) | load ms (float → quant) | median infer ms (float → quant, ${RUNS} runs, 1 thread) | inputs | max abs Δ (float output range) | mean abs Δ | task-level drift |`,
  );
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(
      `| ${r.id} | ${kb(r.origBytes)} → ${kb(r.bytes)} (${((100 * r.bytes) / r.origBytes).toFixed(0)}%) | ${r.origLoadMs.toFixed(0)} → ${r.loadMs.toFixed(0)} | ${r.origInferMs.toFixed(2)} → ${r.inferMs.toFixed(2)} | ${r.inputs} | ${r.maxAbs.toPrecision(3)} (${r.range.toPrecision(3)}) | ${r.meanAbs.toPrecision(3)} | ${r.task} |`,
    );
  }
  console.log(
    `\nONNX Runtime ${onnx.info().version} CPU, TensorFlow.js ${info.version} backend ${info.backend}; inputs: ${images.length} images of ../shared/data (deepface-verify, faceapi-bbt, NUAA/Silent-Face spoof sets), largest face each.`,
  );
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`[report] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
