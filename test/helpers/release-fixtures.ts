/**
 * Test releases: a carrier release key, signed manifests and bundle directories on disk, and a
 * verifier trusting the key. The carrier's real signer will live in carrier/; this one signs with
 * protocol/jws.ts so the token is the same format.
 */
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { JWK } from 'jose';
import { MemoryKeyStore } from '../../base/keys/memory-key-store.js';
import { publicKeyObject } from '../../base/keys/key-store.js';
import { type JwsHeader, signCompact } from '../../protocol/jws.js';
import { RELEASE_FILES_DIR, RELEASE_TOKEN_FILE } from '../../provisioning/update/bundle.js';
import { RELEASE_TYP, type ReleaseManifest, ReleaseVerifier } from '../../provisioning/update/manifest.js';

/** A carrier release key: its store, kid and public JWK. */
export interface ReleaseKey {
  store: MemoryKeyStore;
  kid: string;
  publicKey: JWK;
}

/** A fresh release key named `kid`. */
export async function releaseKey(kid = 'release-1'): Promise<ReleaseKey> {
  const store = new MemoryKeyStore();
  await store.start();
  const publicKey = publicKeyObject(store).export({ format: 'jwk' }) as JWK;
  return { store, kid, publicKey };
}

/** A started verifier trusting `keys`. */
export async function releaseVerifier(...keys: ReleaseKey[]): Promise<ReleaseVerifier> {
  const v = new ReleaseVerifier({ keys: keys.map((k) => ({ kid: k.kid, publicKey: k.publicKey })) });
  await v.start();
  return v;
}

/** Signs `payload` (any object: tests sign malformed manifests too) as a release token. */
export function signRelease(key: ReleaseKey, payload: object, header: Partial<JwsHeader> = {}): Promise<string> {
  return signCompact(key.store, { alg: 'ES256', typ: RELEASE_TYP, kid: key.kid, ...header }, payload);
}

/** The manifest describing `files` (path → content). */
export function manifestFor(version: number, files: Record<string, Buffer>, kind: ReleaseManifest['kind'] = 'models'): ReleaseManifest {
  return {
    kind,
    version,
    name: `test release ${version}`,
    createdAt: '2026-12-07T04:00:00Z',
    files: Object.entries(files).map(([path, b]) => ({ path, size: b.length, sha256: createHash('sha256').update(b).digest('hex') })),
  };
}

/** Writes a bundle directory (`release.jws` + `files/`) for `files` at `dir`; returns its token. */
export async function writeBundle(dir: string, key: ReleaseKey, version: number, files: Record<string, Buffer>): Promise<string> {
  const token = await signRelease(key, manifestFor(version, files));
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, RELEASE_TOKEN_FILE), token);
  for (const [p, b] of Object.entries(files)) {
    const f = join(dir, RELEASE_FILES_DIR, ...p.split('/'));
    await mkdir(dirname(f), { recursive: true });
    await writeFile(f, b);
  }
  return token;
}

/** Deterministic bytes of length `n` (differs by `seed`). */
export function bytes(n: number, seed = 1): Buffer {
  const b = Buffer.alloc(n);
  let x = seed * 2654435761;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}
