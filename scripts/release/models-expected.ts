/**
 * Measures what a models release must produce on its self-test images: runs the kiosk's own engine
 * (models/face-engine.ts, through models/self-test.ts's `measureSelfTest`, the very function the kiosk
 * runs before it commits the release) on images A and B and prints the content of
 * selftest/expected.json, scalars only.
 *
 * Why a script apart from carrier/release/models-bundle.ts: the carrier's code may import base/ and
 * protocol/ only (it must not depend on the kiosk's engine or pull onnxruntime into the carrier's
 * services); scripts/ may import anything. `carrier release models` runs this file as a child process
 * and hands its output to the bundle builder as data.
 *
 *   npx tsx scripts/release/models-expected.ts --models-dir models --images a.jpg,b.jpg [--variant fp16]
 */
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { KioskError } from '../../base/errors.js';
import { modelSource } from '../../carrier/release/models-bundle.js';
import { CALIBRATION } from '../../models/calibration.js';
import { createFaceEngine } from '../../models/face-engine.js';
import { readManifest } from '../../models/manifest.js';
import { DEFAULT_SELFTEST_TOLERANCES, decodeSelfTestImage, measureSelfTest, type SelfTestExpected, type SelfTestTolerances } from '../../models/self-test.js';
import { MODEL_VARIANTS, type ModelVariant } from '../../models/variants.js';

/** expected.json without `images` (the bundle builder names the copies). */
export type ExpectedWithoutImages = Omit<SelfTestExpected, 'images'>;

/**
 * Runs the engine on images A and B of the models in `modelsDir` and returns the expectations.
 * Refuses images unfit for a self-test: A must show exactly one face and B the same person.
 */
export async function computeSelfTestExpected(o: {
  modelsDir: string;
  images: readonly [string, string];
  variant?: ModelVariant;
  tolerances?: Partial<SelfTestTolerances>;
}): Promise<ExpectedWithoutImages> {
  const { manifestFile, filesRoot } = await modelSource(o.modelsDir);
  const variant = o.variant ?? 'fp16';
  const engine = createFaceEngine({ modelsDir: filesRoot, manifest: await readManifest(manifestFile), options: { variant, threads: 1 } });
  try {
    await engine.start();
    const [a, b] = [await decodeSelfTestImage(o.images[0]), await decodeSelfTestImage(o.images[1])];
    const outputs = await measureSelfTest(engine, a, b);
    if (outputs.faces !== 1)
      throw new KioskError('E_USAGE', `self-test image A must show one face, the engine finds ${outputs.faces}`, { subject: o.images[0] });
    // A mated pair exercises the embedder where it matters: a release that breaks matching moves this value.
    if (outputs.similarity < CALIBRATION.minMatchSimilarity.value)
      throw new KioskError('E_USAGE', `self-test images A and B must show one person (similarity ${outputs.similarity})`, { subject: o.images[1] });
    return { schema: 1, engine: { variant }, outputs, tolerances: { ...DEFAULT_SELFTEST_TOLERANCES, ...o.tolerances } };
  } finally {
    await engine.stop();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'models-dir': { type: 'string' }, images: { type: 'string' }, variant: { type: 'string' } } });
  const images = values.images?.split(',');
  if (!values['models-dir'] || images?.length !== 2) throw new KioskError('E_USAGE', 'usage: --models-dir <dir> --images <a>,<b> [--variant fp16]');
  const variant = (values.variant ?? 'fp16') as ModelVariant;
  if (!MODEL_VARIANTS.includes(variant)) throw new KioskError('E_USAGE', `--variant must be one of ${MODEL_VARIANTS.join(', ')}`, { subject: '--variant' });
  const expected = await computeSelfTestExpected({ modelsDir: values['models-dir'], images: [images[0], images[1]], variant });
  process.stdout.write(`${JSON.stringify(expected)}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err: unknown) => {
    process.stderr.write(`error ${(err as KioskError).code ?? 'E_INTERNAL'}: ${(err as Error).message}\n`);
    process.exitCode = 2;
  });
}
