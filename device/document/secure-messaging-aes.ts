/**
 * AES secure messaging (ICAO Doc 9303 Part 11, 9.8.6.2; BSI TR-03110 Part 3, F): AES-CBC whose IV is
 * the send sequence counter (16 bytes) encrypted under KSenc, and AES-CMAC (NIST SP 800-38B, which
 * node:crypto lacks) truncated to 8 bytes, both over data padded to 16-byte blocks.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { pad } from './des.js';
import { SecureMessagingSession, type SmCipherSuite } from './secure-messaging.js';

const cbcName = (key: Buffer) => `aes-${key.length * 8}-cbc`;
const ZERO_IV = Buffer.alloc(16);

/** AES-CBC encryption of whole blocks (no padding: callers pad) with `iv` (a zero IV by default). */
export function encryptAes(key: Buffer, data: Buffer, iv: Buffer = ZERO_IV): Buffer {
  const c = createCipheriv(cbcName(key), key, iv).setAutoPadding(false);
  return Buffer.concat([c.update(data), c.final()]);
}

/** The inverse of {@link encryptAes}. */
export function decryptAes(key: Buffer, data: Buffer, iv: Buffer = ZERO_IV): Buffer {
  const d = createDecipheriv(cbcName(key), key, iv).setAutoPadding(false);
  return Buffer.concat([d.update(data), d.final()]);
}

/** Doubles a 16-byte block in GF(2^128) (the CMAC subkey step). */
function double(block: Buffer): Buffer {
  const out = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) out[i] = ((block[i] << 1) | (i < 15 ? block[i + 1] >> 7 : 0)) & 0xff;
  if (block[0] & 0x80) out[15] ^= 0x87;
  return out;
}

/** AES-CMAC of `data` (16 bytes, NIST SP 800-38B / RFC 4493). */
export function aesCmac(key: Buffer, data: Buffer): Buffer {
  const k1 = double(encryptAes(key, ZERO_IV));
  const k2 = double(k1);
  const whole = data.length > 0 && data.length % 16 === 0;
  const last = Buffer.from(whole ? data.subarray(data.length - 16) : pad(data.subarray(data.length - (data.length % 16)), 16));
  const sub = whole ? k1 : k2;
  for (let i = 0; i < 16; i++) last[i] ^= sub[i];
  const blocks = Buffer.concat([data.subarray(0, whole ? data.length - 16 : data.length - (data.length % 16)), last]);
  const chain = encryptAes(key, blocks);
  return chain.subarray(chain.length - 16);
}

/** The AES suite: IV = E(KSenc, SSC), CMAC over method-2-padded data, its first 8 bytes. */
export function aesSuite(keys: { kEnc: Buffer; kMac: Buffer }): SmCipherSuite {
  const iv = (ssc: Buffer) => encryptAes(keys.kEnc, ssc);
  return {
    block: 16,
    encrypt: (ssc, data) => encryptAes(keys.kEnc, data, iv(ssc)),
    decrypt: (ssc, data) => decryptAes(keys.kEnc, data, iv(ssc)),
    mac: (data) => aesCmac(keys.kMac, pad(data, 16)).subarray(0, 8),
  };
}

/** AES secure messaging after PACE or chip authentication: the counter starts at zero (16 bytes). */
export class SecureMessagingAes extends SecureMessagingSession {
  constructor(keys: { kEnc: Buffer; kMac: Buffer; ssc?: Buffer }) {
    super(aesSuite(keys), keys.ssc ?? Buffer.alloc(16));
  }
}
