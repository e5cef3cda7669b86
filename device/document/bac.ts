/**
 * Basic Access Control (ICAO Doc 9303 Part 11, 4.3 and 9.7): keys derived from the MRZ information,
 * the mutual authentication that proves both sides know them, and the session keys and send
 * sequence counter that 3DES secure messaging starts from. Pure functions: the card is reached
 * through the reader (the APDUs GET CHALLENGE and EXTERNAL AUTHENTICATE are the caller's).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { KioskError } from '../../base/errors.js';
import { decrypt3des, encrypt3des, retailMac } from './des.js';

/** A 16-byte two-key 3DES key pair for encryption and MAC. */
export interface DesKeys {
  kEnc: Buffer;
  kMac: Buffer;
}

/** Sets the low bit of each byte so that every byte has odd parity (DES keys). */
export function adjustParity(key: Buffer): Buffer {
  const out = Buffer.from(key);
  for (let i = 0; i < out.length; i++) {
    const b = out[i] & 0xfe;
    let ones = 0;
    for (let bit = 1; bit < 0x100; bit <<= 1) if (b & bit) ones++;
    out[i] = ones % 2 === 0 ? b | 1 : b;
  }
  return out;
}

/** Part 11, 9.7.1: a 3DES key from a seed and a counter (1: encryption, 2: MAC). */
export function deriveDesKey(seed: Buffer, counter: 1 | 2): Buffer {
  const c = Buffer.alloc(4);
  c.writeUInt32BE(counter);
  return adjustParity(
    createHash('sha1')
      .update(Buffer.concat([seed, c]))
      .digest()
      .subarray(0, 16),
  );
}

/** The document basic access keys from the MRZ information (`mrzInformation()` in mrz.ts). */
export function bacKeys(mrzInformation: string): DesKeys & { kSeed: Buffer } {
  const kSeed = createHash('sha1').update(mrzInformation, 'ascii').digest().subarray(0, 16);
  return { kSeed, kEnc: deriveDesKey(kSeed, 1), kMac: deriveDesKey(kSeed, 2) };
}

/** The terminal's half of the mutual authentication, kept to check the card's answer. */
export interface BacChallenge {
  rndIfd: Buffer;
  kIfd: Buffer;
  rndIc: Buffer;
  /** EXTERNAL AUTHENTICATE command data: E.IFD (32 bytes) || M.IFD (8 bytes). */
  commandData: Buffer;
}

/** Builds EXTERNAL AUTHENTICATE's data for the card's challenge `rndIc` (8 bytes from GET CHALLENGE). */
export function bacChallenge(keys: DesKeys, rndIc: Buffer, fixed?: { rndIfd: Buffer; kIfd: Buffer }): BacChallenge {
  if (rndIc.length !== 8) throw new KioskError('E_DOC_ACCESS', `GET CHALLENGE gave ${rndIc.length} bytes, not 8`, { subject: 'bac' });
  const rndIfd = fixed?.rndIfd ?? randomBytes(8);
  const kIfd = fixed?.kIfd ?? randomBytes(16);
  const eIfd = encrypt3des(keys.kEnc, Buffer.concat([rndIfd, rndIc, kIfd]));
  return { rndIfd, kIfd, rndIc, commandData: Buffer.concat([eIfd, retailMac(keys.kMac, eIfd)]) };
}

/** The session after BAC: keys for secure messaging and the send sequence counter. */
export interface BacSession extends DesKeys {
  ssc: Buffer;
}

/**
 * Checks the card's answer to EXTERNAL AUTHENTICATE (E.IC || M.IC, 40 bytes) and derives the
 * session: E_DOC_ACCESS when the MAC or the echoed nonces are wrong (a wrong MRZ, or not this card).
 */
export function bacSession(keys: DesKeys, c: BacChallenge, response: Buffer): BacSession {
  if (response.length !== 40) throw new KioskError('E_DOC_ACCESS', `EXTERNAL AUTHENTICATE answered ${response.length} bytes, not 40`, { subject: 'bac' });
  const eIc = response.subarray(0, 32);
  if (!timingSafeEqual(retailMac(keys.kMac, eIc), response.subarray(32)))
    throw new KioskError('E_DOC_ACCESS', "the card's authentication MAC does not verify (wrong MRZ?)", { subject: 'bac' });
  const r = decrypt3des(keys.kEnc, eIc);
  if (!r.subarray(0, 8).equals(c.rndIc) || !r.subarray(8, 16).equals(c.rndIfd))
    throw new KioskError('E_DOC_ACCESS', 'the card did not echo the challenges', { subject: 'bac' });
  const kIc = r.subarray(16, 32);
  const seed = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) seed[i] = c.kIfd[i] ^ kIc[i];
  return {
    kEnc: deriveDesKey(seed, 1),
    kMac: deriveDesKey(seed, 2),
    ssc: Buffer.concat([c.rndIc.subarray(4, 8), c.rndIfd.subarray(4, 8)]),
  };
}
