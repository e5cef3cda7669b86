import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink, realpath, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readBundleToken, stageFromDirectory } from '../../provisioning/update/bundle.js';
import type { ReleaseManifest, ReleaseVerifier } from '../../provisioning/update/manifest.js';
import { ReleaseStore, type StoreStep } from '../../provisioning/update/release-store.js';
import { rejectsWithCode } from '../helpers/errors.js';
import { bytes, type ReleaseKey, releaseKey, releaseVerifier, writeBundle } from '../helpers/release-fixtures.js';
import { ownTempDir } from '../helpers/tempdir.js';

const CHILD = fileURLToPath(new URL('../helpers/release-crash-child.ts', import.meta.url));
const filesOf = (v: number) => ({ 'detector/model.onnx': bytes(50_000 + v, v), 'pad/model.json': bytes(300, 100 + v) });

interface Fixture {
  dir: string;
  root: string;
  key: ReleaseKey;
  verifier: ReleaseVerifier;
  bundle: (v: number) => Promise<string>;
}

async function fixture(t: Test): Promise<Fixture> {
  const dir = ownTempDir(t, 'update-store-');
  const key = await releaseKey();
  const verifier = await releaseVerifier(key);
  const bundle = async (v: number) => {
    const b = join(dir, `bundle-${v}`);
    await rm(b, { recursive: true, force: true });
    await writeBundle(b, key, v, filesOf(v));
    return b;
  };
  return { dir, root: join(dir, 'store'), key, verifier, bundle };
}

/** Verifies, stages and installs bundle `v` into `store`. */
async function installFrom(f: Fixture, store: ReleaseStore, v: number): Promise<void> {
  const src = await f.bundle(v);
  const release = await f.verifier.verify(await readBundleToken(src));
  await store.install(await stageFromDirectory(src, release, await store.prepareStaging(release)));
}

/** A store with releases 1 and 2 committed (floor 2, 1 kept as previous) and 3 installed. */
async function seeded(f: Fixture): Promise<void> {
  const store = await ReleaseStore.open({ root: f.root, diskMarginBytes: 0 });
  for (const v of [1, 2]) {
    await installFrom(f, store, v);
    await store.switchTo(v);
    await store.startTrial();
    await store.commit();
  }
  await installFrom(f, store, 3);
}

/** Every release directory is complete and matches its manifest; returns the versions present. */
async function checkReleases(t: Test, root: string): Promise<number[]> {
  const names = await readdir(join(root, 'releases'));
  t.same(
    names.filter((n) => !/^\d+$/.test(n)),
    [],
    'no half-deleted or temporary entries among the releases',
  );
  for (const n of names) {
    const token = await readFile(join(root, 'releases', n, 'release.jws'), 'utf8');
    const m = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as ReleaseManifest;
    t.equal(m.version, Number(n));
    for (const file of m.files) {
      const b = await readFile(join(root, 'releases', n, 'files', file.path));
      t.equal(createHash('sha256').update(b).digest('hex'), file.sha256, `release ${n} ${file.path} intact`);
    }
  }
  return names.map(Number).sort();
}

/** Opens the store (recovery) and checks links, state and releases agree. */
async function assertConsistent(t: Test, root: string): Promise<ReleaseStore> {
  const store = await ReleaseStore.open({ root, diskMarginBytes: 0 });
  const s = store.state;
  t.same(
    (await readdir(root)).filter((n) => n.endsWith('.tmp')),
    [],
    'no temporaries at the root',
  );
  await checkReleases(t, root);
  t.equal(await readlink(join(root, 'current')), `releases/${s.current}`, `current -> release ${s.current}`);
  t.ok((await stat(join(root, 'current', 'release.jws'))).isFile(), 'current resolves to a complete release');
  const prev = await readlink(join(root, 'previous')).catch(() => undefined);
  if (s.trial !== null) t.equal(prev, `releases/${s.previous}`, 'previous kept during the trial');
  else t.equal(prev, undefined, 'no previous link outside a trial');
  return store;
}

