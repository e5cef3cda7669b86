/**
 * The carrier's apt repository for the agent's Debian package, kept by reprepro and signed
 * (`SignWith`) so that apt on the kiosk accepts it only with the carrier's keyring (`signed-by=`).
 * The kiosk does not trust the repository for content: the release manifest, signed by the carrier's
 * release key, names the package's sha256 (provisioning/update/apt-source.ts checks both).
 *
 *   <dir>/conf/distributions, conf/options   written here
 *   <dir>/dists/<suite>/InRelease, Release.gpg, main/binary-<arch>/Packages   what apt reads
 *   <dir>/pool/main/k/kiosk-agent/kiosk-agent_<v>_<arch>.deb
 *   <dir>/db/                                 reprepro's own database (not to be served)
 */
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { KioskError } from '../../base/errors.js';

const run = promisify(execFile);

/** Options of {@link createAptRepo}. */
export interface AptRepoOptions {
  /** The repository folder (served over HTTP, except db/ and conf/). */
  dir: string;
  /** GnuPG home holding the signing key. */
  gnupgHome: string;
  /** Fingerprint of the signing key. */
  keyId: string;
  /** Suite and codename (default `stable`). */
  suite?: string;
  /** Component (default `main`). */
  component?: string;
  /** Debian architectures the repository carries. */
  architectures: string[];
}

/** A repository made by {@link createAptRepo}. */
export interface AptRepo {
  readonly dir: string;
  readonly gnupgHome: string;
  readonly suite: string;
  readonly component: string;
}

const WORD = /^[a-z0-9][a-z0-9.+-]*$/;

/** Writes reprepro's configuration for a signed repository at `o.dir` and exports its (empty) indexes. */
export async function createAptRepo(o: AptRepoOptions): Promise<AptRepo> {
  const suite = o.suite ?? 'stable';
  const component = o.component ?? 'main';
  for (const w of [suite, component, ...o.architectures]) if (!WORD.test(w)) throw new KioskError('E_USAGE', 'not a Debian word', { subject: w });
  if (!/^[0-9A-Fa-f]{16,40}$/.test(o.keyId)) throw new KioskError('E_USAGE', 'the signing key must be given by its fingerprint', { subject: o.keyId });
  if (o.architectures.length === 0) throw new KioskError('E_USAGE', 'a repository needs at least one architecture', { subject: o.dir });
  const repo: AptRepo = { dir: resolve(o.dir), gnupgHome: resolve(o.gnupgHome), suite, component };
  await mkdir(join(repo.dir, 'conf'), { recursive: true });
  const distributions = [
    'Origin: kiosk-carrier',
    'Label: kiosk-agent',
    `Suite: ${suite}`,
    `Codename: ${suite}`,
    `Architectures: ${o.architectures.join(' ')}`,
    `Components: ${component}`,
    'Description: kiosk-agent releases',
    `SignWith: ${o.keyId}`,
    '',
  ].join('\n');
  await writeFile(join(repo.dir, 'conf', 'distributions'), distributions);
  // gnupghome in options: reprepro then never signs with the operator's own ~/.gnupg by mistake.
  await writeFile(join(repo.dir, 'conf', 'options'), `basedir ${repo.dir}\ngnupghome ${repo.gnupgHome}\n`);
  await reprepro(repo, ['export', suite]);
  return repo;
}

/** Adds the package at `debPath` to the repository and re-signs its indexes. */
export async function includeDeb(repo: AptRepo, debPath: string): Promise<void> {
  await reprepro(repo, ['--component', repo.component, 'includedeb', repo.suite, resolve(debPath)]);
}

async function reprepro(repo: AptRepo, args: string[]): Promise<void> {
  try {
    await run('reprepro', ['--basedir', repo.dir, '--gnupghome', repo.gnupgHome, ...args], { maxBuffer: 1 << 22 });
  } catch (err) {
    const stderr = String((err as { stderr?: string }).stderr ?? '').slice(-600);
    throw new KioskError('E_INTERNAL', `reprepro ${args.at(-2) ?? ''} failed: ${stderr.trim()}`, { subject: repo.dir, cause: err });
  }
}
