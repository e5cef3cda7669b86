/**
 * Signed release manifests. A release (the agent or a model bundle) is described by a compact JWS
 * (ES256) made with a carrier release key, a key of its own (not the command key), so that neither
 * the download server nor the broker can make a kiosk install anything:
 *
 *   header  {"alg":"ES256","typ":"kiosk-release+jwt","kid":<the key's id in the kiosk's release keys>}
 *   payload {"kind":"agent"|"models","version":<integer, increasing>,"name":<text>,
 *            "files":[{"path":<relative>,"sha256":<hex>,"size":<bytes>}],"createdAt":<ISO 8601>}
 *
 * The kiosk checks all of it before a byte of the release is written: signature by a configured key
 * (by kid, so keys rotate), typ, then a strict schema (paths that cannot leave the release directory,
 * no duplicates, bounded sizes). Only a {@link VerifiedRelease} from here can be staged (bundle.ts).
 */
import { compactVerify, importJWK, type JWK } from 'jose';
import { KioskError } from '../../base/errors.js';
import { parseCompact } from '../../protocol/jws.js';

/** The `typ` header of a release token. */
export const RELEASE_TYP = 'kiosk-release+jwt';

/** One file of a release, relative to the release directory. */
export interface ReleaseFile {
  path: string;
  sha256: string;
  size: number;
}

/** The signed description of one release. */
export interface ReleaseManifest {
  kind: 'agent' | 'models';
  version: number;
  name: string;
  files: ReleaseFile[];
  createdAt: string;
}

/** One trusted carrier release key. */
export interface ReleaseKeyConfig {
  kid: string;
  publicKey: JWK;
}

/** Bounds on what a manifest may ask the kiosk to store. */
export interface ReleaseLimits {
  /** Most files in one release (default 2000). */
  maxFiles: number;
  /** Largest single file, bytes (default 2 GiB). */
  maxFileBytes: number;
  /** Largest release, bytes (default 4 GiB). */
  maxTotalBytes: number;
}

/** Defaults for {@link ReleaseLimits}. */
export const DEFAULT_RELEASE_LIMITS: ReleaseLimits = { maxFiles: 2000, maxFileBytes: 2 * 1024 ** 3, maxTotalBytes: 4 * 1024 ** 3 };

/** A manifest whose signature and schema were checked by a {@link ReleaseVerifier} in this process. */
export interface VerifiedRelease {
  readonly manifest: ReleaseManifest;
  /** The release key that signed it. */
  readonly kid: string;
  /** The token itself, stored next to the files so the release can be re-checked later. */
  readonly token: string;
  /** Sum of the files' sizes, bytes. */
  readonly totalBytes: number;
}

/** Releases made by a verifier; a hand-built object with the same fields is refused by {@link assertVerified}. */
const verified = new WeakSet<VerifiedRelease>();

/** Throws unless `release` came from {@link ReleaseVerifier.verify} (nothing is unpacked unverified). */
export function assertVerified(release: VerifiedRelease): void {
  if (!verified.has(release)) throw new KioskError('E_UPDATE_SIGNATURE', 'the release was not verified by a release verifier', { subject: 'release' });
}

const SEGMENT = /^[A-Za-z0-9._-]{1,128}$/;
const MANIFEST_KEYS = ['createdAt', 'files', 'kind', 'name', 'version'];
const FILE_KEYS = ['path', 'sha256', 'size'];

/** What is wrong with `v` as a release manifest (a short reason naming the field), or undefined. */
export function releaseManifestProblem(v: Record<string, unknown>, limits: ReleaseLimits = DEFAULT_RELEASE_LIMITS): string | undefined {
  if (!sameKeys(v, MANIFEST_KEYS)) return `fields must be exactly ${MANIFEST_KEYS.join(', ')}`;
  if (v.kind !== 'agent' && v.kind !== 'models') return 'kind must be agent or models';
  if (!Number.isSafeInteger(v.version) || (v.version as number) < 1) return 'version must be a positive integer';
  if (typeof v.name !== 'string' || !/^[A-Za-z0-9._ +-]{1,128}$/.test(v.name)) return 'name must be 1-128 plain characters';
  if (typeof v.createdAt !== 'string' || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(v.createdAt) || Number.isNaN(Date.parse(v.createdAt)))
    return 'createdAt must be an ISO 8601 UTC time';
  if (!Array.isArray(v.files) || v.files.length === 0 || v.files.length > limits.maxFiles) return `files must list 1 to ${limits.maxFiles} files`;
  const paths = new Set<string>();
  let total = 0;
  for (const [i, f] of v.files.entries()) {
    if (typeof f !== 'object' || f === null || Array.isArray(f) || !sameKeys(f, FILE_KEYS)) return `files[${i}] fields must be exactly ${FILE_KEYS.join(', ')}`;
    const problem = pathProblem(f.path);
    if (problem) return `files[${i}].path ${problem}`;
    if (paths.has(f.path)) return `files[${i}].path is listed twice`;
    paths.add(f.path);
    if (typeof f.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(f.sha256)) return `files[${i}].sha256 must be 64 lowercase hex digits`;
    if (!Number.isSafeInteger(f.size) || f.size < 0 || f.size > limits.maxFileBytes)
      return `files[${i}].size must be an integer from 0 to ${limits.maxFileBytes}`;
    total += f.size;
  }
  if (total > limits.maxTotalBytes) return `the files total ${total} bytes, at most ${limits.maxTotalBytes} accepted`;
  // A file may not also be a directory of another ("a" and "a/b"): one of them could not be written.
  for (const p of paths) {
    const segs = p.split('/');
    for (let n = 1; n < segs.length; n++) if (paths.has(segs.slice(0, n).join('/'))) return `path ${p} lies below the file ${segs.slice(0, n).join('/')}`;
  }
  return undefined;
}

