/**
 * A models release end to end on real files and the real engine: built from the repository's models/
 * with two photos of one person, signed, verified and staged as a kiosk does, then self-tested; and
 * every way the self-test must refuse a release (a flipped byte, a valid but different model, edited
 * expectations, no self-test at all), and the privacy rule (no embedding travels in a release).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { isKioskError } from '../../base/errors.js';
import { buildModelsBundle } from '../../carrier/release/models-bundle.js';
import { makeReleaseKey, manifestForFiles, signRelease } from '../../carrier/release/sign.js';
import { runModelSelfTest, SELFTEST_DIR } from '../../models/self-test.js';
import { stageFromDirectory } from '../../provisioning/update/bundle.js';
import { ReleaseVerifier } from '../../provisioning/update/manifest.js';
import { computeSelfTestExpected } from '../../scripts/release/models-expected.js';
import { dataPath, hasData, NO_DATA } from '../helpers/data.js';
import { ownTempDir } from '../helpers/tempdir.js';

const MODELS = resolve(import.meta.dirname, '../../models');
const DEEPFACE = 'deepface-verify/tests/unit/dataset';
const IMAGES = [dataPath(`${DEEPFACE}/img1.jpg`), dataPath(`${DEEPFACE}/img2.jpg`)] as const; // one person (labels/verify-pairs.tsv)

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function allFiles(dir: string): Promise<string[]> {
  return (await readdir(dir, { withFileTypes: true, recursive: true })).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

t.test('signRelease refuses a manifest a kiosk would refuse', async (t) => {
  const key = await makeReleaseKey();
  const bad = { kind: 'models' as const, version: 0, name: 'x', files: [{ path: 'a', sha256: '0'.repeat(64), size: 1 }], createdAt: '2026-12-07T00:00:00Z' };
  await t.rejects(signRelease(bad, key), { code: 'E_UPDATE_MANIFEST', message: /version/ });
});

t.test('models release: build, verify, stage, self-test', { skip: hasData ? false : NO_DATA }, async (t) => {
  const tmp = ownTempDir(t, 'models-release-');
  const key = await makeReleaseKey();
  const expected = await computeSelfTestExpected({ modelsDir: MODELS, images: IMAGES });
  const bundle = join(tmp, 'bundle');
  await buildModelsBundle({ modelsDir: MODELS, outDir: bundle, version: 4, name: 'models 4', key, selfTest: { images: IMAGES, expected } });

  const verifier = new ReleaseVerifier({ keys: [{ kid: key.kid, publicKey: key.publicJwk }] });
  await verifier.start();
  const release = await verifier.verify(await readFile(join(bundle, 'release.jws'), 'utf8'), 'models');
  t.equal(release.manifest.version, 4);
  const staged = await stageFromDirectory(bundle, release, join(tmp, 'staging'));
  const files = join(staged.dir, 'files');

  /** A copy of the staged files directory to break. */
  let copies = 0;
  const copy = async () => {
    const dir = join(tmp, `copy-${copies++}`);
    await cp(files, dir, { recursive: true });
    return dir;
  };

  t.test('the staged release passes its self-test', async (t) => {
    const r = await runModelSelfTest(files);
    t.match(r, { ok: true, ms: Number }, 'ok');
    if (r.ok) t.comment(`self-test took ${Math.round(r.ms)} ms (integrity of every model file + engine start + 2 images)`);
  });

  t.test('a flipped byte in a model file is E_MODEL_INTEGRITY naming the file', async (t) => {
    for (const path of ['quantized/fr_feature-fp16.onnx', 'human/antispoof.bin']) {
      const dir = await copy();
      const f = join(dir, ...path.split('/'));
      const b = await readFile(f);
      b[Math.floor(b.length / 2)] ^= 0x01;
      await writeFile(f, b);
      const r = await runModelSelfTest(dir);
      t.match(r, { ok: false, code: 'E_MODEL_INTEGRITY', check: `sha256 of ${path}` }, path);
    }
  });

  t.test('a model manifest path leaving the release is E_MODEL_MANIFEST', async (t) => {
    const dir = await copy();
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
    manifest.models[0].files[0].path = '../escape.onnx';
    await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest));
    t.match(await runModelSelfTest(dir), { ok: false, code: 'E_MODEL_MANIFEST', check: 'path ../escape.onnx' });
  });

  t.test('a valid model swapped in with its hash updated passes integrity but fails the self-test, naming the check', async (t) => {
    const dir = await copy();
    // minifasnet_v1se in place of minifasnet_v2 (shipped): same input and output shapes, another network.
    const swapped = await readFile(join(dir, 'converted/silentface/minifasnet_v1se.onnx'));
    await writeFile(join(dir, 'converted/silentface/minifasnet_v2.onnx'), swapped);
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
    const entry = manifest.models.find((m: { id: string }) => m.id === 'minifasnet_v2').files[0];
    Object.assign(entry, { bytes: swapped.length, sha256: sha256(swapped) });
    await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest));
    const r = await runModelSelfTest(dir);
    t.match(r, { ok: false, code: 'E_MODEL_SELFTEST', check: /^attackScores\.minifasnet_v2 \S+, expected \S+ \(log-odds ± 0\.25\)$/ });
    t.comment(r.ok ? 'passed' : r.check);
  });

  t.test('edited expectations are caught: by the signature at staging, by the comparison on disk', async (t) => {
    const edit = async (dir: string) => {
      const f = join(dir, SELFTEST_DIR, 'expected.json');
      const e = JSON.parse(await readFile(f, 'utf8'));
      e.outputs.similarity = 0.9;
      await writeFile(f, JSON.stringify(e));
    };
    const forged = join(tmp, 'forged');
    await cp(bundle, forged, { recursive: true });
    await edit(join(forged, 'files'));
    await t.rejects(stageFromDirectory(forged, release, join(tmp, 'staging-forged')), { code: 'E_UPDATE_HASH' }, 'the bundle stager refuses it');
    const dir = await copy();
    await edit(dir);
    t.match(await runModelSelfTest(dir), { ok: false, code: 'E_MODEL_SELFTEST', check: /^similarity 0\.6\d+, expected 0\.9 ± 0\.03$/ });
    await writeFile(join(dir, SELFTEST_DIR, 'expected.json'), '{"schema":1}');
    t.match(await runModelSelfTest(dir), { ok: false, code: 'E_MODEL_SELFTEST', check: 'expected.json' }, 'a malformed file is a failure');
  });

  t.test('a release without selftest/ fails unless the caller waives it', async (t) => {
    const dir = await copy();
    await rm(join(dir, SELFTEST_DIR), { recursive: true });
    t.match(await runModelSelfTest(dir), { ok: false, code: 'E_MODEL_SELFTEST', message: 'no self-test in the release', check: SELFTEST_DIR });
    t.match(await runModelSelfTest(dir, { requireSelfTest: false }), { ok: true });
  });

  t.test('a kiosk running other weights than the release was measured with fails', async (t) => {
    t.match(await runModelSelfTest(files, { variant: 'int8' }), { ok: false, code: 'E_MODEL_SELFTEST', check: 'variant' });
  });

  t.test('privacy: no file but the two input images holds more than a few numbers in a row', async (t) => {
    const originals = new Map<string, string>();
    const modelManifest = JSON.parse(await readFile(join(MODELS, 'manifest.json'), 'utf8'));
    for (const m of modelManifest.models) for (const f of m.files) originals.set(f.path, f.sha256);
    let checked = 0;
    for (const file of await allFiles(bundle)) {
      const rel = relative(join(bundle, 'files'), file);
      if (rel === 'selftest/a.jpg' || rel === 'selftest/b.jpg') continue;
      const buf = await readFile(file);
      if (originals.has(rel)) {
        // Model weights are arrays of numbers by nature: they must be the repository's bytes, untouched by the images.
        t.equal(sha256(buf), originals.get(rel), `${rel} is the repository's file`);
        continue;
      }
      const text = rel.endsWith('.jws') || file.endsWith('.jws') ? Buffer.from(buf.toString().split('.')[1], 'base64url').toString() : buf.toString();
      const longest = Math.max(0, ...[...text.matchAll(/\[\s*-?\d[^\]]*\]/g)].map((m) => m[0].split(',').length));
      t.ok(longest <= 4, `${relative(bundle, file)}: longest numeric array ${longest}`);
      t.notMatch(text, /"(embedding|landmarks|descriptor|crop)"\s*:/i, `${relative(bundle, file)} has no biometric field`);
      checked++;
    }
    t.equal(checked, 3, 'manifest.json, expected.json and release.jws were read');
    const embedding = Array.from({ length: 512 }, () => 0.01);
    await t.rejects(
      buildModelsBundle({
        modelsDir: MODELS,
        outDir: join(tmp, 'leaky'),
        version: 5,
        name: 'leaky',
        key,
        selfTest: { images: IMAGES, expected: { ...expected, outputs: { ...expected.outputs, embedding } } },
      }),
      { code: 'E_USAGE', message: /scalars only: an array of 512 items/ },
      'the builder refuses expectations holding a vector',
    );
  });
});

