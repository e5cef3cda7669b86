/**
 * The kiosk's check of a signed carrier command (protocol/command.ts): the signature by one of the
 * configured carrier command keys (by `kid`, so keys can be rotated), the command name against the
 * topic, the audience against this kiosk, a short validity, and the `jti` used once, remembered
 * durably until it expires. Anything else is refused with a reason; nothing is acted on unsigned.
 */
import { compactVerify, importJWK, type JWK } from 'jose';
import { KioskError } from '../../base/errors.js';
import { COMMAND_TYP, commandClaimsProblem, isCommandClaims, type CommandClaims } from '../../protocol/command.js';
import { parseCompact } from '../../protocol/jws.js';

/** One trusted carrier command key. */
export interface CommandKeyConfig {
  kid: string;
  publicKey: JWK;
}

/** Why a command's token was refused. */
export type CommandAuthRefusal = 'unsigned' | 'unknown_key' | 'bad_signature' | 'wrong_command' | 'wrong_kiosk' | 'expired' | 'replayed';

/** The durable record of command ids already used (the ledger). */
export interface UsedCommands {
  /** Records `jti` until `expiresAtMs`; false when it was already recorded. */
  useCommand(jti: string, expiresAtMs: number): boolean;
}

export interface CommandAuthOptions {
  keys: CommandKeyConfig[];
  deviceId: string;
  used: UsedCommands;
  /** Longest accepted exp - iat, seconds. */
  maxLifetimeSec: number;
  /** Tolerated clock difference with the carrier, seconds. */
  clockSkewSec: number;
  /** Wall clock, ms (default Date.now). */
  now?: () => number;
}

type VerifyKey = Awaited<ReturnType<typeof importJWK>>;

/** Verifies command tokens. */
export class CommandAuthenticator {
  private keys?: Map<string, VerifyKey>;

  constructor(private readonly o: CommandAuthOptions) {}

  /** Imports the keys; a bad key is a configuration error naming it. */
  async start(): Promise<void> {
    const keys = new Map<string, VerifyKey>();
    for (const k of this.o.keys) {
      const jwk = k.publicKey;
      if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || jwk.d !== undefined)
        throw new KioskError('E_CONFIG_INVALID', 'a command key must be a public P-256 JWK', { subject: `commands.keys.${k.kid}` });
      keys.set(k.kid, await importJWK({ kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }, 'ES256'));
    }
    this.keys = keys;
  }

  get configured(): boolean {
    return (this.keys?.size ?? 0) > 0;
  }

  /** The command's arguments when `payload` is a valid token for `name` on this kiosk; a refusal otherwise. */
  async verify(name: string, payload: Buffer): Promise<{ ok: true; claims: CommandClaims } | { ok: false; reason: CommandAuthRefusal; detail: string }> {
    const refuse = (reason: CommandAuthRefusal, detail: string) => ({ ok: false as const, reason, detail });
    const token = payload.toString('utf8').trim();
    let parsed: ReturnType<typeof parseCompact>;
    try {
      parsed = parseCompact(token);
    } catch {
      return refuse('unsigned', 'the command is not a signed command token (compact JWS)');
    }
    const { header } = parsed;
    if (header.alg !== 'ES256' || header.typ !== COMMAND_TYP) return refuse('unsigned', `the token is not an ES256 ${COMMAND_TYP}`);
    const key = typeof header.kid === 'string' ? this.keys?.get(header.kid) : undefined;
    if (!key) return refuse('unknown_key', `no command key with kid ${JSON.stringify(String(header.kid).slice(0, 64))} is configured`);
    try {
      await compactVerify(token, key, { algorithms: ['ES256'] });
    } catch {
      return refuse('bad_signature', 'the command signature does not verify with the carrier command key');
    }
    const claims = parsed.payload;
    if (!isCommandClaims(claims)) return refuse('unsigned', `claim ${commandClaimsProblem(claims)} missing or malformed`);
    if (claims.cmd !== name) return refuse('wrong_command', `the token is for ${claims.cmd}, the topic for ${name}`);
    if (claims.aud !== this.o.deviceId) return refuse('wrong_kiosk', `the token is for ${claims.aud.slice(0, 64)}`);
    const now = (this.o.now ?? Date.now)() / 1000;
    const skew = this.o.clockSkewSec;
    if (claims.iat > now + skew) return refuse('expired', 'the token was issued in the future');
    if (claims.exp <= claims.iat || claims.exp - claims.iat > this.o.maxLifetimeSec)
      return refuse('expired', `the token lives ${claims.exp - claims.iat} s, at most ${this.o.maxLifetimeSec} s accepted`);
    if (claims.exp < now - skew) return refuse('expired', `the token expired ${Math.round(now - claims.exp)} s ago`);
    if (!this.o.used.useCommand(claims.jti, (claims.exp + skew) * 1000)) return refuse('replayed', 'this command token was already used');
    return { ok: true, claims };
  }
}
