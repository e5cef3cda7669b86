/**
 * The carrier's command key: signs the commands its dispatcher sends to kiosks (protocol/command.ts).
 * It is a key of its own, apart from every broker identity, so that a compromised verifier,
 * enrolment service or broker cannot make a kiosk act; kiosks trust it by `kid` (commands.keys).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { CompactSign, calculateJwkThumbprint, exportJWK } from 'jose';
import { KioskError } from '../../base/errors.js';
import { COMMAND_TYP, DEFAULT_COMMAND_LIFETIME_SEC, type CommandClaims } from '../../protocol/command.js';

/** What a kiosk is configured with to trust this key (`commands.keys` entry). */
export interface CommandKeyEntry {
  kid: string;
  publicKey: { kty: 'EC'; crv: 'P-256'; x: string; y: string };
}

export class CommandSigner {
  private constructor(
    private readonly key: KeyObject,
    readonly entry: CommandKeyEntry,
  ) {}

  /** A signer for a P-256 private key. */
  static async fromKey(key: KeyObject): Promise<CommandSigner> {
    if (key.type !== 'private' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1')
      throw new KioskError('E_CONFIG_INVALID', 'a command key must be a P-256 private key', { subject: 'command key' });
    const jwk = await exportJWK(createPublicKey(key));
    const publicKey: CommandKeyEntry['publicKey'] = { kty: 'EC', crv: 'P-256', x: jwk.x!, y: jwk.y! };
    return new CommandSigner(key, { kid: await calculateJwkThumbprint(publicKey), publicKey });
  }

  /** A new key (not stored). */
  static async generate(): Promise<CommandSigner> {
    return CommandSigner.fromKey(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
  }

  /** Writes a new key to `path` (PKCS#8 PEM, mode 0600, never overwritten) and returns its signer. */
  static async create(path: string): Promise<CommandSigner> {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await writeFile(path, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600, flag: 'wx' }).catch((err: NodeJS.ErrnoException) => {
      throw new KioskError(err.code === 'EEXIST' ? 'E_USAGE' : 'E_STORAGE', `cannot write the command key: ${err.message}`, { subject: path, cause: err });
    });
    return CommandSigner.fromKey(privateKey);
  }

  /** The signer of the key in `path`. */
  static async open(path: string): Promise<CommandSigner> {
    const pem = await readFile(path, 'utf8').catch((err: Error) => {
      throw new KioskError('E_CONFIG_INVALID', `cannot read the command key: ${err.message}`, { subject: path, cause: err });
    });
    return CommandSigner.fromKey(createPrivateKey(pem));
  }

  /** The token of command `name` with `args` for kiosk `deviceId`, valid `lifetimeSec` from `now`. */
  async sign(deviceId: string, name: string, args: Record<string, unknown>, o: { lifetimeSec?: number; now?: Date; jti?: string } = {}): Promise<string> {
    const iat = Math.floor((o.now ?? new Date()).getTime() / 1000);
    const claims: CommandClaims = {
      cmd: name,
      aud: deviceId,
      jti: o.jti ?? randomBytes(16).toString('base64url'),
      iat,
      exp: iat + (o.lifetimeSec ?? DEFAULT_COMMAND_LIFETIME_SEC),
      args,
    };
    return new CompactSign(Buffer.from(JSON.stringify(claims))).setProtectedHeader({ alg: 'ES256', typ: COMMAND_TYP, kid: this.entry.kid }).sign(this.key);
  }
}
