/**
 * Stages an agent release from the carrier's signed apt repository. Two signatures guard it: apt
 * checks the repository's InRelease against the one carrier keyring named by `signed-by=`, and the
 * package's sha256 in that verified index must equal the one in the release manifest the carrier's
 * release key signed; the bytes are then checked against it while they are downloaded. Only then is
 * the package unpacked (`dpkg-deb -x`, no maintainer scripts) into the store's staging directory, so
 * an installed release is the package's file tree plus `release.jws`.
 *
 * apt runs with a private configuration (`APT_CONFIG`, and `Dir::Etc` pointing at our own empty
 * folders so no system source, key, preference or apt.conf.d snippet applies) and private state and
 * cache under `aptDir`: the machine's apt lists, cache and dpkg status are never touched.
 *
 * Why apt only resolves the package (`--print-uris download`) and download.ts fetches it: `apt-get
 * download` starts an interrupted package over from byte 0 (it sends no Range for the file it left),
 * and `apt-get install --download-only`, which does resume, resolves Depends (nodejs, ...) against
 * the status file, so with an empty one it refuses. download.ts keeps a `.part` under aptDir and
 * resumes it with a Range request.
 */
import { spawn } from 'node:child_process';
import { mkdir, readdir, rm, statfs, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { KioskError } from '../../base/errors.js';
import { exitOf, TailBuffer } from '../../base/process.js';
import { markStaged, RELEASE_TOKEN_FILE, type StagedRelease } from './bundle.js';
import { assertDebContained } from './deb-check.js';
import { fsyncDir, writeFileDurable } from './fs-durable.js';
import { downloadFile } from './download.js';
import { assertVerified, type VerifiedRelease } from './manifest.js';

/** Where the carrier's repository is and the keyring that must have signed it. */
export interface AptRepoSource {
  /** http(s) URL of the repository root. */
  url: string;
  /** Suite (e.g. `stable`). */
  suite: string;
  /** Component (e.g. `main`). */
  component: string;
  /** Absolute path of the carrier's binary OpenPGP keyring (apt's `signed-by=`). */
  keyring: string;
}

/** Options of {@link stageAgentFromApt}. */
export interface AptStageOptions {
  repo: AptRepoSource;
  /** Private apt state and cache; keep it between attempts (a partial download resumes from it). */
  aptDir: string;
  signal?: AbortSignal;
  /** Bytes of the package present so far and its size from the manifest. */
  onProgress?: (bytes: number, total: number) => void;
  /** Free space kept beyond the unpacked package (its Installed-Size), bytes (default 64 MiB). */
  diskMarginBytes?: number;
  /** Longest one apt-get run may take, ms (default 30 minutes). */
  timeoutMs?: number;
}

const DEB_NAME = /^kiosk-agent_(\d+)_([a-z0-9-]+)\.deb$/;
const WORD = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Downloads the release's package with apt, checks it against the manifest and unpacks it into `stagingDir`. */
export async function stageAgentFromApt(release: VerifiedRelease, stagingDir: string, o: AptStageOptions): Promise<StagedRelease> {
  assertVerified(release);
  const m = release.manifest;
  const file = m.files[0];
  if (m.kind !== 'agent' || m.files.length !== 1 || !file)
    throw new KioskError('E_UPDATE_MANIFEST', 'an agent release names exactly one Debian package', { subject: `release ${m.version}` });
  const name = DEB_NAME.exec(file.path);
  if (!name || Number(name[1]) !== m.version)
    throw new KioskError('E_UPDATE_MANIFEST', `the package name must be kiosk-agent_${m.version}_<arch>.deb`, { subject: file.path.slice(0, 200) });
  const arch = name[2];
  const apt = await prepareApt(resolve(o.aptDir), o.repo, arch);
  const run = (args: string[], cwd?: string) => aptGet(apt.config, args, { cwd, signal: o.signal, timeoutMs: o.timeoutMs ?? 30 * 60_000 });
  await run(['update']);
  const where = await packageUri(apt, run, m.version);
  // The index apt has just verified must name the same bytes as the manifest the release key signed.
  if (where.size !== file.size || where.sha256 !== file.sha256)
    throw new KioskError('E_UPDATE_HASH', "the repository's index names other bytes than the release manifest", {
      subject: file.path,
      details: { reason: 'index', expected: file.sha256, index: where.sha256, bytes: where.size, expectedBytes: file.size },
    });
  // downloadFile resumes a `.part` left in aptDir by an interrupted attempt (HTTP Range) and renames it
  // to `deb` only once its size and sha256 are the manifest's (E_UPDATE_HASH otherwise).
  const deb = join(apt.debs, file.path);
  const onProgress = o.onProgress && ((b: number) => o.onProgress?.(b, file.size));
  await downloadFile({ url: where.url, dest: deb, sha256: file.sha256, size: file.size, signal: o.signal, onProgress });
  try {
    const fields = await debFields(deb);
    if (fields.Package !== 'kiosk-agent' || fields.Version !== String(m.version) || fields.Architecture !== arch)
      throw new KioskError('E_UPDATE_MANIFEST', 'the package control fields do not name this release', {
        subject: file.path,
        details: { package: fields.Package?.slice(0, 64), version: fields.Version?.slice(0, 64), architecture: fields.Architecture?.slice(0, 32) },
      });
    await assertDebContained(deb);
    await assertRoomToUnpack(stagingDir, Number(fields['Installed-Size'] ?? 0) * 1024, o.diskMarginBytes ?? 64 * 1024 * 1024, file.path);
    await rm(stagingDir, { recursive: true, force: true });
    await mkdir(stagingDir, { recursive: true });
    try {
      await tool('dpkg-deb', ['-x', deb, stagingDir], file.path);
      await writeFileDurable(join(stagingDir, RELEASE_TOKEN_FILE), release.token);
      const dirs = (await readdir(stagingDir, { withFileTypes: true, recursive: true })).filter((e) => e.isDirectory());
      for (const d of dirs) await fsyncDir(join(d.parentPath ?? d.path, d.name));
      await fsyncDir(stagingDir);
    } catch (err) {
      await rm(stagingDir, { recursive: true, force: true });
      throw err;
    }
    return markStaged(stagingDir, release);
  } finally {
    await rm(deb, { force: true }); // unpacked or refused: the package itself is not kept
  }
}

/** The private apt configuration and folders under `aptDir`. */
async function prepareApt(aptDir: string, repo: AptRepoSource, arch: string): Promise<{ config: string; debs: string; uris: string }> {
  const url = safeUrl(repo.url);
  if (!WORD.test(repo.suite) || !WORD.test(repo.component))
    throw new KioskError('E_CONFIG_INVALID', 'suite and component are plain words', { subject: 'update.apt' });
  if (!repo.keyring.startsWith('/') || /[\s\]]/.test(repo.keyring))
    throw new KioskError('E_CONFIG_INVALID', 'the repository keyring must be an absolute path without spaces', { subject: repo.keyring });
  const etc = join(aptDir, 'etc');
  const state = join(aptDir, 'state');
  const cache = join(aptDir, 'cache');
  const debs = join(aptDir, 'debs');
  const uris = join(aptDir, 'uris'); // empty: apt prints no URI for a package already in its cwd
  for (const d of [
    join(etc, 'apt.conf.d'),
    join(etc, 'sources.list.d'),
    join(etc, 'trusted.gpg.d'),
    join(etc, 'preferences.d'),
    join(state, 'lists', 'partial'),
    join(cache, 'archives', 'partial'),
    uris,
    debs,
    join(aptDir, 'log'),
  ])
    await mkdir(d, { recursive: true });
  await writeFile(join(etc, 'sources.list'), `deb [signed-by=${repo.keyring}] ${url} ${repo.suite} ${repo.component}\n`);
  await writeFile(join(state, 'status'), ''); // no installed packages: nothing is resolved against the system
  const q = (v: string) => `"${v.replace(/["\\]/g, '')}"`;
  const lines = [
    `Dir::Etc ${q(etc)};`,
    `Dir::Etc::main ${q(join(etc, 'apt.conf'))};`,
    `Dir::Etc::parts ${q(join(etc, 'apt.conf.d'))};`,
    `Dir::Etc::trusted ${q(join(etc, 'trusted.gpg'))};`,
    `Dir::State ${q(state)};`,
    `Dir::State::status ${q(join(state, 'status'))};`,
    `Dir::Cache ${q(cache)};`,
    `Dir::Log ${q(join(aptDir, 'log'))};`,
    `APT::Architecture ${q(arch)};`,
    `APT::Architectures { ${q(arch)}; };`,
    'APT::Update::Error-Mode "any";',
    'Acquire::Languages "none";',
    'Acquire::PDiffs "false";',
    'Acquire::Retries "0";',
    'Acquire::http::Timeout "60";',
    'Acquire::https::Timeout "60";',
    // apt drops to the _apt user to fetch; our private folders belong to root, so stay root.
    ...(process.getuid?.() === 0 ? ['APT::Sandbox::User "root";'] : []),
    '',
  ];
  const config = join(etc, 'apt.conf');
  await writeFile(config, lines.join('\n'));
  return { config, debs, uris };
}

function safeUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new KioskError('E_CONFIG_INVALID', 'the repository URL is not a URL', { subject: 'update.apt.url' });
  }
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || /\s/.test(raw))
    throw new KioskError('E_CONFIG_INVALID', 'the repository URL must be http or https', { subject: 'update.apt.url' });
  return u.toString().replace(/\/+$/, '');
}

/** Runs apt-get with our configuration only; a failure becomes the code that names what was wrong. */
async function aptGet(config: string, args: string[], o: { cwd?: string; signal?: AbortSignal; timeoutMs: number }): Promise<string> {
  if (o.signal?.aborted) throw new KioskError('E_ABORTED', 'the update was cancelled', { subject: `apt-get ${args[0]}` });
  const env = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', APT_CONFIG: config, LC_ALL: 'C', DEBIAN_FRONTEND: 'noninteractive' };
  const child = spawn('apt-get', ['-q', '-y', ...args], { cwd: o.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = new TailBuffer(8192);
  const stdout: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => {
    out.push(c);
    stdout.push(c);
  });
  child.stderr.on('data', (c: Buffer) => out.push(c));
  let why: 'aborted' | 'timeout' | undefined;
  const kill = (w: 'aborted' | 'timeout') => {
    why = w;
    child.kill('SIGTERM');
  };
  const onAbort = () => kill('aborted');
  o.signal?.addEventListener('abort', onAbort, { once: true });
  const timer = setTimeout(() => kill('timeout'), o.timeoutMs);
  const exit = await exitOf(child).finally(() => {
    clearTimeout(timer);
    o.signal?.removeEventListener('abort', onAbort);
  });
  const subject = `apt-get ${args[0]}`;
  if (why === 'aborted') throw new KioskError('E_ABORTED', 'the update was cancelled', { subject });
  if (why === 'timeout') throw new KioskError('E_UPDATE_DOWNLOAD', `apt-get took longer than ${o.timeoutMs} ms`, { subject, details: { reason: 'timeout' } });
  if (exit.spawnError)
    throw new KioskError('E_UPDATE_DOWNLOAD', 'apt-get could not be started', { subject, cause: exit.spawnError, details: { reason: 'no_apt' } });
  if (exit.code !== 0) throw aptFailure(subject, out.value);
  return Buffer.concat(stdout).toString('utf8');
}

/** The error for a failed apt-get run, from its output: signature, hash/size, or download problems. */
export function aptFailure(subject: string, output: string): KioskError {
  // URLs may carry credentials (user:pass@host): never put them into an error.
  const excerpt = output
    .replace(/\/\/[^/\s@]*@/g, '//')
    .split('\n')
    .filter((l) => /^(E|W|Err):/.test(l.trim()))
    .join('\n')
    .slice(-600);
  const details = (reason: string) => ({ reason, apt: excerpt });
  if (
    /NO_PUBKEY|BADSIG|EXPKEYSIG|REVKEYSIG|is not signed|is no longer signed|signatures were invalid|couldn't be verified|signature verification failed|GPG error/i.test(
      output,
    )
  )
    return new KioskError('E_UPDATE_SIGNATURE', 'the apt repository is not signed by the carrier key', { subject, details: details('repository_signature') });
  if (/Hash Sum mismatch|unexpected size|Size mismatch|Hashes of expected file/i.test(output))
    return new KioskError('E_UPDATE_HASH', 'apt refused a file whose size or hash differs from the signed index', { subject, details: details('apt_hash') });
  if (/Unable to locate package|Version '[^']*' for '[^']*' was not found|Can't select/i.test(output))
    return new KioskError('E_UPDATE_DOWNLOAD', 'the repository does not hold this release', { subject, details: details('not_in_repository') });
  return new KioskError('E_UPDATE_DOWNLOAD', 'apt could not fetch from the repository', { subject, details: details('fetch') });
}

/** The package's URL, size and sha256 from the verified index (`apt-get --print-uris download`). */
async function packageUri(
  apt: { uris: string },
  run: (args: string[], cwd?: string) => Promise<string>,
  version: number,
): Promise<{ url: string; size: number; sha256: string }> {
  const out = await run(['--print-uris', 'download', `kiosk-agent=${version}`], apt.uris);
  const m = /^'([^']+)' \S+ (\d+) SHA256:([0-9a-f]{64})$/m.exec(out);
  if (!m)
    throw new KioskError('E_UPDATE_DOWNLOAD', 'apt named no package URL with a SHA256', { subject: `kiosk-agent=${version}`, details: { reason: 'no_uri' } });
  return { url: m[1], size: Number(m[2]), sha256: m[3] };
}

