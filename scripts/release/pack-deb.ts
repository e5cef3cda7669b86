/**
 * Packs an assembled app directory into `kiosk-agent_<version>_<arch>.deb`, byte for byte the same
 * from the same inputs (reproducible builds): the carrier publishes the package's sha256 in the
 * signed release manifest, so anyone rebuilding the commit must be able to get that sha256 again.
 *
 *   npx tsx scripts/release/pack-deb.ts --app <dir> --version <int> --out <dir>
 *        [--arch amd64|arm64 (default: dpkg --print-architecture)] [--units <dir> (default: systemd/)]
 *
 * What varies between two builds of the same tree and is removed here: file mtimes (clamped to
 * SOURCE_DATE_EPOCH, default the last commit's time), entry order (dpkg-deb sorts the tree), owners
 * (`--root-owner-group`), permission bits other than "executable or not" (umask), and the compressor
 * (xz level 6, one thread: multi-threaded xz splits blocks by CPU count and changes the bytes).
 * Symlinks stay symlinks, with their targets as they are.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, cp, lstat, lutimes, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Options of {@link packDeb}. */
export interface PackDebOptions {
  /** The assembled app tree, installed as /usr/lib/kiosk-agent/. */
  app: string;
  /** The integer release version, also the Debian package version. */
  version: number;
  /** Folder the .deb is written to. */
  out: string;
  /** Debian architecture (default: `dpkg --print-architecture`). */
  arch?: string;
  /** Folder whose `*.service` files go to /lib/systemd/system/ (default: the repo's systemd/). */
  units?: string;
  /** Seconds since the epoch for every mtime (default: $SOURCE_DATE_EPOCH, else the last commit's time). */
  sourceDateEpoch?: number;
}

/** The package written by {@link packDeb}. */
export interface PackedDeb {
  path: string;
  sha256: string;
  size: number;
}

const POSTINST = `#!/bin/sh
# The daemon runs as its own system user; the units may have changed.
set -e
if [ "$1" = configure ] && ! getent passwd kiosk-agent >/dev/null; then
  useradd --system --user-group --home-dir /var/lib/kiosk-agent --no-create-home --shell /usr/sbin/nologin kiosk-agent
fi
if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
`;

const PRERM = `#!/bin/sh
# A removed package must not leave its daemon running from deleted files.
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then systemctl stop kiosk-agent.service || true; fi
`;

