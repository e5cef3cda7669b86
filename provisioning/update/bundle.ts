/**
 * A release bundle is a plain directory, the same on disk (USB stick, test fixture) and on the
 * carrier's HTTP server:
 *
 *   <bundle>/release.jws        the signed manifest (manifest.ts)
 *   <bundle>/files/<path>       each file the manifest lists, nothing else
 *
 * Why not a tar: `tar` is only a transitive dependency here (not declared), an archive would have to
 * be downloaded whole before any of it could be checked, and a tar parser on untrusted bytes brings
 * its own path and link tricks. With a directory each file is fetched on its own with resume
 * (download.ts) and hashed while it is written; the signed manifest is read and verified first, so
 * nothing lands on disk that the carrier's release key did not name.
 *
 * Staging writes into the store's staging directory (release-store.ts `prepareStaging`). A hash or
 * size mismatch, a missing or an extra file refuses the whole bundle and removes the staging
 * directory; a network failure keeps it, so the next attempt resumes.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isKioskError, KioskError } from '../../base/errors.js';
import { listRegularFiles } from '../../base/file-tree.js';
import { bodyChunks, downloadFile } from './download.js';
import { fsyncDir, writeFileDurable } from './fs-durable.js';
import { assertVerified, type ReleaseFile, type VerifiedRelease } from './manifest.js';

/** Name of the signed manifest in a bundle and in an installed release. */
export const RELEASE_TOKEN_FILE = 'release.jws';
/** Folder of the release's files in a bundle and in an installed release. */
export const RELEASE_FILES_DIR = 'files';
/** Largest manifest token read, bytes (protocol/jws.ts refuses more anyway). */
const MAX_TOKEN_BYTES = 64 * 1024;

/** A release whose every file is in its staging directory, checked against the manifest. */
export interface StagedRelease {
  readonly dir: string;
  readonly release: VerifiedRelease;
}

const staged = new WeakSet<StagedRelease>();

/** Throws unless `s` came from a stage function of this module in this process. */
export function assertStaged(s: StagedRelease): void {
  if (!staged.has(s)) throw new KioskError('E_UPDATE_HASH', 'the release was not staged and checked by the bundle stager', { subject: s.dir });
}

/** Reads the manifest token of the bundle directory `src` (verify it before staging). */
export async function readBundleToken(src: string): Promise<string> {
  const file = join(src, RELEASE_TOKEN_FILE);
  const buf = await readFile(file).catch((err) => {
    throw new KioskError('E_UPDATE_MANIFEST', 'the bundle has no readable release manifest', { subject: file, cause: err });
  });
  if (buf.length > MAX_TOKEN_BYTES) throw new KioskError('E_UPDATE_MANIFEST', `the release manifest is over ${MAX_TOKEN_BYTES} bytes`, { subject: file });
  return buf.toString('utf8');
}

