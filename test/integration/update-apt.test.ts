import t, { type Test } from 'tap';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { makeSigningKey, stopGpgAgent } from '../../carrier/release/gpg-key.js';
import { type AptStageOptions, stageAgentFromApt } from '../../provisioning/update/apt-source.js';
import type { ReleaseVerifier } from '../../provisioning/update/manifest.js';
import { ReleaseStore } from '../../provisioning/update/release-store.js';
import { type PackedDeb, packDeb } from '../../scripts/release/pack-deb.js';
import { type AptServer, craftDeb, handMadeRepo, makeAptRepo, makeTestApp, serveDir, type TestAptRepo } from '../helpers/apt-repo.js';
import { rejectsWithCode } from '../helpers/errors.js';
import { type ReleaseKey, releaseKey, releaseVerifier, signRelease } from '../helpers/release-fixtures.js';
import { ownTempDir } from '../helpers/tempdir.js';

const run = promisify(execFile);
const ARCH = 'amd64';
const EPOCH = 1_796_600_000;

interface World {
  dir: string;
  repo: TestAptRepo;
  server: AptServer;
  key: ReleaseKey;
  verifier: ReleaseVerifier;
  deb7: PackedDeb;
  /** Same version 7, other content: not in the repository. */
  other7: PackedDeb;
}

/** Snapshot of the machine's own apt lists, package cache and dpkg status (names, sizes, mtimes). */
async function systemAptState(): Promise<string> {
  const out: string[] = [];
  for (const d of ['/var/lib/apt/lists', '/var/lib/apt/lists/partial', '/var/cache/apt/archives', '/var/cache/apt/archives/partial']) {
    const st = await stat(d).catch(() => undefined);
    out.push(`${d} ${st?.mtimeMs}`);
    for (const n of (await readdir(d).catch(() => [])).sort()) {
      const s = await lstat(join(d, n));
      out.push(`${d}/${n} ${s.size} ${s.mtimeMs}`);
    }
  }
  const status = await stat('/var/lib/dpkg/status').catch(() => undefined);
  out.push(`/var/lib/dpkg/status ${status?.size} ${status?.mtimeMs}`);
  return out.join('\n');
}

async function have(cmd: string): Promise<boolean> {
  return run('sh', ['-c', `command -v ${cmd}`]).then(
    () => true,
    () => false,
  );
}

