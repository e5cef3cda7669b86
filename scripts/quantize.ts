// npm run quantize: derives the quantized model variants from the verified float originals.
//
//   npm run quantize                       write models/files/quantized/* and the derived entries of models/manifest.json
//   npm run quantize -- --check            rebuild in memory, compare with the manifest, write nothing (exit 1 on a difference)
//   npm run quantize -- --only fr_eye,...  restrict to some originals
//   npm run quantize -- --report           then run scripts/quantize-report.ts (size, speed, drift)
//
// Deterministic: the same original bytes give the same derived bytes, so the hashes committed in the
// manifest hold on every machine that runs this. Originals are read through readVerified (size and
// sha256 checked first); derived files are written atomically (tmp + rename).
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createProgress } from '../base/progress.js';
import { defaultModelsDir, findModel, readManifest, readVerified, type ManifestModel } from '../models/manifest.js';
import { deriveVariant, VARIANTS, withDerived, type DerivedModel } from './quantize/derive.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const manifestPath = join(root, 'models', 'manifest.json');

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<number> {
  const check = process.argv.includes('--check');
  const only = argValue('--only')?.split(',');
  const modelsDir = defaultModelsDir();
  const manifest = await readManifest(manifestPath);
  const variants = VARIANTS.filter((v) => !only || only.includes(v.model));
  const derived: DerivedModel[] = [];
  const cache = new Map<string, Map<string, Uint8Array>>();
  // On a terminal (not in CI), a line on stderr under the results: variants done, the estimate, the one being derived.
  const progress = createProgress({ total: variants.length, label: 'quantize' });
  try {
    for (const [i, v] of variants.entries()) {
      progress.update(i, `${v.model}@${v.tag}`); // drawn before the derivation, which holds the event loop
      const original = findModel(manifest, v.model);
      if (!cache.has(v.model)) cache.set(v.model, await readVerified(original, modelsDir));
      const t0 = performance.now();
      const d = deriveVariant(original, cache.get(v.model)!, v);
      derived.push(d);
      const bytes = d.files.reduce((n, f) => n + f.bytes.length, 0);
      const orig = original.files.reduce((n, f) => n + f.bytes, 0);
      progress.clear();
      console.error(
        `[quantize] ${d.entry.id.padEnd(18)} ${String(bytes).padStart(8)} B (${((100 * bytes) / orig).toFixed(0)}% of ${orig}) ${d.summary} in ${(performance.now() - t0).toFixed(0)} ms`,
      );
    }
  } finally {
    progress.done();
  }

  // Entries for variants not rebuilt this run (--only) are kept as they are.
  const rebuilt = new Set(derived.map((d) => d.entry.id));
  const previous = manifest.models.filter((m) => m.files.some((f) => f.derivedFrom));
  const entries: ManifestModel[] = VARIANTS.map((v) => `${v.model}@${v.tag}`)
    .map((id) => (rebuilt.has(id) ? derived.find((d) => d.entry.id === id)!.entry : previous.find((m) => m.id === id)))
    .filter((m): m is ManifestModel => m !== undefined);
  const next = withDerived(manifest, entries);
  const before = await readFile(manifestPath, 'utf8');
  const after = JSON.stringify(next, null, 2) + (before.endsWith('\n') ? '\n' : '');

  if (check) {
    let bad = 0;
    for (const d of derived) {
      const old = previous.find((m) => m.id === d.entry.id);
      if (JSON.stringify(old?.files) !== JSON.stringify(d.entry.files)) {
        console.error(`[quantize] ${d.entry.id}: derived bytes differ from the manifest (or entry missing)`);
        bad++;
      }
    }
    console.error(`[quantize] --check: ${derived.length - bad}/${derived.length} variants match the manifest`);
    return bad ? 1 : 0;
  }

  for (const d of derived) {
    for (const f of d.files) {
      const to = join(modelsDir, f.path);
      await mkdir(dirname(to), { recursive: true });
      await writeFile(`${to}.tmp`, f.bytes);
      await rename(`${to}.tmp`, to);
    }
  }
  if (after !== before) {
    await writeFile(`${manifestPath}.tmp`, after);
    await rename(`${manifestPath}.tmp`, manifestPath);
    console.error(`[quantize] models/manifest.json: ${entries.length} derived entries written`);
  } else {
    console.error('[quantize] models/manifest.json already up to date');
  }
  console.error(`[quantize] ${derived.length} variants in ${join(modelsDir, 'quantized')}`);

  if (process.argv.includes('--report')) {
    const r = spawnSync(process.execPath, [...process.execArgv, join(root, 'scripts', 'quantize-report.ts')], { stdio: 'inherit' });
    return r.status ?? 1;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`[quantize] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