t.test('install, switch, trial, commit and rollback; the floor refuses downgrades', async (t) => {
  const f = await fixture(t);
  const store = await ReleaseStore.open({ root: f.root, diskMarginBytes: 0 });
  t.same(store.state, { current: null, previous: null, trial: null, trialStarts: 0, floor: 0, lastRollback: null });
  await installFrom(f, store, 1);
  t.same(await readdir(join(f.root, 'staging')), [], 'the staged directory moved in whole');
  await store.switchTo(1);
  t.equal(await store.startTrial(), 1);
  await store.commit();
  await installFrom(f, store, 2);
  await store.switchTo(2);
  t.match(store.state, { current: 2, previous: 1, trial: 2, floor: 1 });
  t.equal(await realpath(join(f.root, 'previous')), await realpath(join(f.root, 'releases', '1')));
  t.equal(await store.startTrial(), 1);
  t.equal(await store.startTrial(), 2, 'a second start of the trial release shows it crashed');
  await store.commit();
  t.match(store.state, { current: 2, previous: 1, trial: null, floor: 2 });
  t.same(await checkReleases(t, f.root), [1, 2], 'the previous release is kept after commit');

  await installFrom(f, store, 3);
  await store.switchTo(3);
  await store.rollback('model self-test failed');
  t.match(store.state, { current: 2, previous: null, trial: null, floor: 2, lastRollback: { version: 3, reason: 'model self-test failed' } });
  t.equal(await readlink(join(f.root, 'current')), 'releases/2');
  t.same(await checkReleases(t, f.root), [1, 2], 'the failed release is removed');
  await rejectsWithCode(t, store.rollback('again'), 'E_USAGE', 'no release is on trial');

  // Anti-rollback: release 1 is on disk but below the floor.
  await t.rejects(store.switchTo(1), { code: 'E_UPDATE_DOWNGRADE', details: { version: 1, floor: 2 } });
  const src1 = await f.bundle(1);
  await rejectsWithCode(t, store.prepareStaging(await f.verifier.verify(await readBundleToken(src1))), 'E_UPDATE_DOWNGRADE', 'below the security floor 2');
  // Release 4 then 5 committed: 4 is the one just left, so it is kept; 2 and 1 are pruned.
  for (const v of [4, 5]) {
    await installFrom(f, store, v);
    await store.switchTo(v);
    await store.commit();
  }
  t.same(await checkReleases(t, f.root), [4, 5]);
  await rejectsWithCode(t, store.switchTo(4), 'E_UPDATE_DOWNGRADE');
  const again = await assertConsistent(t, f.root);
  t.match(again.state, { current: 5, floor: 5 }, 'the state survives reopening');
});

t.test('staging checks free space and refuses a bundle that does not match its manifest', async (t) => {
  const f = await fixture(t);
  const store = await ReleaseStore.open({ root: f.root, diskMarginBytes: 1e15 });
  const src = await f.bundle(1);
  const release = await f.verifier.verify(await readBundleToken(src));
  await t.rejects(store.prepareStaging(release), { code: 'E_UPDATE_DISK', details: { margin: 1e15, releaseBytes: release.totalBytes, available: Number } });

  const ok = await ReleaseStore.open({ root: f.root, diskMarginBytes: 0 });
  const staging = await ok.prepareStaging(release);
  const cases: [string, (b: string) => Promise<unknown>, string][] = [
    ['wrong sha256', (b) => writeFile(join(b, 'files', 'pad', 'model.json'), bytes(300, 7)), 'sha256'],
    ['truncated file', (b) => writeFile(join(b, 'files', 'pad', 'model.json'), bytes(299, 101)), 'size'],
    ['longer file', (b) => writeFile(join(b, 'files', 'pad', 'model.json'), bytes(301, 101)), 'size'],
    ['extra file', (b) => writeFile(join(b, 'files', 'pad', 'run.sh'), 'x'), 'extra'],
    ['missing file', (b) => rm(join(b, 'files', 'pad', 'model.json')), 'missing'],
    ['a symlink', (b) => symlink('/etc/passwd', join(b, 'files', 'pad', 'link')), 'not_a_file'],
  ];
  for (const [name, spoil, reason] of cases) {
    const b = await f.bundle(1);
    await writeFile(join(b, 'release.jws'), release.token); // the same signed manifest (ECDSA signatures differ per signing)
    await spoil(b);
    await t.rejects(stageFromDirectory(b, release, staging), { code: 'E_UPDATE_HASH', details: { reason } }, name);
    t.equal(await lstat(staging).catch(() => 'removed'), 'removed', `${name}: the staging directory is removed`);
  }
  // A file longer than the manifest says is cut while being copied (not written whole, then found wrong).
  const long = await f.bundle(1);
  await writeFile(join(long, 'release.jws'), release.token);
  await writeFile(join(long, 'files', 'detector', 'model.onnx'), bytes(5_000_000, 1));
  await rejectsWithCode(t, stageFromDirectory(long, release, staging), 'E_UPDATE_HASH', 'longer than the 50001 bytes');
  const b = await f.bundle(1);
  await writeFile(join(b, 'release.jws'), (await readBundleToken(await f.bundle(2))).trim());
  await rejectsWithCode(t, stageFromDirectory(b, release, staging), 'E_UPDATE_HASH', 'not the verified one');
  // A hand-made staged object is not installed.
  await rejectsWithCode(t, ok.install({ dir: staging, release }), 'E_UPDATE_HASH');
});

