// Checks the converted Silent-Face-Anti-Spoofing models (models/converted/silentface) against the
// PyTorch logits that scripts/models/convert-silent-face.py recorded for the same inputs:
//   npx tsx scripts/models/silent-face-check.ts      prints the largest difference per model, exit 1 above 1e-3
// The inputs are defined by a formula (checkInput), computed identically in the Python script, so
// no input file needs to be stored. test/unit/converted-models.test.ts runs the same check in CI.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { checkPattern } from './check-inputs.js';

export const CONVERTED_DIR = fileURLToPath(new URL('../../models/converted/silentface/', import.meta.url));
export const SIZE = 80;
/** Largest |ONNX - PyTorch| logit accepted. */
export const TOLERANCE = 1e-3;

/** Input k of the check (scripts/models/check-inputs.ts), at this model's size. */
export const checkInput = (k: number): Float32Array => checkPattern(k, SIZE);

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
