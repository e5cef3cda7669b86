// Checks the converted Silent-Face-Anti-Spoofing models (models/converted/silentface) against the
// PyTorch logits that scripts/models/convert-silent-face.py recorded for the same inputs:
//   npx tsx scripts/models/silent-face-check.ts      prints the largest difference per model, exit 1 above 1e-3
// The inputs are defined by a formula (checkInput), computed identically in the Python script, so
// no input file needs to be stored. test/unit/converted-models.test.ts runs the same check in CI.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';

export const CONVERTED_DIR = fileURLToPath(new URL('../../models/converted/silentface/', import.meta.url));
export const SIZE = 80;
/** Largest |ONNX - PyTorch| logit accepted. */
export const TOLERANCE = 1e-3;

/** Input k of the check: 127.5 + 127.5 sin(0.37 y (k+1) + 0.11 x (c+1) + 0.7 k), rounded; NCHW. */
export function checkInput(k: number): Float32Array {
  const out = new Float32Array(3 * SIZE * SIZE);
  let i = 0;
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < SIZE; y++) {
      for (let x = 0; x < SIZE; x++) out[i++] = Math.round(127.5 + 127.5 * Math.sin(0.37 * y * (k + 1) + 0.11 * x * (c + 1) + 0.7 * k));
    }
  }
  return out;
}

/** Largest difference between ONNX Runtime's and PyTorch's logits over the recorded inputs of one model. */
export async function maxDifference(id: string): Promise<{ maxAbs: number; inputs: number }> {
  const check = JSON.parse(readFileSync(join(CONVERTED_DIR, `${id}.check.json`), 'utf8')) as { torch_logits: number[][] };
  const session = await ort.InferenceSession.create(join(CONVERTED_DIR, `${id}.onnx`), { intraOpNumThreads: 1, interOpNumThreads: 1 });
  let maxAbs = 0;
  for (const [k, expected] of check.torch_logits.entries()) {
    const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', checkInput(k), [1, 3, SIZE, SIZE]) });
    const got = out[session.outputNames[0]].data as Float32Array;
    expected.forEach((v, j) => {
      maxAbs = Math.max(maxAbs, Math.abs(v - got[j]));
    });
  }
  await session.release();
  return { maxAbs, inputs: check.torch_logits.length };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  let bad = 0;
  for (const id of ['minifasnet_v2', 'minifasnet_v1se']) {
    const { maxAbs, inputs } = await maxDifference(id);
    console.log(`${id}: largest |ONNX - PyTorch| logit over ${inputs} inputs: ${maxAbs.toExponential(2)}`);
    if (!(maxAbs <= TOLERANCE)) bad++;
  }
  process.exit(bad ? 1 : 0);
}
