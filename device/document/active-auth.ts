/**
 * Active authentication (ICAO Doc 9303 Part 11, 6.1): the chip signs a fresh challenge with the
 * private key whose public key is in DG15; a copy of the chip's files cannot, so a cloned chip is
 * caught. ECDSA (plain r||s, the hash named in DG14's ActiveAuthenticationInfo, SHA-256 by default
 * here) and RSA with ISO/IEC 9796-2 signature scheme 1 (message recovery; SHA-1 with trailer 0xBC,
 * or the hash named by a two-byte trailer). Only meaningful once passive authentication has shown
 * DG15 is the issuing state's: the caller checks that first.
 */
import { constants, createHash, createPublicKey, publicDecrypt, randomBytes, verify, type KeyObject } from 'node:crypto';
import { KioskError } from '../../base/errors.js';
import { readTlv } from './tlv.js';

const clone = (message: string) => new KioskError('E_DOC_CLONE_SUSPECTED', message, { subject: 'active authentication' });

/** The public key in DG15 (tag 0x6F around a SubjectPublicKeyInfo). */
export function activeAuthKey(dg15: Buffer): KeyObject {
  const t = readTlv(dg15, 0);
  if (t?.tag !== 0x6f) throw new KioskError('E_DOC_ACCESS', 'DG15 is not a whole TLV object with tag 6F', { subject: 'DG15' });
  try {
    return createPublicKey({ key: dg15.subarray(t.start, t.end), format: 'der', type: 'spki' });
  } catch (err) {
    throw new KioskError('E_DOC_ACCESS', `DG15 holds no public key: ${(err as Error).message}`, { subject: 'DG15' });
  }
}

/** ISO/IEC 10118-3 hash identifiers used in a two-byte 9796-2 trailer (xxCC). */
const TRAILER_HASH = new Map<number, string>([
  [0x33, 'sha1'],
  [0x34, 'sha256'],
  [0x35, 'sha512'],
  [0x36, 'sha384'],
  [0x38, 'sha224'],
]);

/** Checks the chip's answer `signature` to `challenge` with the DG15 key; throws E_DOC_CLONE_SUSPECTED when it does not verify. */
export function verifyActiveAuth(key: KeyObject, challenge: Buffer, signature: Buffer, ecdsaHash = 'sha256'): void {
  if (key.asymmetricKeyType === 'ec') {
    if (!verify(ecdsaHash, challenge, { key, dsaEncoding: 'ieee-p1363' }, signature)) throw clone('the chip did not sign the challenge with the key in DG15');
    return;
  }
  if (key.asymmetricKeyType !== 'rsa') throw clone(`unsupported active authentication key type ${String(key.asymmetricKeyType)}`);
  let f: Buffer;
  try {
    f = publicDecrypt({ key, padding: constants.RSA_NO_PADDING }, signature);
  } catch {
    throw clone('the chip did not sign the challenge with the key in DG15');
  }
  // ISO/IEC 9796-2 scheme 1, partial recovery: 0x6A || M1 || H(M1 || M2) || trailer.
  const last = f[f.length - 1];
  const twoByte = last === 0xcc;
  const hashName = twoByte ? TRAILER_HASH.get(f[f.length - 2]) : last === 0xbc ? 'sha1' : undefined;
  if (f[0] !== 0x6a || !hashName) throw clone('the chip did not sign the challenge with the key in DG15');
  const hLen = createHash(hashName).digest().length;
  const end = f.length - (twoByte ? 2 : 1);
  const digest = f.subarray(end - hLen, end);
  const m1 = f.subarray(1, end - hLen);
  if (
    !createHash(hashName)
      .update(Buffer.concat([m1, challenge]))
      .digest()
      .equals(digest)
  )
    throw clone('the chip did not sign the challenge with the key in DG15');
}

/** A fresh 8-byte challenge for INTERNAL AUTHENTICATE. */
export function activeAuthChallenge(): Buffer {
  return randomBytes(8);
}