/** The control fields of a package (`dpkg-deb -f`). */
async function debFields(deb: string): Promise<Record<string, string | undefined>> {
  const text = await tool('dpkg-deb', ['-f', deb, 'Package', 'Version', 'Architecture', 'Installed-Size'], deb);
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/^([A-Za-z-]+): *(.*)$/gm)) out[m[1]] = m[2].trim();
  return out;
}

/**
 * The store checked the disk for the package (the manifest's size); unpacked it is several times
 * that (Installed-Size, KiB in the control file): E_UPDATE_DISK before a byte is unpacked.
 */
async function assertRoomToUnpack(stagingDir: string, installedBytes: number, margin: number, subject: string): Promise<void> {
  const fsStat = await statfs(dirname(stagingDir));
  const available = fsStat.bavail * fsStat.bsize;
  if (available < installedBytes + margin)
    throw new KioskError('E_UPDATE_DISK', `unpacking needs ${installedBytes + margin} bytes free (with a ${margin}-byte margin), ${available} available`, {
      subject,
      details: { needed: installedBytes + margin, available, margin, installedBytes },
    });
}

/** Runs a dpkg tool on the package; a failure is E_UPDATE_MANIFEST naming the package. */
async function tool(command: string, args: string[], subject: string): Promise<string> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
  const err = new TailBuffer(1000);
  const chunks: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => chunks.push(c));
  child.stderr.on('data', (c: Buffer) => err.push(c));
  const exit = await exitOf(child);
  if (exit.code !== 0)
    throw new KioskError('E_UPDATE_MANIFEST', `${command} refused the package: ${err.summary()}`, { subject, details: { reason: 'unpack' } });
  return Buffer.concat(chunks).toString('utf8');
}
