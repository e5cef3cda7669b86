/**
 * OpenPGP signing keys for the carrier's apt repository. apt checks the repository's InRelease
 * against the one keyring named in the kiosk's `signed-by=`, so the kiosk needs the public key as a
 * binary keyring file (apt's gpgv reads `.gpg` files as binary; armoured ones only under `.asc`).
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { KioskError } from '../../base/errors.js';

const run = promisify(execFile);

/** A key made by {@link makeSigningKey}. */
export interface SigningKey {
  /** The key's full fingerprint (reprepro's SignWith, gpg's --local-user). */
  keyId: string;
  /** Binary public keyring holding only this key, for apt's `signed-by=`. */
  keyring: string;
}

/** Runs gpg on `gnupgHome` in batch mode; a failure names the home and carries gpg's stderr. */
export async function gpg(gnupgHome: string, args: string[]): Promise<string> {
  try {
    return (await run('gpg', ['--homedir', gnupgHome, '--batch', '--no-tty', ...args], { maxBuffer: 1 << 22 })).stdout;
  } catch (err) {
    const stderr = String((err as { stderr?: string }).stderr ?? '').slice(-400);
    throw new KioskError('E_INTERNAL', `gpg ${args[0]} failed: ${stderr.trim()}`, { subject: gnupgHome, cause: err });
  }
}

/**
 * Makes an ed25519 signing key without passphrase (for tests and for a carrier whose key sits on an
 * offline signing host) in `gnupgHome` and exports its public part to `<gnupgHome>/<name>.gpg`.
 */
export async function makeSigningKey(gnupgHome: string, name: string): Promise<SigningKey> {
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) throw new KioskError('E_USAGE', 'a key name is 1-64 plain characters', { subject: name });
  await mkdir(gnupgHome, { recursive: true });
  await chmod(gnupgHome, 0o700); // gpg warns about (and agents refuse) a group-readable home
  await gpg(gnupgHome, ['--passphrase', '', '--quick-gen-key', `${name} <${name}@release.invalid>`, 'ed25519', 'sign', 'never']);
  const listing = await gpg(gnupgHome, ['--with-colons', '--list-keys', `${name}@release.invalid`]);
  const fpr = /^fpr:(?:[^:]*:){8}([0-9A-F]{40}):/m.exec(listing)?.[1];
  if (!fpr) throw new KioskError('E_INTERNAL', 'gpg made a key but listed no fingerprint', { subject: gnupgHome });
  const keyring = join(gnupgHome, `${name}.gpg`);
  await gpg(gnupgHome, ['--yes', '--output', keyring, '--export', fpr]);
  return { keyId: fpr, keyring };
}

/** Stops the gpg-agent that key generation and signing started for `gnupgHome`. */
export async function stopGpgAgent(gnupgHome: string): Promise<void> {
  await run('gpgconf', ['--homedir', gnupgHome, '--kill', 'gpg-agent']).catch(() => undefined);
}
