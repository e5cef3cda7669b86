/**
 * The Silent-Face-Anti-Spoofing models converted from PyTorch (models/converted/silentface) give
 * the logits PyTorch gave on the same inputs, recorded by the conversion script.
 */
import t from 'tap';
import { maxDifference, TOLERANCE } from '../../scripts/models/silent-face-check.js';

for (const id of ['minifasnet_v2', 'minifasnet_v1se']) {
  t.test(`${id}: ONNX Runtime matches PyTorch within ${TOLERANCE}`, async (t) => {
    const { maxAbs, inputs } = await maxDifference(id);
    t.ok(inputs >= 4, `${inputs} recorded inputs`);
    t.ok(maxAbs <= TOLERANCE, `largest logit difference ${maxAbs.toExponential(2)}`);
  });
}

t.test('hyperfas: ONNX Runtime matches the NumPy evaluation of the Keras weights', async (t) => {
  const hyperfas = await import('../../scripts/models/hyperfas-check.js');
  const { maxAbs, inputs } = await hyperfas.maxDifference();
  t.ok(inputs >= 4, `${inputs} recorded inputs`);
  t.ok(maxAbs <= hyperfas.TOLERANCE, `largest P(live) difference ${maxAbs.toExponential(2)}`);
});
