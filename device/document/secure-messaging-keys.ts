/**
 * Session keys from a key-agreement secret (ICAO Doc 9303 Part 11, 9.7.1): KDF(K, c) = H(K || c) cut
 * to the key length, SHA-1 for 3DES and AES-128, SHA-256 for AES-192/256; c = 1 for KSenc, 2 for
 * KSmac, 3 for the PACE password key. Secure messaging after PACE or chip authentication starts
 * from these keys with a zero send sequence counter.
 */
import { createHash } from 'node:crypto';
import { adjustParity } from './bac.js';
import { retailMac } from './des.js';
import { SecureMessagingAes, aesCmac } from './secure-messaging-aes.js';
import { SecureMessaging3Des, type SecureMessaging } from './secure-messaging.js';

/** The block ciphers of ICAO secure messaging. */
export type SmCipher = '3des' | 'aes128' | 'aes192' | 'aes256';

const KEY_BYTES: Record<SmCipher, number> = { '3des': 16, aes128: 16, aes192: 24, aes256: 32 };

/** KDF(K, counter) for `cipher` (3DES keys get odd parity). */
export function deriveKey(secret: Buffer, counter: 1 | 2 | 3, cipher: SmCipher): Buffer {
  const c = Buffer.alloc(4);
  c.writeUInt32BE(counter);
  const hash = cipher === 'aes192' || cipher === 'aes256' ? 'sha256' : 'sha1';
  const key = createHash(hash)
    .update(Buffer.concat([secret, c]))
    .digest()
    .subarray(0, KEY_BYTES[cipher]);
  return cipher === '3des' ? adjustParity(key) : key;
}

/** KSenc and KSmac from the shared secret `secret`. */
export function sessionKeys(secret: Buffer, cipher: SmCipher): { kEnc: Buffer; kMac: Buffer } {
  return { kEnc: deriveKey(secret, 1, cipher), kMac: deriveKey(secret, 2, cipher) };
}

/** Secure messaging with the session keys from `secret`, counter zero. */
export function secureMessagingFrom(secret: Buffer, cipher: SmCipher): SecureMessaging {
  const keys = sessionKeys(secret, cipher);
  return cipher === '3des' ? new SecureMessaging3Des({ ...keys, ssc: Buffer.alloc(8) }) : new SecureMessagingAes(keys);
}

/** The 8-byte MAC of `cipher` under `kMac` over `data` as it is (PACE authentication tokens): CMAC, or the retail MAC. */
export function tokenMac(cipher: SmCipher, kMac: Buffer, data: Buffer): Buffer {
  return cipher === '3des' ? retailMac(kMac, data) : aesCmac(kMac, data).subarray(0, 8);
}
