/**
 * The carrier's release key and the signed release manifest (protocol/release.ts): what a kiosk's
 * ReleaseVerifier accepts before it writes a byte of a release. The release key is a key of its own,
 * apart from the command key and every broker identity, so that neither the download server nor the
 * broker can make a kiosk install anything; kiosks trust it by `kid` (update.releaseKeys).
 */
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { CompactSign, calculateJwkThumbprint, exportJWK, importJWK, type JWK } from 'jose';
import { KioskError } from '../../base/errors.js';
import { listRegularFiles } from '../../base/file-tree.js';
import { RELEASE_TYP, type ReleaseFile, type ReleaseManifest, releaseManifestProblem } from '../../protocol/release.js';

/** A public release key as a kiosk is configured with it (`update.releaseKeys` entry). */
export interface ReleaseKeyEntry {
  kid: string;
  publicKey: { kty: 'EC'; crv: 'P-256'; x: string; y: string };
}

/** A release signing key: its kid and the private key, as a JWK (from a file) or a key object. */
export type ReleaseSigningKey = { kid: string; privateJwk: JWK } | { kid: string; key: KeyObject };

/** A new P-256 release key pair; kid is the RFC 7638 thumbprint of the public key. */
export async function makeReleaseKey(): Promise<{ kid: string; privateJwk: JWK; publicJwk: ReleaseKeyEntry['publicKey'] }> {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = await exportJWK(privateKey);
  const publicJwk: ReleaseKeyEntry['publicKey'] = { kty: 'EC', crv: 'P-256', x: jwk.x as string, y: jwk.y as string };
  const kid = await calculateJwkThumbprint(publicJwk);
  return { kid, privateJwk: { ...jwk, kid, alg: 'ES256' }, publicJwk };
}

/** Writes a new release key: the private JWK at `privatePath` (mode 0600, never overwritten), the public entry at `publicPath`. */
export async function writeReleaseKey(privatePath: string, publicPath: string): Promise<ReleaseKeyEntry> {
  const k = await makeReleaseKey();
  const write = (path: string, body: unknown, mode: number) =>
    writeFile(path, `${JSON.stringify(body, null, 2)}\n`, { mode, flag: 'wx' }).catch((err: NodeJS.ErrnoException) => {
      throw new KioskError(err.code === 'EEXIST' ? 'E_USAGE' : 'E_STORAGE', `cannot write the release key: ${err.message}`, { subject: path, cause: err });
    });
  await write(privatePath, k.privateJwk, 0o600);
  const entry: ReleaseKeyEntry = { kid: k.kid, publicKey: k.publicJwk };
  await write(publicPath, entry, 0o644);
  return entry;
}

/** Reads a private release JWK written by {@link writeReleaseKey}; refuses anything but a private P-256 key. */
export async function readReleaseKey(path: string): Promise<{ kid: string; privateJwk: JWK }> {
  let jwk: JWK;
  try {
    jwk = JSON.parse(await readFile(path, 'utf8')) as JWK;
  } catch (err) {
    throw new KioskError('E_CONFIG_INVALID', `cannot read the release key: ${(err as Error).message}`, { subject: path, cause: err });
  }
  if (jwk?.kty !== 'EC' || jwk.crv !== 'P-256' || typeof jwk.d !== 'string')
    throw new KioskError('E_CONFIG_INVALID', 'a release key must be a private P-256 JWK', { subject: path });
  const kid = typeof jwk.kid === 'string' ? jwk.kid : await calculateJwkThumbprint({ kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y });
  return { kid, privateJwk: jwk };
}

/** Signs `manifest` as a release token (ES256 compact JWS, typ kiosk-release+jwt, kid); refuses a manifest a kiosk would refuse. */
export async function signRelease(manifest: ReleaseManifest, key: ReleaseSigningKey): Promise<string> {
  const problem = releaseManifestProblem(manifest as unknown as Record<string, unknown>);
  if (problem) throw new KioskError('E_UPDATE_MANIFEST', `refusing to sign a malformed release manifest: ${problem}`, { subject: manifest.name ?? 'release' });
  const signer = 'privateJwk' in key ? await importJWK(privateOnly(key.privateJwk), 'ES256') : key.key;
  const payload = Buffer.from(JSON.stringify(manifest));
  return new CompactSign(payload).setProtectedHeader({ alg: 'ES256', typ: RELEASE_TYP, kid: key.kid }).sign(signer);
}

/** The JWK fields a P-256 private key needs (a stray `use`/`key_ops` would make jose refuse it for signing). */
function privateOnly(jwk: JWK): JWK {
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || typeof jwk.d !== 'string')
    throw new KioskError('E_CONFIG_INVALID', 'a release key must be a private P-256 JWK', { subject: 'release key' });
  return { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, d: jwk.d };
}

/**
 * The manifest of a release whose files lie below `rootDir`: each of `paths` (relative, `/`-separated),
 * or every regular file below `rootDir` when `paths` is omitted, hashed and sized, sorted by path.
 */
export async function manifestForFiles(
  kind: ReleaseManifest['kind'],
  name: string,
  version: number,
  rootDir: string,
  paths?: readonly string[],
  o: { now?: Date } = {},
): Promise<ReleaseManifest> {
  const list = [
    ...(paths ??
      (await listRegularFiles(rootDir, (p) => {
        throw new KioskError('E_USAGE', 'a release may hold only regular files', { subject: p });
      }))),
  ].sort();
  const files: ReleaseFile[] = [];
  for (const p of list) files.push({ path: p, ...(await hashFile(join(rootDir, ...p.split('/')))) });
  // Whole seconds: the schema accepts fractions, but a plain time reads better in a rollout log.
  const createdAt = `${(o.now ?? new Date()).toISOString().slice(0, 19)}Z`;
  return { kind, version, name, files, createdAt };
}

/** sha256 and size of one file, streamed (a .deb or a model can be large). */
async function hashFile(path: string): Promise<{ sha256: string; size: number }> {
  const st = await lstat(path).catch((err: Error) => {
    throw new KioskError('E_USAGE', `cannot read a release file: ${err.message}`, { subject: path, cause: err });
  });
  if (!st.isFile()) throw new KioskError('E_USAGE', 'a release file must be a regular file', { subject: path });
  const hash = createHash('sha256');
  let size = 0;
  await pipeline(createReadStream(path), async (chunks: AsyncIterable<Buffer>) => {
    for await (const c of chunks) {
      size += c.length;
      hash.update(c);
    }
  });
  return { sha256: hash.digest('hex'), size };
}