/** Fetches the manifest token of the bundle at `baseUrl` (verify it before staging). */
export async function fetchBundleToken(baseUrl: string, o: { signal?: AbortSignal; fetch?: typeof fetch } = {}): Promise<string> {
  const url = `${baseUrl.replace(/\/+$/, '')}/${RELEASE_TOKEN_FILE}`;
  let res: Response;
  try {
    res = await (o.fetch ?? fetch)(url, { signal: o.signal, headers: { 'accept-encoding': 'identity' } });
  } catch (err) {
    throw new KioskError('E_UPDATE_DOWNLOAD', 'cannot fetch the release manifest', { subject: url, cause: err, details: { reason: 'connect' } });
  }
  if (res.status !== 200) {
    await res.body?.cancel();
    throw new KioskError('E_UPDATE_DOWNLOAD', `the server answered HTTP ${res.status}`, {
      subject: url,
      details: { reason: 'http_status', status: res.status },
    });
  }
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of bodyChunks(res.body)) {
    n += c.length;
    if (n > MAX_TOKEN_BYTES)
      throw new KioskError('E_UPDATE_DOWNLOAD', `the release manifest is over ${MAX_TOKEN_BYTES} bytes`, { subject: url, details: { reason: 'too_long' } });
    chunks.push(Buffer.from(c));
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Copies the bundle directory `src` into `stagingDir`, hashing each file as it is written. */
export async function stageFromDirectory(src: string, release: VerifiedRelease, stagingDir: string): Promise<StagedRelease> {
  assertVerified(release);
  return refuseWhole(stagingDir, true, async () => {
    if ((await readBundleToken(src)).trim() !== release.token) mismatch(src, 'token', 'the bundle manifest is not the verified one');
    await rm(stagingDir, { recursive: true, force: true });
    await mkdir(stagingDir, { recursive: true });
    const srcFiles = join(src, RELEASE_FILES_DIR);
    const listed = new Set(release.manifest.files.map((f) => f.path));
    const present = await listRegularFiles(srcFiles, (p) => mismatch(p, 'not_a_file', 'the bundle holds something that is not a regular file'));
    for (const p of present) if (!listed.has(p)) mismatch(join(srcFiles, p), 'extra', 'the bundle holds a file its manifest does not list');
    for (const f of release.manifest.files) {
      if (!present.includes(f.path)) mismatch(join(srcFiles, f.path), 'missing', 'a file the manifest lists is missing from the bundle');
      await copyChecked(join(srcFiles, ...f.path.split('/')), join(stagingDir, RELEASE_FILES_DIR, ...f.path.split('/')), f);
    }
    return finishStaging(stagingDir, release);
  });
}

/** Downloads the bundle at `baseUrl` into `stagingDir`, resuming what an earlier attempt left there. */
export async function stageFromUrl(
  baseUrl: string,
  release: VerifiedRelease,
  stagingDir: string,
  o: { signal?: AbortSignal; onProgress?: (bytes: number, total: number) => void; fetch?: typeof fetch } = {},
): Promise<StagedRelease> {
  assertVerified(release);
  const base = baseUrl.replace(/\/+$/, '');
  // A network failure keeps the staging directory (resume); only a content mismatch discards it.
  return refuseWhole(stagingDir, false, async () => {
    await mkdir(stagingDir, { recursive: true });
    let done = 0;
    for (const f of release.manifest.files) {
      const dest = join(stagingDir, RELEASE_FILES_DIR, ...f.path.split('/'));
      await mkdir(dirname(dest), { recursive: true });
      const url = `${base}/${RELEASE_FILES_DIR}/${f.path.split('/').map(encodeURIComponent).join('/')}`;
      const onProgress = o.onProgress && ((bytes: number) => o.onProgress?.(done + bytes, release.totalBytes));
      await downloadFile({ url, dest, sha256: f.sha256, size: f.size, signal: o.signal, onProgress, fetch: o.fetch });
      done += f.size;
    }
    return finishStaging(stagingDir, release);
  });
}

/** Runs `work`; on a content error (or any error when `always`) removes the staging directory. */
async function refuseWhole(stagingDir: string, always: boolean, work: () => Promise<StagedRelease>): Promise<StagedRelease> {
  try {
    return await work();
  } catch (err) {
    if (always || isKioskError(err, 'E_UPDATE_HASH') || isKioskError(err, 'E_UPDATE_MANIFEST')) await rm(stagingDir, { recursive: true, force: true });
    throw err;
  }
}

/** Writes the manifest next to the files and makes every directory durable. */
async function finishStaging(stagingDir: string, release: VerifiedRelease): Promise<StagedRelease> {
  await writeFileDurable(join(stagingDir, RELEASE_TOKEN_FILE), release.token);
  const dirs = (await readdir(stagingDir, { withFileTypes: true, recursive: true })).filter((e) => e.isDirectory());
  for (const d of dirs) await fsyncDir(join(d.parentPath ?? d.path, d.name));
  await fsyncDir(stagingDir);
  return markStaged(stagingDir, release);
}

/** Marks `dir` as the checked staging of `release` for ReleaseStore.install; only stagers call it, after checking every file. */
export function markStaged(dir: string, release: VerifiedRelease): StagedRelease {
  assertVerified(release);
  const s: StagedRelease = Object.freeze({ dir, release });
  staged.add(s);
  return s;
}

/** Copies `from` to `to` while hashing; refuses a size or sha256 other than the manifest's. */
async function copyChecked(from: string, to: string, f: ReleaseFile): Promise<void> {
  await mkdir(dirname(to), { recursive: true });
  const hash = createHash('sha256');
  let n = 0;
  const check = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      n += chunk.length;
      if (n > f.size)
        return cb(
          new KioskError('E_UPDATE_HASH', `the file is longer than the ${f.size} bytes the manifest names`, { subject: from, details: { reason: 'size' } }),
        );
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  await pipeline(createReadStream(from), check, createWriteStream(to, { flags: 'wx' }));
  const actual = hash.digest('hex');
  if (n !== f.size || actual !== f.sha256)
    throw new KioskError('E_UPDATE_HASH', 'the file does not match the size and sha256 of the release manifest', {
      subject: from,
      details: { reason: n !== f.size ? 'size' : 'sha256', expected: f.sha256, actual, bytes: n, expectedBytes: f.size },
    });
  const fh = await open(to, 'r+');
  await fh.sync().finally(() => fh.close());
}

function mismatch(subject: string, reason: string, message: string): never {
  throw new KioskError('E_UPDATE_HASH', message, { subject, details: { reason } });
}