const tools = await Promise.all(['apt-get', 'reprepro', 'gpg', 'dpkg-deb'].map(have));
if (tools.includes(false)) {
  t.comment('apt-get, reprepro, gpg or dpkg-deb is missing: skipping the apt update tests');
  t.end();
} else {
  const before = await systemAptState();
  const w = await world(t);

  const agentRelease = async (version: number, deb: { sha256: string; size: number }, path = `kiosk-agent_${version}_${ARCH}.deb`) =>
    w.verifier.verify(
      await signRelease(w.key, {
        kind: 'agent',
        version,
        name: `agent ${version}`,
        createdAt: '2026-12-07T04:00:00Z',
        files: [{ path, sha256: deb.sha256, size: deb.size }],
      }),
    );
  const opts = (t: Test, extra: Partial<AptStageOptions> = {}): AptStageOptions => ({
    repo: { url: w.server.url, suite: w.repo.suite, component: w.repo.component, keyring: w.repo.keyring },
    aptDir: join(ownTempDir(t, 'apt-state-'), 'apt'),
    ...extra,
  });
  const store = async (t: Test) => ReleaseStore.open({ root: join(ownTempDir(t, 'apt-store-'), 'store'), diskMarginBytes: 0 });
  const nothingInstalled = async (t: Test, s: ReleaseStore, root: string) => {
    t.same(await readdir(join(root, 'releases')), [], 'no release installed');
    t.same(await readdir(join(root, 'staging', '7')).catch(() => []), [], 'nothing staged');
    t.equal(s.state.current, null);
  };
  const rootOf = (s: ReleaseStore) => join(s.releaseDir(7), '..', '..');

  t.test('a good package stages, installs and runs after the switch', async (t) => {
    const s = await store(t);
    const release = await agentRelease(7, w.deb7);
    const progress: Array<[number, number]> = [];
    const staged = await stageAgentFromApt(release, await s.prepareStaging(release), opts(t, { onProgress: (b, n) => progress.push([b, n]) }));
    for (const f of ['usr/lib/kiosk-agent/bin/kiosk-agent', 'usr/lib/kiosk-agent/agent/cli/main.ts', 'lib/systemd/system/kiosk-agent.service', 'release.jws'])
      t.ok(await stat(join(staged.dir, f)), `${f} is staged`);
    t.equal(await readFile(join(staged.dir, 'release.jws'), 'utf8'), release.token, 'the manifest is kept next to the files');
    t.same(progress.at(-1), [w.deb7.size, w.deb7.size], 'progress ends at the package size');
    await s.install(staged);
    await s.switchTo(7);
    const bin = join(rootOf(s), 'current', 'usr', 'lib', 'kiosk-agent', 'bin', 'kiosk-agent');
    const { stdout } = await run(bin, ['--version']);
    t.equal(stdout.trim(), '0.0.7-apt', 'the installed release runs its own copy of the agent');
  });

  t.test('a disk without room for the unpacked package is refused before unpacking', async (t) => {
    const s = await store(t);
    const release = await agentRelease(7, w.deb7);
    // The package is small; its Installed-Size plus this margin is more than any disk here has.
    await t.rejects(stageAgentFromApt(release, await s.prepareStaging(release), opts(t, { diskMarginBytes: 2 ** 52 })), {
      code: 'E_UPDATE_DISK',
      details: { installedBytes: Number },
    });
    await nothingInstalled(t, s, rootOf(s));
  });

  t.test('a repository signed by another key is refused', async (t) => {
    const other = await makeSigningKey(join(ownTempDir(t, 'apt-otherkey-'), 'gnupg'), 'intruder');
    t.teardown(() => stopGpgAgent(join(other.keyring, '..')));
    const s = await store(t);
    const release = await agentRelease(7, w.deb7);
    const o = opts(t);
    await rejectsWithCode(
      t,
      stageAgentFromApt(release, await s.prepareStaging(release), { ...o, repo: { ...o.repo, keyring: other.keyring } }),
      'E_UPDATE_SIGNATURE',
    );
    await nothingInstalled(t, s, rootOf(s));
  });

  t.test("a package other than the manifest's is refused", async (t) => {
    const s = await store(t);
    const wrongDeb = await agentRelease(7, w.other7);
    await t.rejects(stageAgentFromApt(wrongDeb, await s.prepareStaging(wrongDeb), opts(t)), { code: 'E_UPDATE_HASH', details: { reason: 'index' } });
    const flipped = w.deb7.sha256.replace(/^./, (c) => (c === '0' ? '1' : '0'));
    const wrongHash = await agentRelease(7, { sha256: flipped, size: w.deb7.size });
    await t.rejects(stageAgentFromApt(wrongHash, await s.prepareStaging(wrongHash), opts(t)), { code: 'E_UPDATE_HASH', details: { reason: 'index' } });
    await nothingInstalled(t, s, rootOf(s));
  });

  t.test('bytes that differ from the signed index and manifest are refused', async (t) => {
    const s = await store(t);
    const release = await agentRelease(7, w.deb7);
    const o = opts(t);
    w.server.faults.corruptNext = '.deb';
    await rejectsWithCode(t, stageAgentFromApt(release, await s.prepareStaging(release), o), 'E_UPDATE_HASH', 'does not match the sha256');
    t.equal(w.server.faults.corruptNext, undefined, 'the corrupted body was served');
    t.same(await readdir(join(o.aptDir, 'debs')), [], 'the bad bytes are not kept for a resume');
    await nothingInstalled(t, s, rootOf(s));
  });

  t.test('an index that differs from the signed InRelease is refused', async (t) => {
    const s = await store(t);
    const release = await agentRelease(7, w.deb7);
    w.server.faults.corruptNext = 'Packages.gz';
    await t.rejects(stageAgentFromApt(release, await s.prepareStaging(release), opts(t)), { code: 'E_UPDATE_HASH', details: { reason: 'apt_hash' } });
    t.equal(w.server.faults.corruptNext, undefined, 'the corrupted index was served');
    await nothingInstalled(t, s, rootOf(s));
  });

  t.test('a body the server cuts short is refused and nothing is installed', async (t) => {
    const s = await store(t);
    const release = await agentRelease(7, w.deb7);
    w.server.faults.truncateNext = '.deb';
    await t.rejects(stageAgentFromApt(release, await s.prepareStaging(release), opts(t)), { code: 'E_UPDATE_DOWNLOAD', details: { reason: 'truncated' } });
    t.equal(w.server.faults.truncateNext, undefined, 'the truncated body was served');
    await nothingInstalled(t, s, rootOf(s));
  });

  t.test('a download interrupted half way resumes with a Range request', async (t) => {
    const s = await store(t);
    const release = await agentRelease(7, w.deb7);
    const o = opts(t);
    const half = w.deb7.size >> 1;
    w.server.faults.dropAfterBytes = half;
    const seen = w.server.requests.length;
    await rejectsWithCode(t, stageAgentFromApt(release, await s.prepareStaging(release), o), 'E_UPDATE_DOWNLOAD');
    const partial = join(o.aptDir, 'debs', `kiosk-agent_7_${ARCH}.deb.part`);
    t.equal((await stat(partial)).size, half, 'the half that arrived is kept in the apt folder');
    const staged = await stageAgentFromApt(release, await s.prepareStaging(release), o);
    const debRequests = w.server.requests.slice(seen).filter((r) => r.path.endsWith('.deb'));
    t.same(
      debRequests.map((r) => r.range),
      [undefined, `bytes=${half}-`],
      'the second attempt asked only for the rest',
    );
    await s.install(staged);
    t.ok(await stat(join(s.releaseDir(7), 'usr', 'lib', 'kiosk-agent', 'bin', 'kiosk-agent')), 'the resumed package installs');
  });

  t.test('a package whose version is not the release version is refused', async (t) => {
    const s = await store(t);
    const misnamed = await agentRelease(7, w.deb7, `kiosk-agent_8_${ARCH}.deb`);
    await rejectsWithCode(t, stageAgentFromApt(misnamed, await s.prepareStaging(misnamed), opts(t)), 'E_UPDATE_MANIFEST', 'kiosk-agent_7_');
    // A signed index that calls a package "7" whose own control file says 9: apt hands it over.
    const side = ownTempDir(t, 'apt-handmade-');
    const nine = await respell(w, '9', side);
    const keyed = await makeSigningKey(join(side, 'gnupg'), 'carrier');
    t.teardown(() => stopGpgAgent(join(side, 'gnupg')));
    await handMadeRepo(join(side, 'repo'), join(side, 'gnupg'), keyed.keyId, nine, '7');
    const server = await serveDir(join(side, 'repo'));
    t.teardown(() => server.close());
    const release = await agentRelease(7, nine);
    const o = opts(t);
    const repo = { ...o.repo, url: server.url, keyring: keyed.keyring };
    await rejectsWithCode(t, stageAgentFromApt(release, await s.prepareStaging(release), { ...o, repo }), 'E_UPDATE_MANIFEST', 'control fields');
    await nothingInstalled(t, s, rootOf(s));
  });

  t.test('a package with a member outside its directory is refused before unpacking', async (t) => {
    const s = await store(t);
    const side = ownTempDir(t, 'apt-evil-');
    const evil = await craftDeb(join(side, 'evil.deb'), [
      ['./usr/lib/kiosk-agent/etc', 'l', '/etc'],
      ['./usr/lib/kiosk-agent/etc/cron.d/evil', '-', '* * * * * root true\n'],
    ]);
    const keyed = await makeSigningKey(join(side, 'gnupg'), 'carrier');
    t.teardown(() => stopGpgAgent(join(side, 'gnupg')));
    await handMadeRepo(join(side, 'repo'), join(side, 'gnupg'), keyed.keyId, evil, '7');
    const server = await serveDir(join(side, 'repo'));
    t.teardown(() => server.close());
    const release = await agentRelease(7, evil);
    const o = opts(t);
    const repo = { ...o.repo, url: server.url, keyring: keyed.keyring };
    await rejectsWithCode(t, stageAgentFromApt(release, await s.prepareStaging(release), { ...o, repo }), 'E_UPDATE_MANIFEST', 'through_symlink');
    await nothingInstalled(t, s, rootOf(s));
  });

  t.test('a package missing from the repository is a download error', async (t) => {
    const s = await store(t);
    const release = await agentRelease(9, w.deb7);
    await rejectsWithCode(t, stageAgentFromApt(release, await s.prepareStaging(release), opts(t)), 'E_UPDATE_DOWNLOAD');
  });

  t.test("the machine's own apt state is untouched", async (t) => {
    const now = await systemAptState();
    t.notMatch(now, /127\.0\.0\.1|kiosk-agent/, 'no list or package of ours in the system folders');
    t.equal(now, before, '/var/lib/apt/lists, /var/cache/apt/archives and the dpkg status are as they were');
  });
}

