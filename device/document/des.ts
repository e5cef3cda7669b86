/**
 * The DES primitives of ICAO 9303 secure messaging on OpenSSL 3 through Node: two-key 3DES in CBC
 * with a zero IV (no padding: callers pad), ISO/IEC 9797-1 padding method 2, and the retail MAC
 * (MAC algorithm 3: single-DES CBC with K1, then 3DES on the last block). Single DES is run as
 * 3DES with K1|K1|K1, since OpenSSL 3 keeps plain DES in its legacy provider.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';

const ZERO_IV = Buffer.alloc(8);

/** 2-key 3DES (16-byte key) CBC encryption with a zero IV; `data` must be a multiple of 8 bytes. */
export function encrypt3des(key: Buffer, data: Buffer): Buffer {
  const c = createCipheriv('des-ede-cbc', key, ZERO_IV).setAutoPadding(false);
  return Buffer.concat([c.update(data), c.final()]);
}

/** The inverse of {@link encrypt3des}. */
export function decrypt3des(key: Buffer, data: Buffer): Buffer {
  const d = createDecipheriv('des-ede-cbc', key, ZERO_IV).setAutoPadding(false);
  return Buffer.concat([d.update(data), d.final()]);
}

/** ISO/IEC 9797-1 padding method 2: 0x80, then zeros to a multiple of `block` bytes. */
export function pad(data: Buffer, block = 8): Buffer {
  const zeros = block - 1 - (data.length % block);
  return Buffer.concat([data, Buffer.from([0x80]), Buffer.alloc(zeros)]);
}

/** Removes method-2 padding; undefined when there is none. */
export function unpad(data: Buffer): Buffer | undefined {
  let i = data.length - 1;
  while (i >= 0 && data[i] === 0) i--;
  return i >= 0 && data[i] === 0x80 ? data.subarray(0, i) : undefined;
}

/** Retail MAC (ISO/IEC 9797-1 algorithm 3, DES) of `data` padded with method 2, 8 bytes. */
export function retailMac(key: Buffer, data: Buffer): Buffer {
  const k1 = key.subarray(0, 8);
  const single = Buffer.concat([k1, k1, k1]);
  const padded = pad(data);
  const c = createCipheriv('des-ede3-cbc', single, ZERO_IV).setAutoPadding(false);
  const chain = Buffer.concat([c.update(padded), c.final()]);
  const last = chain.subarray(chain.length - 8);
  // Final block: decrypt with K2, encrypt with K1 (the first encryption with K1 was the chain's last step).
  const k2 = key.subarray(8, 16);
  const d = createDecipheriv('des-ede3-ecb', Buffer.concat([k2, k2, k2]), null).setAutoPadding(false);
  const mid = Buffer.concat([d.update(last), d.final()]);
  const e = createCipheriv('des-ede3-ecb', single, null).setAutoPadding(false);
  return Buffer.concat([e.update(mid), e.final()]);
}
