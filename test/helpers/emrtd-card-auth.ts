/**
 * The chip's own keys for the emulator: chip authentication (DG14 with an ECDH static key, the key
 * agreement done with node:crypto's ECDH, not the reader's code) and active authentication (DG15's
 * key signing the terminal's challenge).
 */
import { constants, createECDH, createHash, privateEncrypt, randomBytes, sign, type ECDH, type KeyObject } from 'node:crypto';
import { encodeOid } from '../../device/document/card-access.js';
import type { SmCipher } from '../../device/document/secure-messaging-keys.js';
import { encodeTlv } from '../../device/document/tlv.js';

const CURVES = {
  'P-256': ['prime256v1', '1.2.840.10045.3.1.7'],
  brainpoolP256r1: ['brainpoolP256r1', '1.3.36.3.3.2.8.1.1.7'],
  'P-384': ['secp384r1', '1.3.132.0.34'],
  brainpoolP384r1: ['brainpoolP384r1', '1.3.36.3.3.2.8.1.1.11'],
  brainpoolP512r1: ['brainpoolP512r1', '1.3.36.3.3.2.8.1.1.13'],
} as const;
export type ChipAuthCurve = keyof typeof CURVES;
const SUFFIX: Record<SmCipher, number> = { '3des': 1, aes128: 2, aes192: 3, aes256: 4 };

/** A chip-authentication static key pair: the private half stays in the (genuine) chip. */
export interface ChipAuthKey {
  ecdh: ECDH;
  curve: ChipAuthCurve;
  cipher: SmCipher;
  keyId?: number;
}

/** A fresh static key on `curve` for chip authentication with `cipher`. */
export function chipAuthKey(curve: ChipAuthCurve = 'brainpoolP256r1', cipher: SmCipher = 'aes128', keyId?: number): ChipAuthKey {
  const ecdh = createECDH(CURVES[curve][0]);
  ecdh.generateKeys();
  return { ecdh, curve, cipher, keyId };
}

/**
 * DG14: 6E { SET { ChipAuthenticationPublicKeyInfo { id-PK-ECDH, SubjectPublicKeyInfo, keyId? },
 * ChipAuthenticationInfo { id-CA-ECDH-<cipher>, version 1, keyId? } } }; `withInfo: false` leaves
 * the ChipAuthenticationInfo out (version 1 with 3DES is then implied); `paceInfos` are the copies of
 * EF.CardAccess's PACEInfos a PACE chip's DG14 carries.
 */
export function dg14Of(key: ChipAuthKey, o: { withInfo?: boolean; paceInfos?: Buffer[] } = {}): Buffer {
  const int = (n: number) => encodeTlv([0x02], Buffer.from([n]));
  const keyId = key.keyId !== undefined ? int(key.keyId) : Buffer.alloc(0);
  const spki = encodeTlv(
    [0x30],
    Buffer.concat([
      encodeTlv([0x30], Buffer.concat([encodeTlv([0x06], encodeOid('1.2.840.10045.2.1')), encodeTlv([0x06], encodeOid(CURVES[key.curve][1]))])),
      encodeTlv([0x03], Buffer.concat([Buffer.from([0]), key.ecdh.getPublicKey()])),
    ]),
  );
  const pkInfo = encodeTlv([0x30], Buffer.concat([encodeTlv([0x06], encodeOid('0.4.0.127.0.7.2.2.1.2')), spki, keyId]));
  const caInfo = encodeTlv([0x30], Buffer.concat([encodeTlv([0x06], encodeOid(`0.4.0.127.0.7.2.2.3.2.${SUFFIX[key.cipher]}`)), int(1), keyId]));
  return encodeTlv([0x6e], encodeTlv([0x31], Buffer.concat([pkInfo, ...(o.withInfo === false ? [] : [caInfo]), ...(o.paceInfos ?? [])])));
}

/** The shared secret (x-coordinate) of the chip's static key and the terminal's ephemeral point. */
export function chipAuthSecret(key: ChipAuthKey, terminalPoint: Buffer): Buffer {
  return key.ecdh.computeSecret(terminalPoint);
}

/** Active authentication: EC signs plain r||s over SHA-256, RSA with ISO 9796-2 scheme 1 and SHA-1. */
export function activeAuthSign(key: KeyObject, challenge: Buffer): Buffer {
  if (key.asymmetricKeyType === 'ec') return sign('sha256', challenge, { key, dsaEncoding: 'ieee-p1363' });
  // ISO/IEC 9796-2 scheme 1, SHA-1: 6A || M1 || SHA-1(M1 || challenge) || BC, as big as the modulus.
  const k = (key.asymmetricKeyDetails?.modulusLength ?? 1024) / 8;
  const m1 = randomBytes(k - 2 - 20);
  const f = Buffer.concat([
    Buffer.from([0x6a]),
    m1,
    createHash('sha1')
      .update(Buffer.concat([m1, challenge]))
      .digest(),
    Buffer.from([0xbc]),
  ]);
  return privateEncrypt({ key, padding: constants.RSA_NO_PADDING }, f);
}