/** The repository, its server, the release key and two version-7 packages, made once for all subtests. */
async function world(t: Test): Promise<World> {
  const dir = ownTempDir(t, 'update-apt-');
  const repo = await makeAptRepo(join(dir, 'carrier'));
  t.teardown(() => repo.stop());
  const app = await makeTestApp(join(dir, 'app7'), { version: '0.0.7-apt' });
  const deb7 = await packDeb({ app, version: 7, out: join(dir, 'debs'), sourceDateEpoch: EPOCH, arch: ARCH });
  const otherApp = await makeTestApp(join(dir, 'app7b'), { version: '0.0.7-other' });
  const other7 = await packDeb({ app: otherApp, version: 7, out: join(dir, 'debs-other'), sourceDateEpoch: EPOCH, arch: ARCH });
  await repo.publish(deb7.path);
  const server = await repo.serve();
  t.teardown(() => server.close());
  const key = await releaseKey();
  return { dir, repo, server, key, verifier: await releaseVerifier(key), deb7, other7 };
}

/** Repacks version 7 into `dir` with its Version field spelt `version` (a carrier-side slip). */
async function respell(w: World, version: string, dir: string): Promise<PackedDeb> {
  const tree = join(dir, 'respell');
  await run('dpkg-deb', ['-R', w.deb7.path, tree]);
  const control = join(tree, 'DEBIAN', 'control');
  await writeFile(control, (await readFile(control, 'utf8')).replace(/^Version: .*$/m, `Version: ${version}`));
  const out = join(dir, `kiosk-agent_${version}_${ARCH}.deb`);
  await run('dpkg-deb', ['--root-owner-group', '--build', tree, out]);
  const data = await readFile(out);
  return { path: out, sha256: createHash('sha256').update(data).digest('hex'), size: data.length };
}