t.test('recovery repairs a dangling or missing current link from the state', async (t) => {
  const f = await fixture(t);
  await seeded(f);
  await rm(join(f.root, 'current'));
  await symlink('releases/99', join(f.root, 'current'));
  await writeFile(join(f.root, 'current.tmp'), '');
  const store = await assertConsistent(t, f.root);
  t.equal(store.state.current, 2);
});

const CRASHES: [scenario: string, step: StoreStep | `${StoreStep}#${number}`, expect: { current: number; trial: number | null; floor: number }][] = [
  ['install', 'install:renamed', { current: 2, trial: null, floor: 2 }],
  ['switch-commit', 'state:tmp-written#1', { current: 2, trial: null, floor: 2 }],
  ['switch-commit', 'switch:state-written', { current: 3, trial: 3, floor: 2 }],
  ['switch-commit', 'switch:previous-linked', { current: 3, trial: 3, floor: 2 }],
  ['switch-commit', 'switch:current-tmp', { current: 3, trial: 3, floor: 2 }],
  ['switch-commit', 'switch:current-linked', { current: 3, trial: 3, floor: 2 }],
  ['switch-commit', 'state:tmp-written#3', { current: 3, trial: 3, floor: 2 }],
  ['switch-commit', 'commit:state-written', { current: 3, trial: null, floor: 3 }],
  ['switch-commit', 'commit:previous-unlinked', { current: 3, trial: null, floor: 3 }],
  ['switch-commit', 'prune:trashed', { current: 3, trial: null, floor: 3 }],
  ['switch-rollback', 'state:tmp-written#2', { current: 3, trial: 3, floor: 2 }],
  ['switch-rollback', 'rollback:state-written', { current: 2, trial: null, floor: 2 }],
  ['switch-rollback', 'rollback:current-linked', { current: 2, trial: null, floor: 2 }],
  ['switch-rollback', 'rollback:previous-unlinked', { current: 2, trial: null, floor: 2 }],
  ['switch-rollback', 'prune:trashed', { current: 2, trial: null, floor: 2 }],
];

for (const [scenario, step, expect] of CRASHES) {
  t.test(`SIGKILL in ${scenario} at ${step} leaves a consistent store with a working current`, async (t) => {
    const f = await fixture(t);
    await seeded(f);
    if (scenario === 'install') {
      await rm(join(f.root, 'releases', '3'), { recursive: true });
    }
    const arg = JSON.stringify({ root: f.root, scenario, step, bundle: await f.bundle(3), kid: f.key.kid, publicKey: f.key.publicKey });
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, arg], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const [code, signal] = await new Promise<[number | null, string | null]>((r) => child.on('exit', (c, s) => r([c, s])));
    t.equal(signal, 'SIGKILL', `killed at the step (exit ${code}) ${stderr.slice(0, 500)}`);
    if (step === 'prune:trashed') {
      // Killed while deleting: the release is already out of releases/<v>, so no half-deleted one can look complete.
      const left = await readdir(join(f.root, 'releases'));
      t.ok(left.some((n) => n.startsWith('.trash-')) && !left.includes(scenario === 'switch-commit' ? '1' : '3'), `renamed before deletion: ${left}`);
    }
    const store = await assertConsistent(t, f.root);
    t.match(store.state, expect);
    if (store.state.trial !== null) {
      await store.rollback('crashed mid-trial');
      await assertConsistent(t, f.root);
      t.equal(store.state.current, 2, 'the trial can still be rolled back');
    } else if (scenario === 'install') {
      await store.switchTo(3);
      t.equal((await assertConsistent(t, f.root)).state.current, 3, 'the installed release can be switched to');
    }
  });
}