t.test('manifestForFiles hashes what it lists', async (t) => {
  const dir = ownTempDir(t, 'release-files-');
  await writeFile(join(dir, 'kiosk-agent_7_amd64.deb'), 'not really a package');
  const m = await manifestForFiles('agent', 'kiosk-agent 7', 7, dir, undefined, { now: new Date('2026-12-07T05:00:00.123Z') });
  t.same(m, {
    kind: 'agent',
    version: 7,
    name: 'kiosk-agent 7',
    createdAt: '2026-12-07T05:00:00Z',
    files: [{ path: 'kiosk-agent_7_amd64.deb', size: 20, sha256: sha256(Buffer.from('not really a package')) }],
  });
  t.ok(isKioskError(await manifestForFiles('agent', 'x', 7, dir, ['missing.deb']).catch((e) => e), 'E_USAGE'), 'a missing file is E_USAGE');
});

t.test('carrier release CLI: key, sign-deb, models', async (t) => {
  const dir = ownTempDir(t, 'release-cli-');
  const run = (...args: string[]) =>
    promisify(execFile)(process.execPath, ['--import', 'tsx', resolve(import.meta.dirname, '../../carrier/cli/main.ts'), 'release', ...args]).then(
      (r) => ({ code: 0, ...r }),
      (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
    );
  const key = await run('key', '--out', dir);
  t.equal(key.code, 0, key.stderr);
  const entry = JSON.parse(key.stdout);
  t.equal((await stat(join(dir, 'release-key.jwk'))).mode & 0o777, 0o600, 'the private key is 0600');
  t.same(JSON.parse(await readFile(join(dir, 'release-key.pub.json'), 'utf8')), entry);
  t.equal((await run('key', '--out', dir)).code, 2, 'an existing key is never overwritten');

  const pkg = join(dir, 'pkg');
  await mkdir(join(pkg, 'DEBIAN'), { recursive: true });
  await writeFile(join(pkg, 'DEBIAN/control'), 'Package: kiosk-agent\nVersion: 7\nArchitecture: amd64\nMaintainer: test <t@example.org>\nDescription: test\n');
  const deb = join(dir, 'kiosk-agent_7_amd64.deb');
  await promisify(execFile)('dpkg-deb', ['--root-owner-group', '--build', pkg, deb]);
  const signed = await run('sign-deb', '--deb', deb, '--version', '7', '--key', join(dir, 'release-key.jwk'));
  t.equal(signed.code, 0, signed.stderr);
  const verifier = new ReleaseVerifier({ keys: [entry] });
  await verifier.start();
  const release = await verifier.verify(signed.stdout, 'agent');
  t.match(release.manifest, { kind: 'agent', version: 7, files: [{ path: 'kiosk-agent_7_amd64.deb', sha256: sha256(await readFile(deb)) }] });
  t.equal(release.manifest.files.length, 1, 'an agent release names exactly the package');
  const wrong = await run('sign-deb', '--deb', deb, '--version', '8', '--key', join(dir, 'release-key.jwk'));
  t.match(wrong, { code: 2, stderr: /E_USAGE: the package must be named kiosk-agent_8_<arch>\.deb/ }, 'a version other than the package name says is refused');
  const renamed = join(dir, 'kiosk-agent_8_amd64.deb');
  await cp(deb, renamed);
  const lying = await run('sign-deb', '--deb', renamed, '--version', '8', '--key', join(dir, 'release-key.jwk'));
  t.match(lying, { code: 2, stderr: /control file says kiosk-agent 7, kiosk-agent 8 expected/ }, 'the control file must agree with the name');

  if (!hasData) return t.comment(NO_DATA);
  const out = join(dir, 'bundle');
  const models = await run(
    'models',
    '--models-dir',
    MODELS,
    '--version',
    '9',
    '--key',
    join(dir, 'release-key.jwk'),
    '--selftest-images',
    IMAGES.join(','),
    '--out',
    out,
  );
  t.equal(models.code, 0, models.stderr);
  const m = await verifier.verify(await readFile(join(out, 'release.jws'), 'utf8'), 'models');
  t.ok(
    m.manifest.files.some((f) => f.path === 'selftest/expected.json'),
    'the engine ran in a child process and its outputs are signed',
  );
  t.match(await runModelSelfTest(join(out, 'files')), { ok: true });
});
