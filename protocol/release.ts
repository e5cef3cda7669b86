/**
 * Release manifests: what the carrier's release tooling signs and the kiosk's updater checks
 * (provisioning/update/manifest.ts verifies the signature; this file holds the shape and the schema,
 * shared with the carrier's side). A compact JWS (ES256) made with a carrier release key:
 *
 *   header  {"alg":"ES256","typ":"kiosk-release+jwt","kid":<the key's id in the kiosk's release keys>}
 *   payload {"kind":"agent"|"models","version":<integer, increasing>,"name":<text>,
 *            "files":[{"path":<relative>,"sha256":<hex>,"size":<bytes>}],"createdAt":<ISO 8601>}
 *
 * An agent release names one file, the Debian package (`kiosk-agent_<version>_<arch>.deb`), fetched
 * from the carrier's signed apt repository; a models release names the bundle's files.
 */
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
