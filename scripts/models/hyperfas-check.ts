// Checks the converted HyperFAS model (models/converted/hyperfas) against the outputs that
// scripts/models/convert-hyperfas.py computed for the same inputs a second way (NumPy, in Keras's
// NHWC layout, straight from the HDF5 weights; TensorFlow is not available to compare with):
//   npx tsx scripts/models/hyperfas-check.ts      prints the largest difference, exit 1 above the tolerance
// The inputs are defined by a formula (checkInput), computed identically in the Python script.
// test/unit/converted-models.test.ts runs the same check in CI.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { checkPattern } from './check-inputs.js';

export const HYPERFAS_DIR = fileURLToPath(new URL('../../models/converted/hyperfas/', import.meta.url));
export const SIZE = 224;
/** Largest |ONNX - reference| P(live) accepted. */
export const TOLERANCE = 1e-4;

/** Input k of the check (scripts/models/check-inputs.ts) as the model is fed: (x - 127.5) / 127.5. */
export const checkInput = (k: number): Float32Array => checkPattern(k, SIZE).map((v) => (v - 127.5) / 127.5);

/** Largest difference between ONNX Runtime's output and the recorded reference over the recorded inputs. */
export async function maxDifference(): Promise<{ maxAbs: number; inputs: number }> {
  const check = JSON.parse(readFileSync(join(HYPERFAS_DIR, 'hyperfas.check.json'), 'utf8')) as { p_live: number[] };
  const session = await ort.InferenceSession.create(join(HYPERFAS_DIR, 'hyperfas.onnx'), { intraOpNumThreads: 1, interOpNumThreads: 1 });
  let maxAbs = 0;
  for (const [k, expected] of check.p_live.entries()) {
    const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', checkInput(k), [1, 3, SIZE, SIZE]) });
    maxAbs = Math.max(maxAbs, Math.abs(expected - (out[session.outputNames[0]].data as Float32Array)[0]));
  }
  await session.release();
  return { maxAbs, inputs: check.p_live.length };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { maxAbs, inputs } = await maxDifference();
  console.log(`hyperfas: largest |ONNX - NumPy reference| P(live) over ${inputs} inputs: ${maxAbs.toExponential(2)}`);
  process.exit(maxAbs <= TOLERANCE ? 0 : 1);
}