/** Builds the .deb for `o.app` reproducibly and returns its path, sha256 and size. */
export async function packDeb(o: PackDebOptions): Promise<PackedDeb> {
  if (!Number.isSafeInteger(o.version) || o.version < 1) throw new Error(`--version must be a positive integer, got ${o.version}`);
  const arch = o.arch ?? (await run('dpkg', ['--print-architecture'])).stdout.trim();
  if (!/^[a-z0-9-]+$/.test(arch)) throw new Error(`bad architecture ${arch}`);
  const epoch = o.sourceDateEpoch ?? (await defaultEpoch());
  const root = await mkdtemp(join(tmpdir(), 'pack-deb-'));
  try {
    const appDest = join(root, 'usr', 'lib', 'kiosk-agent');
    await mkdir(dirname(appDest), { recursive: true });
    await cp(resolve(o.app), appDest, { recursive: true, verbatimSymlinks: true, preserveTimestamps: false });
    const units = resolve(o.units ?? join(REPO, 'systemd'));
    const unitDest = join(root, 'lib', 'systemd', 'system');
    await mkdir(unitDest, { recursive: true });
    for (const name of (await readdir(units)).filter((n) => n.endsWith('.service')).sort()) await cp(join(units, name), join(unitDest, name));
    const installedKiB = await normalise(root, epoch);
    await mkdir(join(root, 'DEBIAN'));
    await writeFile(join(root, 'DEBIAN', 'control'), control(o.version, arch, installedKiB));
    await writeFile(join(root, 'DEBIAN', 'postinst'), POSTINST);
    await writeFile(join(root, 'DEBIAN', 'prerm'), PRERM);
    for (const script of ['postinst', 'prerm']) await chmod(join(root, 'DEBIAN', script), 0o755);
    await normalise(join(root, 'DEBIAN'), epoch);
    await mkdir(o.out, { recursive: true });
    const path = join(resolve(o.out), `kiosk-agent_${o.version}_${arch}.deb`);
    await rm(path, { force: true });
    const env = { ...process.env, SOURCE_DATE_EPOCH: String(epoch), LC_ALL: 'C' };
    await run('dpkg-deb', ['--root-owner-group', '-Zxz', '-z6', '--threads-max=1', '--uniform-compression', '--build', root, path], {
      env,
      maxBuffer: 1 << 24,
    });
    return { path, sha256: await sha256File(path), size: (await stat(path)).size };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** DEBIAN/control. Depends are what the launcher needs at run time; native modules are built for one Node ABI. */
function control(version: number, arch: string, installedKiB: number): string {
  return [
    'Package: kiosk-agent',
    `Version: ${version}`,
    `Architecture: ${arch}`,
    'Maintainer: kiosk-agent maintainers <kiosk-agent@localhost>',
    `Installed-Size: ${installedKiB}`,
    'Depends: nodejs (>= 20), passwd',
    'Recommends: ffmpeg, pcscd, tesseract-ocr',
    'Section: misc',
    'Priority: optional',
    'Description: SIM kiosk face verification daemon',
    ' On-device face liveness and 1:1 matching for unattended SIM vending kiosks;',
    ' only a signed verdict leaves the device. Bundles its node_modules (built',
    ' for this architecture and the Node.js major version of the build).',
    '',
  ].join('\n');
}

/** Sets every entry's mode to 0755/0644 and its mtime to `epoch`; returns the installed size in KiB. */
async function normalise(dir: string, epoch: number): Promise<number> {
  let kib = 0;
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  // Deepest first, so setting a directory's mtime is not undone by touching its children afterwards.
  const paths = entries.map((e) => join(e.parentPath ?? e.path, e.name)).sort((a, b) => b.length - a.length);
  for (const p of [...paths, dir]) {
    const st = await lstat(p);
    if (st.isSymbolicLink()) {
      kib += 1;
    } else if (st.isDirectory()) {
      await chmod(p, 0o755);
      kib += 4;
    } else if (st.isFile()) {
      await chmod(p, (st.mode & 0o111) !== 0 ? 0o755 : 0o644);
      kib += Math.ceil(st.size / 1024);
    } else {
      throw new Error(`${p}: only files, directories and symlinks can be packed`);
    }
    await lutimes(p, epoch, epoch);
  }
  return kib;
}

async function defaultEpoch(): Promise<number> {
  const env = process.env.SOURCE_DATE_EPOCH;
  if (env !== undefined && /^\d+$/.test(env)) return Number(env);
  return Number((await run('git', ['-C', REPO, 'log', '-1', '--format=%ct'])).stdout.trim());
}

/** sha256 of a file, hex. */
export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(path)) h.update(c as Buffer);
  return h.digest('hex');
}

function parseArgs(argv: string[]): PackDebOptions {
  const o: Record<string, string> = {};
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i];
    const v = argv[i + 1];
    if (!k?.startsWith('--') || v === undefined) throw new Error(`usage: pack-deb --app <dir> --version <int> --out <dir> [--arch a] [--units <dir>]`);
    o[k.slice(2)] = v;
  }
  for (const k of ['app', 'version', 'out']) if (!o[k]) throw new Error(`--${k} is required`);
  return { app: o.app, version: Number(o.version), out: o.out, arch: o.arch, units: o.units };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  packDeb(parseArgs(process.argv.slice(2))).then(
    (r) => console.log(JSON.stringify(r)),
    (err) => {
      console.error(`pack-deb: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    },
  );
}
