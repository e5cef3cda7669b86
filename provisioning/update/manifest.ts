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
import {
  DEFAULT_RELEASE_LIMITS,
  isReleaseManifest,
  RELEASE_TYP,
  type ReleaseLimits,
  type ReleaseManifest,
  releaseManifestProblem,
} from '../../protocol/release.js';

export {
  DEFAULT_RELEASE_LIMITS,
  isReleaseManifest,
  RELEASE_TYP,
  type ReleaseFile,
  type ReleaseLimits,
  type ReleaseManifest,
  releaseManifestProblem,
} from '../../protocol/release.js';

/** One trusted carrier release key. */
export interface ReleaseKeyConfig {
  kid: string;
  publicKey: JWK;
}

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
