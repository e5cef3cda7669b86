/**
 * The model self-test a kiosk runs before it commits a models release: every model file's sha256
 * against the release's own manifest, then the engine built from that directory (the same factory the
 * daemon uses) run on the two self-test images the release ships, its outputs compared with the ones
 * the carrier measured when it built the release. Integrity alone would pass a release whose files are
 * intact but wrong (a model swapped for another valid one, a broken conversion); the known-input,
 * known-output check catches that.
 *
 * A release's files directory (`<release>/files/`):
 *
 *   manifest.json                the model manifest (models/manifest.json's format), its paths below here
 *   <model paths>                what it lists
 *   selftest/a.jpg, b.jpg        two photos of one person (a release-time input, not a customer's)
 *   selftest/expected.json       {@link SelfTestExpected}: scalars only, never an embedding, landmarks or a crop
 */
import { readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import sharp from 'sharp';
import { isKioskError, KioskError } from '../base/errors.js';
import type { Logger } from '../base/log.js';
import type { RgbImage } from '../base/rgb-image.js';
import { cosineSimilarity, type FaceEngine } from './engine.js';
import { createFaceEngine } from './face-engine.js';
import { type Manifest, readManifest, readVerified } from './manifest.js';
import { primaryFace } from './select.js';
import { MODEL_VARIANTS, type ModelVariant } from './variants.js';

/** The self-test folder inside a release's files directory. */
export const SELFTEST_DIR = 'selftest';
/** The expected outputs inside {@link SELFTEST_DIR}. */
export const SELFTEST_EXPECTED = 'expected.json';
/** The model manifest inside a release's files directory. */
export const RELEASE_MODEL_MANIFEST = 'manifest.json';

/** What the engine says about self-test image A (and A against B): scalars only. */
export interface SelfTestOutputs {
  /** Faces the detector finds in image A. */
  faces: number;
  /** Box of A's primary face, pixels. */
  box: { x: number; y: number; width: number; height: number };
  yaw: number;
  pitch: number;
  roll: number;
  /** Eye aspect ratios (from the landmark model). */
  earRight: number;
  earLeft: number;
  /** Probability the eyes are open (eye-state model, mean of both eyes); -1 when the engine has none. */
  eyesOpen: number;
  /** Fused presentation-attack score of A. */
  attackScore: number;
  /** Each presentation-attack model's own score of A, by model id (a swapped model hides in the fusion). */
  attackScores: Record<string, number>;
  /** Cosine similarity of A's embedding to B's. */
  similarity: number;
}

/** How far each output may move (other CPUs, other runtime builds) before the test fails. */
export interface SelfTestTolerances {
  boxPx: number;
  angleDeg: number;
  ear: number;
  probability: number;
  /** Attack scores are compared in log-odds: near 0 or 1 a probability hides a changed model. */
  attackLogOdds: number;
  similarity: number;
}

/** Default tolerances: well above the float drift between x64 and arm64 builds, below what a different model does. */
export const DEFAULT_SELFTEST_TOLERANCES: SelfTestTolerances = { boxPx: 3, angleDeg: 3, ear: 0.03, probability: 0.05, attackLogOdds: 0.25, similarity: 0.03 };

/** The content of selftest/expected.json. */
export interface SelfTestExpected {
  schema: 1;
  /** File names of images A and B in {@link SELFTEST_DIR}. */
  images: [string, string];
  /** The engine options the outputs were measured with. */
  engine: { variant: ModelVariant };
  outputs: SelfTestOutputs;
  tolerances: SelfTestTolerances;
}

/** Failure codes of {@link runModelSelfTest}. */
export type SelfTestCode = 'E_MODEL_INTEGRITY' | 'E_MODEL_MISSING' | 'E_MODEL_MANIFEST' | 'E_MODEL_LOAD' | 'E_MODEL_SELFTEST';

/** The result of a self-test: ok with its duration, or the failed check named. */
export type SelfTestResult = { ok: true; ms: number } | { ok: false; code: SelfTestCode; message: string; check: string };

/** Options of {@link runModelSelfTest}. */
export interface SelfTestOptions {
  /** A release without selftest/ fails unless this is false (default true: never commit an untested release). */
  requireSelfTest?: boolean;
  /** The variant the kiosk runs; the test fails when the release was measured with another. Default: the release's. */
  variant?: ModelVariant;
  /** Inference threads (default 1, as the daemon). */
  threads?: number;
  logger?: Logger;
}

const MAX_IMAGE_PIXELS = 40_000_000;

/** Decodes a self-test image to packed RGB (EXIF orientation applied), the same way at build time and on the kiosk. */
export async function decodeSelfTestImage(path: string): Promise<RgbImage> {
  const { data, info } = await sharp(path, { limitInputPixels: MAX_IMAGE_PIXELS })
    .rotate()
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

const r4 = (v: number) => Math.round(v * 1e4) / 1e4;

/** Runs a started engine on images A and B and returns the scalar outputs; E_MODEL_SELFTEST when A or B shows no face. */
export async function measureSelfTest(engine: FaceEngine, a: RgbImage, b: RgbImage): Promise<SelfTestOutputs> {
  const sa = await engine.analyze(a);
  const fa = primaryFace(sa.faces);
  const fb = primaryFace((await engine.analyze(b)).faces);
  if (!fa || !fb)
    throw new KioskError('E_MODEL_SELFTEST', `no face found in self-test image ${fa ? 'b' : 'a'}`, { subject: 'model self-test', details: { check: 'faces' } });
  const da = await engine.decide(a, fa);
  const db = await engine.decide(b, fb);
  const { box } = fa.detection;
  // Only these scalars leave this function: the embeddings, landmarks and crops stay here.
  return {
    faces: sa.faces.length,
    box: { x: r4(box.x), y: r4(box.y), width: r4(box.width), height: r4(box.height) },
    yaw: r4(fa.pose.yaw),
    pitch: r4(fa.pose.pitch),
    roll: r4(fa.pose.roll),
    earRight: r4(fa.eyes.right),
    earLeft: r4(fa.eyes.left),
    eyesOpen: r4(fa.eyes.openProbability ?? -1),
    attackScore: Number(da.attackScore.toPrecision(4)),
    // Significant digits, not decimals: these sit near 0 and are compared in log-odds.
    attackScores: Object.fromEntries(Object.entries(da.attackScores ?? {}).map(([id, v]) => [id, Number(v.toPrecision(4))])),
    similarity: r4(cosineSimilarity(da.embedding, db.embedding)),
  };
}

/** The first output outside its tolerance, as `similarity 0.12, expected 0.81 ± 0.03`, or undefined when all match. */
export function compareSelfTest(expected: SelfTestOutputs, actual: SelfTestOutputs, tol: SelfTestTolerances): string | undefined {
  if (actual.faces !== expected.faces) return `faces ${actual.faces}, expected ${expected.faces}`;
  const checks: [string, number, number, number][] = [
    ['box.x', actual.box.x, expected.box.x, tol.boxPx],
    ['box.y', actual.box.y, expected.box.y, tol.boxPx],
    ['box.width', actual.box.width, expected.box.width, tol.boxPx],
    ['box.height', actual.box.height, expected.box.height, tol.boxPx],
    ['yaw', actual.yaw, expected.yaw, tol.angleDeg],
    ['pitch', actual.pitch, expected.pitch, tol.angleDeg],
    ['roll', actual.roll, expected.roll, tol.angleDeg],
    ['earRight', actual.earRight, expected.earRight, tol.ear],
    ['earLeft', actual.earLeft, expected.earLeft, tol.ear],
    ['eyesOpen', actual.eyesOpen, expected.eyesOpen, tol.probability],
    ['similarity', actual.similarity, expected.similarity, tol.similarity],
  ];
  for (const [name, got, want, t] of checks) if (!(Math.abs(got - want) <= t)) return `${name} ${got}, expected ${want} ± ${t}`;
  const ids = Object.keys(expected.attackScores).sort();
  if (ids.join(',') !== Object.keys(actual.attackScores).sort().join(','))
    return `attackScores models ${Object.keys(actual.attackScores).sort().join(',')}, expected ${ids.join(',')}`;
  const attack: [string, number, number][] = [
    ...ids.map((id): [string, number, number] => [`attackScores.${id}`, actual.attackScores[id], expected.attackScores[id]]),
    ['attackScore', actual.attackScore, expected.attackScore],
  ];
  for (const [name, got, want] of attack)
    if (!(Math.abs(logOdds(got) - logOdds(want)) <= tol.attackLogOdds)) return `${name} ${got}, expected ${want} (log-odds ± ${tol.attackLogOdds})`;
  return undefined;
}

/** Log-odds of a probability, clamped so that 0 and 1 stay finite. */
function logOdds(p: number): number {
  const q = Math.min(Math.max(p, 1e-4), 1 - 1e-4);
  return Math.log(q / (1 - q));
}

/**
 * Checks the models release in `filesDir`: integrity of every listed model file, then the engine's
 * outputs on the release's self-test images. Never throws for a bad release: the result names the
 * failed check (the updater reports it and rolls back).
 */
export async function runModelSelfTest(filesDir: string, o: SelfTestOptions = {}): Promise<SelfTestResult> {
  const started = performance.now();
  const fail = (code: SelfTestCode, message: string, check: string): SelfTestResult => ({ ok: false, code, message, check });
  let manifest: Manifest;
  try {
    manifest = await readManifest(join(filesDir, RELEASE_MODEL_MANIFEST));
  } catch (err) {
    const e = toFailure(err, 'E_MODEL_MANIFEST');
    return fail(e.code, e.message, RELEASE_MODEL_MANIFEST);
  }
  const broken = await checkIntegrity(filesDir, manifest);
  if (broken) return broken;
  const dir = join(filesDir, SELFTEST_DIR);
  const hasSelfTest = await stat(dir).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!hasSelfTest) {
    if (o.requireSelfTest === false) return { ok: true, ms: performance.now() - started };
    return fail('E_MODEL_SELFTEST', 'no self-test in the release', SELFTEST_DIR);
  }
  let expected: SelfTestExpected;
  try {
    expected = parseExpected(JSON.parse(await readFile(join(dir, SELFTEST_EXPECTED), 'utf8')));
  } catch (err) {
    return fail('E_MODEL_SELFTEST', `the self-test expectations are unusable: ${(err as Error).message}`, SELFTEST_EXPECTED);
  }
  if (o.variant && o.variant !== expected.engine.variant)
    return fail('E_MODEL_SELFTEST', `the release was measured with ${expected.engine.variant} weights, this kiosk runs ${o.variant}`, 'variant');
  const images: RgbImage[] = [];
  for (const name of expected.images) {
    try {
      images.push(await decodeSelfTestImage(join(dir, name)));
    } catch (err) {
      return fail('E_MODEL_SELFTEST', `cannot decode the self-test image: ${(err as Error).message}`, `image ${name}`);
    }
  }
  const engine = createFaceEngine({ modelsDir: filesDir, manifest, logger: o.logger, options: { variant: expected.engine.variant, threads: o.threads ?? 1 } });
  let actual: SelfTestOutputs;
  try {
    await engine.start();
    actual = await measureSelfTest(engine, images[0], images[1]);
  } catch (err) {
    const e = toFailure(err, 'E_MODEL_SELFTEST');
    return fail(e.code, `the engine failed on the self-test: ${e.message}`, String(e.details?.check ?? 'engine'));
  } finally {
    await engine.stop();
  }
  const problem = compareSelfTest(expected.outputs, actual, expected.tolerances);
  if (problem) return fail('E_MODEL_SELFTEST', `the engine's output differs from the release's self-test: ${problem}`, problem);
  return { ok: true, ms: performance.now() - started };
}

/** Every file of every model against its size and sha256; the failure names the file (relative to `filesDir`). */
async function checkIntegrity(filesDir: string, manifest: Manifest): Promise<SelfTestResult | undefined> {
  for (const model of manifest.models) {
    for (const f of model.files)
      if (!insideRelease(f.path))
        return { ok: false, code: 'E_MODEL_MANIFEST', message: `model "${model.id}" names a path outside the release`, check: `path ${f.path}` };
    try {
      await readVerified(model, filesDir);
    } catch (err) {
      const e = toFailure(err, 'E_MODEL_INTEGRITY');
      const file = e.subject ? relative(filesDir, e.subject) : model.id;
      return { ok: false, code: e.code, message: e.message, check: `${e.code === 'E_MODEL_MISSING' ? 'missing' : 'sha256 of'} ${file}` };
    }
  }
  return undefined;
}

/** `err` as a KioskError whose code is one of {@link SelfTestCode}. */
function toFailure(err: unknown, fallback: SelfTestCode): KioskError & { code: SelfTestCode } {
  const codes: readonly string[] = ['E_MODEL_INTEGRITY', 'E_MODEL_MISSING', 'E_MODEL_MANIFEST', 'E_MODEL_LOAD', 'E_MODEL_SELFTEST'];
  if (isKioskError(err) && codes.includes(err.code)) return err as KioskError & { code: SelfTestCode };
  return new KioskError(fallback, err instanceof Error ? err.message : String(err), { cause: err }) as KioskError & { code: SelfTestCode };
}

/** True for a relative path without `.`/`..`/empty segments (the manifest is signed, but a path still must not leave the release). */
function insideRelease(p: string): boolean {
  return typeof p === 'string' && !p.startsWith('/') && p.split('/').every((s) => s !== '' && s !== '.' && s !== '..');
}

/** Checks the shape of expected.json; throws naming the first bad field. */
export function parseExpected(v: unknown): SelfTestExpected {
  const bad = (field: string): never => {
    throw new KioskError('E_MODEL_SELFTEST', `${field} is missing or malformed`, { subject: SELFTEST_EXPECTED });
  };
  const obj = (x: unknown, field: string) => (typeof x === 'object' && x !== null && !Array.isArray(x) ? (x as Record<string, unknown>) : bad(field));
  const num = (x: unknown, field: string) => (typeof x === 'number' && Number.isFinite(x) ? x : bad(field));
  const e = obj(v, 'expected');
  if (e.schema !== 1) bad('schema');
  const images = e.images;
  if (!Array.isArray(images) || images.length !== 2 || !images.every((n) => typeof n === 'string' && /^[ab]\.(jpe?g|png)$/.test(n))) bad('images');
  const variant = obj(e.engine, 'engine').variant;
  if (!MODEL_VARIANTS.includes(variant as ModelVariant)) bad('engine.variant');
  const out = obj(e.outputs, 'outputs');
  const box = obj(out.box, 'outputs.box');
  const attackScores = obj(out.attackScores, 'outputs.attackScores');
  if (Object.keys(attackScores).length === 0 || Object.keys(attackScores).length > 8) bad('outputs.attackScores');
  const tol = obj(e.tolerances, 'tolerances');
  const scalar = <K extends string>(o: Record<string, unknown>, keys: readonly K[], prefix: string) =>
    Object.fromEntries(keys.map((k) => [k, num(o[k], `${prefix}.${k}`)])) as Record<K, number>;
  const outputs: SelfTestOutputs = {
    ...scalar(out, ['faces', 'yaw', 'pitch', 'roll', 'earRight', 'earLeft', 'eyesOpen', 'attackScore', 'similarity'] as const, 'outputs'),
    box: scalar(box, ['x', 'y', 'width', 'height'] as const, 'outputs.box'),
    attackScores: scalar(attackScores, Object.keys(attackScores), 'outputs.attackScores'),
  };
  const tolerances = scalar(tol, Object.keys(DEFAULT_SELFTEST_TOLERANCES) as (keyof SelfTestTolerances)[], 'tolerances');
  if (Object.values(tolerances).some((t) => t < 0)) bad('tolerances');
  return { schema: 1, images: images as [string, string], engine: { variant: variant as ModelVariant }, outputs, tolerances };
}
