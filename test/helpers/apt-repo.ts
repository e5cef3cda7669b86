/**
 * Test apt repositories: a real reprepro repository signed with a fresh gpg key (carrier/release/),
 * served over HTTP on 127.0.0.1 with Range support and faults on demand, and a small app tree that
 * runs this repository's agent from source, to be packed with scripts/release/pack-deb.ts.
 *
 * Not release-server.ts: apt needs a server that keeps serving whole trees (dists/, pool/) with
 * faults armed per request (the next matching file only), and a close() of its own for a server
 * shared by several subtests.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, copyFile, cp, mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createAptRepo, includeDeb } from '../../carrier/release/apt-repo.js';
import { gpg, makeSigningKey, stopGpgAgent } from '../../carrier/release/gpg-key.js';
import type { PackedDeb } from '../../scripts/release/pack-deb.js';

const run = promisify(execFile);
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Faults the server applies to the next matching response, then forgets. */
export interface ServeFaults {
  /** The next file whose path ends with this is sent half, then the body ends cleanly (no Content-Length). */
  truncateNext?: string;
  /** The next response longer than this many bytes is cut (socket destroyed) after them, with the full Content-Length announced. */
  dropAfterBytes?: number;
  /** The next file whose path ends with this is sent with one byte flipped (same length). */
  corruptNext?: string;
  /** The next file whose path ends with this is sent half, then the connection stays open and silent (until close()). */
  stallNext?: string;
}

/** A running repository server. */
export interface AptServer {
  url: string;
  close(): Promise<void>;
  requests: Array<{ path: string; range?: string }>;
  faults: ServeFaults;
}

/** A signed repository in `<dir>/repo` with its key in `<dir>/gnupg`. */
export interface TestAptRepo {
  gnupgHome: string;
  /** Binary public keyring of the signing key (for `signed-by=`). */
  keyring: string;
  keyId: string;
  suite: string;
  component: string;
  publish(debPath: string): Promise<void>;
  serve(): Promise<AptServer>;
  /** Stops the gpg-agent the key started. */
  stop(): Promise<void>;
}

/** Makes a signing key and an empty signed repository (amd64, arm64) under `dir`. */
export async function makeAptRepo(dir: string, keyName = 'carrier'): Promise<TestAptRepo> {
  const gnupgHome = join(dir, 'gnupg');
  const key = await makeSigningKey(gnupgHome, keyName);
  const repo = await createAptRepo({ dir: join(dir, 'repo'), gnupgHome, keyId: key.keyId, architectures: ['amd64', 'arm64'] });
  return {
    gnupgHome,
    keyring: key.keyring,
    keyId: key.keyId,
    suite: repo.suite,
    component: repo.component,
    publish: (deb) => includeDeb(repo, deb),
    serve: () => serveDir(repo.dir),
    stop: () => stopGpgAgent(gnupgHome),
  };
}

/** Serves `root` (except reprepro's db/ and conf/) on 127.0.0.1 with `Range: bytes=N-` support. */
export async function serveDir(root: string): Promise<AptServer> {
  const state: AptServer = { url: '', requests: [], faults: {}, close: async () => undefined };
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    state.requests.push({ path, range: req.headers.range });
    const fail = (status: number) => {
      res.writeHead(status, { 'content-length': 0 });
      res.end();
    };
    if (path.split('/').includes('..') || /^\/(db|conf)(\/|$)/.test(path)) return fail(403);
    readFile(join(root, path)).then(
      (data) => {
        const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
        const from = m ? Number(m[1]) : 0;
        if (from >= data.length && data.length > 0) {
          res.writeHead(416, { 'content-range': `bytes */${data.length}` });
          return res.end();
        }
        const body = data.subarray(from);
        const headers: Record<string, string | number> = { 'last-modified': new Date(0).toUTCString() };
        if (m) headers['content-range'] = `bytes ${from}-${data.length - 1}/${data.length}`;
        const f = state.faults;
        if (f.truncateNext !== undefined && path.endsWith(f.truncateNext)) {
          f.truncateNext = undefined;
          res.writeHead(m ? 206 : 200, headers); // chunked: the body ends cleanly, short
          return res.end(body.subarray(0, body.length >> 1));
        }
        if (f.corruptNext !== undefined && path.endsWith(f.corruptNext)) {
          f.corruptNext = undefined;
          body[body.length >> 1] ^= 0xff; // a copy: readFile gave this request its own buffer
        }
        res.writeHead(m ? 206 : 200, { ...headers, 'content-length': body.length });
        if (f.stallNext !== undefined && path.endsWith(f.stallNext)) {
          f.stallNext = undefined;
          return res.write(body.subarray(0, body.length >> 1));
        }
        if (f.dropAfterBytes !== undefined && body.length > f.dropAfterBytes) {
          const n = f.dropAfterBytes;
          f.dropAfterBytes = undefined;
          return res.write(body.subarray(0, n), () => setTimeout(() => res.destroy(), 50));
        }
        res.end(body);
      },
      () => fail(404),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  };
  return state;
}

/** Options of {@link makeTestApp}. */
export interface TestAppOptions {
  /** package.json version of the copy (what `kiosk-agent --version` prints); default unchanged. */
  version?: string;
  /** bin/kiosk-agent exits 1 at once: a release that does not start. */
  breakStart?: boolean;
}

