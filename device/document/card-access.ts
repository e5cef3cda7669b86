/**
 * SecurityInfos (ICAO Doc 9303 Part 11, 9.2; BSI TR-03110 Part 3, A.1.1): the SET of protocol
 * descriptions a chip publishes in EF.CardAccess (PACE, read in the clear before access control)
 * and in DG14 (chip authentication, behind access control and covered by passive authentication).
 * Only what this reader can run is kept; unknown entries are skipped, as the standard asks.
 */
import { KioskError } from '../../base/errors.js';
import type { SmCipher } from './secure-messaging-keys.js';
import { readTlv } from './tlv.js';

/** An OID from its DER value bytes, dotted. */
export function decodeOid(value: Buffer): string {
  if (value.length === 0) return '';
  const parts = [Math.min(2, Math.floor(value[0] / 40)), value[0] - Math.min(2, Math.floor(value[0] / 40)) * 40];
  let n = 0;
  for (const b of value.subarray(1)) {
    n = n * 128 + (b & 0x7f);
    if (!(b & 0x80)) {
      parts.push(n);
      n = 0;
    }
  }
  return parts.join('.');
}

/** The DER value bytes of a dotted OID (for MSE:Set AT and the public key data objects). */
export function encodeOid(oid: string): Buffer {
  const [a, b, ...rest] = oid.split('.').map(Number);
  const out = [a * 40 + b];
  for (const n of rest) {
    const groups = [n & 0x7f];
    for (let v = Math.floor(n / 128); v > 0; v = Math.floor(v / 128)) groups.unshift((v & 0x7f) | 0x80);
    out.push(...groups);
  }
  return Buffer.from(out);
}

const BSI = '0.4.0.127.0.7.2.2';
/** id-PACE-ECDH-GM (Part 11, 9.2.1): .1 3DES, .2 AES-128, .3 AES-192, .4 AES-256. */
export const ID_PACE_ECDH_GM = `${BSI}.4.2`;
/** id-CA-ECDH (Part 11, 9.2.6): same suffixes. */
export const ID_CA_ECDH = `${BSI}.3.2`;
/** id-PK-ECDH: a chip authentication public key. */
export const ID_PK_ECDH = `${BSI}.1.2`;
const ID_AA = '2.23.136.1.1.5';
const CIPHER_BY_SUFFIX: Record<string, SmCipher> = { '1': '3des', '2': 'aes128', '3': 'aes192', '4': 'aes256' };
const ECDSA_HASH: Record<string, string> = {
  '1.2.840.10045.4.1': 'sha1',
  '1.2.840.10045.4.3.1': 'sha224',
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
};

/** PACE with ECDH generic mapping, as a PACEInfo offers it. */
export interface PaceInfo {
  oid: string;
  cipher: SmCipher;
  /** The standardized domain parameters (undefined: the chip did not say; fine when it offers one set). */
  parameterId?: number;
}

/** Chip authentication with ECDH, as a ChipAuthenticationInfo offers it. */
export interface ChipAuthInfo {
  oid: string;
  cipher: SmCipher;
  keyId?: number;
}

/** A chip authentication public key (ChipAuthenticationPublicKeyInfo): its SubjectPublicKeyInfo DER. */
export interface ChipAuthPublicKey {
  spki: Buffer;
  keyId?: number;
}

/** What a SecurityInfos set offers that this reader can use. */
export interface SecurityInfos {
  pace: PaceInfo[];
  chipAuth: ChipAuthInfo[];
  chipAuthKeys: ChipAuthPublicKey[];
  /** The hash of ECDSA active authentication (ActiveAuthenticationInfo), e.g. sha256. */
  activeAuthHash?: string;
}

const integer = (v: Buffer) => v.reduce((n, b) => n * 256 + b, 0);

/** Parses a SecurityInfos SET (EF.CardAccess as stored; DG14's content inside its tag 6E). E_DOC_ACCESS naming `subject` when malformed. */
export function parseSecurityInfos(der: Buffer, subject = 'EF.CardAccess'): SecurityInfos {
  const malformed = () => new KioskError('E_DOC_ACCESS', `${subject} does not hold SecurityInfos`, { subject });
  let set = readTlv(der, 0);
  if (set?.tag === 0x6e) set = readTlv(der, set.start); // DG14's application tag
  if (set?.tag !== 0x31) throw malformed();
  const out: SecurityInfos = { pace: [], chipAuth: [], chipAuthKeys: [] };
  for (let i = set.start; i < set.end; ) {
    const info = readTlv(der, i);
    if (info?.tag !== 0x30 || info.end > set.end) throw malformed();
    i = info.end;
    const fields: { tag: number; value: Buffer; raw: Buffer }[] = [];
    for (let j = info.start; j < info.end; ) {
      const f = readTlv(der, j);
      if (!f || f.end > info.end) throw malformed();
      fields.push({ tag: f.tag, value: der.subarray(f.start, f.end), raw: der.subarray(j, f.end) });
      j = f.end;
    }
    if (fields[0]?.tag !== 0x06) continue;
    const oid = decodeOid(fields[0].value);
    const suffix = oid.slice(oid.lastIndexOf('.') + 1);
    const base = oid.slice(0, oid.lastIndexOf('.'));
    const optionalInt = fields[2]?.tag === 0x02 ? integer(fields[2].value) : undefined;
    if (base === ID_PACE_ECDH_GM && CIPHER_BY_SUFFIX[suffix]) out.pace.push({ oid, cipher: CIPHER_BY_SUFFIX[suffix], parameterId: optionalInt });
    else if (base === ID_CA_ECDH && CIPHER_BY_SUFFIX[suffix]) out.chipAuth.push({ oid, cipher: CIPHER_BY_SUFFIX[suffix], keyId: optionalInt });
    else if (oid === ID_PK_ECDH && fields[1]?.tag === 0x30) out.chipAuthKeys.push({ spki: Buffer.from(fields[1].raw), keyId: optionalInt });
    else if (oid === ID_AA && fields[2]?.tag === 0x06) out.activeAuthHash = ECDSA_HASH[decodeOid(fields[2].value)];
  }
  return out;
}
