/** Carrier CLI: the release key, signed agent releases (.deb) and signed models bundles. */
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Command } from 'commander';
import { intArg, listArg, reportError } from '../../base/cli.js';
import { KioskError } from '../../base/errors.js';

/** The package file name an agent release names (design: the Debian version is the release version). */
const DEB_NAME = /^kiosk-agent_([0-9]+)_([a-z0-9]+)\.deb$/;

/** Registers `release key`, `release sign-deb` and `release models` on `carrier`. */
export function registerRelease(carrier: Command): void {
  const release = carrier.command('release').description('carrier release key and signed releases (issue 14)');

  release
    .command('key')
    .description('make a release key pair: <out>/release-key.jwk (private, mode 0600) and <out>/release-key.pub.json (what kiosks trust)')
    .requiredOption('--out <dir>', 'directory for the two files (never overwritten)')
    .action(async (o: { out: string }) => {
      try {
        const { writeReleaseKey } = await import('../release/sign.js');
        const entry = await writeReleaseKey(join(resolve(o.out), 'release-key.jwk'), join(resolve(o.out), 'release-key.pub.json'));
        process.stdout.write(`${JSON.stringify(entry)}\n`);
      } catch (err) {
        reportError(err);
      }
    });

  release
    .command('sign-deb')
    .description('sign an agent release naming one Debian package kiosk-agent_<version>_<arch>.deb; prints the token or writes it to --out')
    .requiredOption('--deb <file>', 'the package built for this release')
    .requiredOption('--version <n>', 'release version (the package Version)', intArg('--version', 1))
    .requiredOption('--key <jwk>', 'private release key file')
    .option('--name <text>', 'release name', '')
    .option('--out <file>', 'write the token here')
    .action(async (o: { deb: string; version: number; key: string; name: string; out?: string }) => {
      try {
        const m = DEB_NAME.exec(basename(o.deb));
        if (!m || Number(m[1]) !== o.version)
          throw new KioskError('E_USAGE', `the package must be named kiosk-agent_${o.version}_<arch>.deb`, { subject: basename(o.deb) });
        // The name promises the version; the control file is what dpkg installs: both must agree.
        const { stdout } = await promisify(execFile)('dpkg-deb', ['--field', o.deb, 'Package', 'Version']).catch((err: Error) => {
          throw new KioskError('E_USAGE', `dpkg-deb cannot read the package: ${err.message}`, { subject: o.deb, cause: err });
        });
        const fields = Object.fromEntries(stdout.split('\n').map((l) => l.split(': ').map((s) => s.trim())));
        if (fields.Package !== 'kiosk-agent' || fields.Version !== String(o.version))
          throw new KioskError('E_USAGE', `the package control file says ${fields.Package} ${fields.Version}, kiosk-agent ${o.version} expected`, {
            subject: o.deb,
          });
        const { manifestForFiles, readReleaseKey, signRelease } = await import('../release/sign.js');
        const manifest = await manifestForFiles('agent', o.name || `kiosk-agent ${o.version}`, o.version, dirname(resolve(o.deb)), [basename(o.deb)]);
        const token = await signRelease(manifest, await readReleaseKey(o.key));
        if (o.out) await writeFile(o.out, `${token}\n`);
        else process.stdout.write(`${token}\n`);
      } catch (err) {
        reportError(err);
      }
    });

  release
    .command('models')
    .description('build a signed models bundle: model files, self-test images and the engine outputs on them, release.jws')
    .requiredOption('--models-dir <dir>', "the repository's models/ (manifest.json + files/) or a release's files directory")
    .requiredOption('--version <n>', 'release version', intArg('--version', 1))
    .requiredOption('--key <jwk>', 'private release key file')
    .requiredOption('--selftest-images <a,b>', 'two photos of one person (.jpg/.png)', listArg)
    .requiredOption('--out <dir>', 'bundle directory (must not exist or be empty)')
    .option('--name <text>', 'release name', '')
    .option('--variant <v>', 'weight variant the kiosks run (float | fp16 | int8)', 'fp16')
    .option('--expected <file>', 'expected outputs already measured by scripts/release/models-expected.ts (else it is run here)')
    .action(
      async (o: {
        modelsDir: string;
        version: number;
        key: string;
        selftestImages: string[];
        out: string;
        name: string;
        variant: string;
        expected?: string;
      }) => {
        try {
          if (o.selftestImages.length !== 2) throw new KioskError('E_USAGE', '--selftest-images takes exactly two files', { subject: '--selftest-images' });
          const images = [resolve(o.selftestImages[0]), resolve(o.selftestImages[1])] as const;
          const expected = o.expected ? await readJson(o.expected) : await measureExpected(resolve(o.modelsDir), images, o.variant);
          const [{ buildModelsBundle }, { readReleaseKey }] = await Promise.all([import('../release/models-bundle.js'), import('../release/sign.js')]);
          const built = await buildModelsBundle({
            modelsDir: resolve(o.modelsDir),
            outDir: resolve(o.out),
            version: o.version,
            name: o.name || `models ${o.version}`,
            key: await readReleaseKey(o.key),
            selfTest: { images, expected },
          });
          process.stdout.write(`${JSON.stringify({ bundle: built.dir, version: o.version, files: built.manifest.files.length })}\n`);
        } catch (err) {
          reportError(err);
        }
      },
    );
}

async function readJson(path: string): Promise<Record<string, unknown>> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new KioskError('E_USAGE', `cannot read the expected outputs: ${(err as Error).message}`, { subject: path, cause: err });
  }
}

/**
 * Runs scripts/release/models-expected.ts in a child process: the kiosk's engine measures the images,
 * while this process (the carrier's) never loads it. Needs this repository's checkout and its tsx.
 */
async function measureExpected(modelsDir: string, images: readonly [string, string], variant: string): Promise<Record<string, unknown>> {
  const script = fileURLToPath(new URL('../../scripts/release/models-expected.ts', import.meta.url));
  const args = ['--import', import.meta.resolve('tsx'), script, '--models-dir', modelsDir, '--images', images.join(','), '--variant', variant];
  try {
    const { stdout } = await promisify(execFile)(process.execPath, args, { maxBuffer: 1024 * 1024, timeout: 120_000 });
    return JSON.parse(stdout) as Record<string, unknown>;
  } catch (err) {
    const stderr = String((err as { stderr?: string }).stderr ?? '').trim();
    throw new KioskError('E_USAGE', `measuring the self-test outputs failed: ${stderr || (err as Error).message}`, { subject: script, cause: err });
  }
}
