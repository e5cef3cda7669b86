/**
 * Builds a signed models release bundle (provisioning/update/bundle.ts layout) from a models directory:
 *
 *   <out>/files/manifest.json             the model manifest, its paths below files/
 *   <out>/files/<model paths>             every file it lists, checked against it while copied
 *   <out>/files/selftest/a.jpg, b.jpg     the self-test images (two photos of one person)
 *   <out>/files/selftest/expected.json    the engine's scalar outputs on them, and the tolerances
 *   <out>/release.jws                     the signed release manifest, written last
 *
 * The carrier never imports the kiosk's engine (carrier/ sees base/ and protocol/ only), so the
 * expected outputs come in as data: scripts/release/models-expected.ts runs the kiosk's own engine on
 * the images and `carrier release models` runs that script as a child process. This builder checks
 * they hold scalars only: no embedding, landmark list or crop may travel in a release.
 */
import { createHash } from 'node:crypto';
import { copyFile, lstat, mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, extname, join } from 'node:path';
import { KioskError } from '../../base/errors.js';
import type { ReleaseManifest } from '../../protocol/release.js';
import { manifestForFiles, type ReleaseSigningKey, signRelease } from './sign.js';

/** Longest numeric array expected.json may hold: a box or a pose fits, an embedding or landmarks do not. */
export const MAX_EXPECTED_ARRAY = 4;

/** Options of {@link buildModelsBundle}. */
export interface ModelsBundleOptions {
  /** The repository's `models/` (manifest.json + files/) or an installed release's files directory. */
  modelsDir: string;
  /** Where to write the bundle; must not exist or be empty. */
  outDir: string;
  version: number;
  name: string;
  key: ReleaseSigningKey;
  /** Images A and B (JPEG or PNG) and what the engine measured on them (scripts/release/models-expected.ts). */
  selfTest: { images: readonly [string, string]; expected: Record<string, unknown> };
  now?: Date;
}

/** Where the model manifest and the files its paths are relative to lie, for either layout {@link ModelsBundleOptions.modelsDir} accepts. */
export async function modelSource(modelsDir: string): Promise<{ manifestFile: string; filesRoot: string }> {
  const manifestFile = join(modelsDir, 'manifest.json');
  const isDir = await lstat(join(modelsDir, 'files')).then(
    (s) => s.isDirectory(),
    () => false,
  );
  return { manifestFile, filesRoot: isDir ? join(modelsDir, 'files') : modelsDir };
}

/** Writes the bundle and returns its directory, token and manifest. */
export async function buildModelsBundle(o: ModelsBundleOptions): Promise<{ dir: string; token: string; manifest: ReleaseManifest }> {
  assertScalarOnly(o.selfTest.expected, 'expected');
  const { manifestFile, filesRoot } = await modelSource(o.modelsDir);
  const listed = await listedModelFiles(manifestFile);
  if ((await readdir(o.outDir).catch(() => [])).length > 0) throw new KioskError('E_USAGE', 'the bundle directory is not empty', { subject: o.outDir });
  const files = join(o.outDir, 'files');
  await mkdir(files, { recursive: true });
  await copyFile(manifestFile, join(files, 'manifest.json'));
  for (const f of listed) {
    const to = join(files, ...f.path.split('/'));
    await mkdir(dirname(to), { recursive: true });
    await copyFile(join(filesRoot, ...f.path.split('/')), to);
    // A file that does not match its own manifest would fail every kiosk's integrity check: refuse it here.
    const digest = createHash('sha256')
      .update(await readFile(to))
      .digest('hex');
    if (digest !== f.sha256) throw new KioskError('E_MODEL_INTEGRITY', 'a model file does not match the model manifest', { subject: join(filesRoot, f.path) });
  }
  const selftest = join(files, 'selftest');
  await mkdir(selftest);
  const names = o.selfTest.images.map((p, i) => `${'ab'[i]}${imageExtension(p)}`);
  for (const [i, p] of o.selfTest.images.entries()) await copyFile(p, join(selftest, names[i]));
  await writeFile(join(selftest, 'expected.json'), `${JSON.stringify({ ...o.selfTest.expected, images: names }, null, 2)}\n`);
  const manifest = await manifestForFiles('models', o.name, o.version, files, undefined, { now: o.now });
  const token = await signRelease(manifest, o.key);
  // Last, and atomically: a directory with a release.jws is a complete bundle.
  const tmp = join(o.outDir, '.release.jws.tmp');
  await writeFile(tmp, token);
  await rename(tmp, join(o.outDir, 'release.jws'));
  return { dir: o.outDir, token, manifest };
}

/** The files models/manifest.json lists (path, sha256), paths checked to stay below the models directory. */
async function listedModelFiles(manifestFile: string): Promise<{ path: string; sha256: string }[]> {
  let m: { models?: { id?: string; files?: { path?: unknown; sha256?: unknown }[] }[] };
  try {
    m = JSON.parse(await readFile(manifestFile, 'utf8'));
  } catch (err) {
    throw new KioskError('E_MODEL_MANIFEST', `cannot read the model manifest: ${(err as Error).message}`, { subject: manifestFile, cause: err });
  }
  const out: { path: string; sha256: string }[] = [];
  for (const model of m.models ?? [])
    for (const f of model.files ?? []) {
      const p = f.path;
      if (
        typeof p !== 'string' ||
        p.startsWith('/') ||
        p.split('/').some((s) => s === '' || s === '.' || s === '..' || s === 'selftest') ||
        typeof f.sha256 !== 'string'
      )
        throw new KioskError('E_MODEL_MANIFEST', `model "${model.id}" lists a file path a release cannot hold`, { subject: manifestFile });
      out.push({ path: p, sha256: f.sha256 });
    }
  if (out.length === 0) throw new KioskError('E_MODEL_MANIFEST', 'the model manifest lists no files', { subject: manifestFile });
  return out;
}

function imageExtension(path: string): string {
  const ext = extname(path).toLowerCase();
  if (ext !== '.jpg' && ext !== '.jpeg' && ext !== '.png') throw new KioskError('E_USAGE', 'a self-test image must be a .jpg or .png file', { subject: path });
  return ext;
}

/** Throws unless `v` holds only scalars, small objects and arrays of at most {@link MAX_EXPECTED_ARRAY} items (the privacy rule). */
export function assertScalarOnly(v: unknown, at: string): void {
  const refuse = (why: string): never => {
    throw new KioskError('E_USAGE', `the self-test expectations may hold scalars only: ${why}`, { subject: at });
  };
  if (Array.isArray(v)) {
    if (v.length > MAX_EXPECTED_ARRAY) refuse(`an array of ${v.length} items`);
    v.forEach((x, i) => assertScalarOnly(x, `${at}[${i}]`));
  } else if (typeof v === 'object' && v !== null) {
    const entries = Object.entries(v);
    // An embedding could also come as {"0":..,"1":..}: bound the width of any object as well.
    if (entries.length > 16) refuse(`an object of ${entries.length} fields`);
    for (const [k, x] of entries) assertScalarOnly(x, `${at}.${k}`);
  } else if (typeof v === 'string' && v.length > 256) refuse('a long string (an encoded image or vector?)');
}