const CODE_DIRS = ['agent', 'base', 'device', 'protocol', 'provisioning'];
const MODEL_DATA = new Set(['files', 'converted']);

/**
 * Assembles at `dir` an app tree running this repository's agent from source: the code folders
 * copied, model data and node_modules linked to this checkout, bin/kiosk-agent a launcher through tsx.
 */
export async function makeTestApp(dir: string, o: TestAppOptions = {}): Promise<string> {
  await mkdir(join(dir, 'bin'), { recursive: true });
  for (const d of CODE_DIRS) await cp(join(REPO_ROOT, d), join(dir, d), { recursive: true, verbatimSymlinks: true });
  await mkdir(join(dir, 'models'));
  for (const name of await readdir(join(REPO_ROOT, 'models'))) {
    if (MODEL_DATA.has(name)) await symlink(join(REPO_ROOT, 'models', name), join(dir, 'models', name));
    else await cp(join(REPO_ROOT, 'models', name), join(dir, 'models', name), { recursive: true, verbatimSymlinks: true });
  }
  await symlink(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'));
  const pkg = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  if (o.version !== undefined) pkg.version = o.version;
  await writeFile(join(dir, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
  const tsx = join(REPO_ROOT, 'node_modules', 'tsx', 'dist', 'esm', 'index.mjs');
  const launcher = o.breakStart
    ? '#!/bin/sh\n# a release that does not start\nexit 1\n'
    : `#!/bin/sh\n# runs the agent of this app tree from source (tests only)\napp="$(dirname "$(readlink -f "$0")")/.."\nexec node --import ${tsx} "$app/agent/cli/main.ts" "$@"\n`;
  await writeFile(join(dir, 'bin', 'kiosk-agent'), launcher);
  await chmod(join(dir, 'bin', 'kiosk-agent'), 0o755);
  return dir;
}

// Writes a .deb by hand (dpkg-deb refuses to build these): an ar of debian-binary, control.tar.gz and
// a data.tar.gz whose members are given as JSON [name, type ('-' file | 'l' symlink), content or target].
const CRAFT = `
import io, json, sys, tarfile
out, version, members = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
def tgz(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w:gz', format=tarfile.GNU_FORMAT) as tar:
        for name, kind, body in entries:
            info = tarfile.TarInfo(name)
            if kind == 'l':
                info.type, info.linkname = tarfile.SYMTYPE, body
                tar.addfile(info)
            else:
                data = body.encode()
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()
control = 'Package: kiosk-agent\\nVersion: %s\\nArchitecture: amd64\\nMaintainer: x <x@x>\\nDescription: x\\n' % version
parts = [('debian-binary', b'2.0\\n'), ('control.tar.gz', tgz([('./control', '-', control)])), ('data.tar.gz', tgz(members))]
with open(out, 'wb') as f:
    f.write(b'!<arch>\\n')
    for name, data in parts:
        f.write(('%-16s%-12d%-6d%-6d%-8s%-10d' % (name, 0, 0, 0, '100644', len(data))).encode() + b'\\x60\\n')
        f.write(data + (b'\\n' if len(data) % 2 else b''))
`;

/** Writes at `out` an amd64 kiosk-agent package of `version` holding exactly `members` (malformed on purpose). */
export async function craftDeb(out: string, members: Array<[string, '-' | 'l', string]>, version = '7'): Promise<PackedDeb> {
  await run('python3', ['-c', CRAFT, out, version, JSON.stringify(members)]);
  const data = await readFile(out);
  return { path: out, sha256: createHash('sha256').update(data).digest('hex'), size: data.length };
}

/** A repository written by hand (no reprepro) whose signed index calls `deb` version `indexVersion`. */
export async function handMadeRepo(dir: string, gnupgHome: string, keyId: string, deb: PackedDeb, indexVersion: string, arch = 'amd64'): Promise<void> {
  const bin = join(dir, 'dists', 'stable', 'main', `binary-${arch}`);
  await mkdir(bin, { recursive: true });
  await mkdir(join(dir, 'pool'), { recursive: true });
  await copyFile(deb.path, join(dir, 'pool', 'kiosk-agent.deb'));
  const fields = (await run('dpkg-deb', ['-f', deb.path])).stdout.replace(/^Version: .*$/m, `Version: ${indexVersion}`).trimEnd();
  const packages = `${fields}\nFilename: pool/kiosk-agent.deb\nSize: ${deb.size}\nSHA256: ${deb.sha256}\n`;
  await writeFile(join(bin, 'Packages'), packages);
  const sha = createHash('sha256').update(packages).digest('hex');
  const release = [
    'Suite: stable',
    'Codename: stable',
    `Date: ${new Date().toUTCString()}`,
    `Architectures: ${arch}`,
    'Components: main',
    'SHA256:',
    ` ${sha} ${Buffer.byteLength(packages)} main/binary-${arch}/Packages`,
    '',
  ].join('\n');
  await writeFile(join(dir, 'dists', 'stable', 'Release'), release);
  await gpg(gnupgHome, ['--local-user', keyId, '--clearsign', '--output', join(dir, 'dists', 'stable', 'InRelease'), join(dir, 'dists', 'stable', 'Release')]);
}