/** True when `v` is a well-formed release manifest within `limits`. */
export function isReleaseManifest(v: Record<string, unknown>, limits: ReleaseLimits = DEFAULT_RELEASE_LIMITS): v is Record<string, unknown> & ReleaseManifest {
  return releaseManifestProblem(v, limits) === undefined;
}

/** Why `p` cannot be a path inside a release: absolute, `..`, empty segments, odd characters. */
function pathProblem(p: unknown): string | undefined {
  if (typeof p !== 'string' || p.length === 0 || p.length > 512) return 'must be a string of 1-512 characters';
  if (p.startsWith('/')) return 'must be relative';
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.' || seg === '..') return 'must not contain empty, . or .. segments';
    if (!SEGMENT.test(seg)) return 'segments may hold only letters, digits, . _ -';
  }
  return undefined;
}

function sameKeys(o: object, keys: string[]): boolean {
  const own = Object.keys(o).sort();
  return own.length === keys.length && own.every((k, i) => k === keys[i]);
}

type VerifyKey = Awaited<ReturnType<typeof importJWK>>;

/** Options of a {@link ReleaseVerifier}. */
export interface ReleaseVerifierOptions {
  keys: ReleaseKeyConfig[];
  limits?: Partial<ReleaseLimits>;
}

/** Verifies release tokens against the configured carrier release keys. */
export class ReleaseVerifier {
  private keys?: Map<string, VerifyKey>;
  private readonly limits: ReleaseLimits;

  constructor(private readonly o: ReleaseVerifierOptions) {
    this.limits = { ...DEFAULT_RELEASE_LIMITS, ...o.limits };
  }

  /** Imports the keys; a key that is not a public P-256 JWK is a configuration error naming it. */
  async start(): Promise<void> {
    const keys = new Map<string, VerifyKey>();
    for (const k of this.o.keys) {
      const jwk = k.publicKey;
      if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || jwk.d !== undefined)
        throw new KioskError('E_CONFIG_INVALID', 'a release key must be a public P-256 JWK', { subject: `update.releaseKeys.${k.kid}` });
      keys.set(k.kid, await importJWK({ kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }, 'ES256'));
    }
    this.keys = keys;
  }

  /**
   * The verified release of `token`; E_UPDATE_SIGNATURE (details.reason: malformed, typ, unknown_key,
   * bad_signature, kind) when it is not signed by a release key, E_UPDATE_MANIFEST when the signed
   * content breaks the schema.
   */
  async verify(token: string, expectKind?: ReleaseManifest['kind']): Promise<VerifiedRelease> {
    const refuse = (reason: string, message: string) => new KioskError('E_UPDATE_SIGNATURE', message, { subject: 'release manifest', details: { reason } });
    if (!this.keys) throw new KioskError('E_USAGE', 'ReleaseVerifier.start() was not called', { subject: 'release verifier' });
    token = token.trim();
    let parsed: ReturnType<typeof parseCompact>;
    try {
      parsed = parseCompact(token);
    } catch (err) {
      throw refuse('malformed', `the release manifest is not a compact JWS: ${(err as Error).message}`);
    }
    const { header } = parsed;
    if (header.alg !== 'ES256' || header.typ !== RELEASE_TYP) throw refuse('typ', `the release manifest is not an ES256 ${RELEASE_TYP}`);
    const kid = typeof header.kid === 'string' ? header.kid : undefined;
    const key = kid === undefined ? undefined : this.keys.get(kid);
    if (!key || kid === undefined) throw refuse('unknown_key', `no release key with kid ${JSON.stringify(String(header.kid).slice(0, 64))} is configured`);
    try {
      await compactVerify(token, key, { algorithms: ['ES256'] });
    } catch {
      throw refuse('bad_signature', 'the release manifest signature does not verify with the release key');
    }
    const manifest = parsed.payload;
    if (!isReleaseManifest(manifest, this.limits))
      throw new KioskError('E_UPDATE_MANIFEST', `the release manifest is malformed: ${releaseManifestProblem(manifest, this.limits)}`, {
        subject: 'release manifest',
      });
    if (expectKind && manifest.kind !== expectKind) throw refuse('kind', `the release is of kind ${manifest.kind}, ${expectKind} expected`);
    const release: VerifiedRelease = Object.freeze({
      manifest: deepFreeze(manifest),
      kid,
      token,
      totalBytes: manifest.files.reduce((n, f) => n + f.size, 0),
    });
    verified.add(release);
    return release;
  }
}

function deepFreeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null) {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
