/**
 * PACE with ECDH generic mapping (ICAO Doc 9303 Part 11, 4.4; BSI TR-03110 Part 2, 3.2), keyed by
 * the MRZ: the chip sends a nonce encrypted under K_pi = KDF(SHA-1(MRZ information), 3); both sides
 * map it onto a fresh generator G' = s*G + H (H from a first ECDH), agree an ephemeral key on G',
 * and prove the same session keys by MACing the other side's public key. A wrong MRZ fails at that
 * last step: the chip refuses our token, or its token does not verify. Runs in the clear through
 * the caller's `send` (which throws E_DOC_ACCESS on a refusal) and returns secure messaging.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { KioskError } from '../../base/errors.js';
import { encodeOid, type PaceInfo } from './card-access.js';
import { decrypt3des } from './des.js';
import { curveByParameterId, decodePoint, encodePoint, mapGeneric, randomScalar, sharedX, type EcCurve, type EcPoint } from './ec-curves.js';
import { decryptAes } from './secure-messaging-aes.js';
import { deriveKey, secureMessagingFrom, sessionKeys, tokenMac, type SmCipher } from './secure-messaging-keys.js';
import type { CommandApdu, SecureMessaging } from './secure-messaging.js';
import { encodeTlv, readTlv } from './tlv.js';

/** Sends a command in the clear and returns its response data; throws E_DOC_ACCESS (naming `what`; `details.reason` access_denied when `denied`) unless SW 9000. */
export type PlainSender = (c: CommandApdu, what: string, denied?: boolean) => Promise<Buffer>;

/** K_pi, the PACE password key from the MRZ information (document number, birth, expiry with check digits). */
export function pacePasswordKey(mrzInformation: string, cipher: SmCipher): Buffer {
  return deriveKey(createHash('sha1').update(mrzInformation, 'ascii').digest(), 3, cipher);
}

/** The chip's nonce s from its encryption z (CBC with a zero IV under K_pi). */
export function decryptNonce(cipher: SmCipher, kPi: Buffer, z: Buffer): Buffer {
  if (z.length === 0 || z.length % (cipher === '3des' ? 8 : 16) !== 0)
    throw new KioskError('E_DOC_ACCESS', `the PACE nonce is ${z.length} bytes, not whole blocks`, { subject: 'PACE' });
  return cipher === '3des' ? decrypt3des(kPi, z) : decryptAes(kPi, z);
}

/** The public key data object a token is computed over: 7F49 { 06 protocol OID, 86 point }. */
export function publicKeyObject(oid: string, point: Buffer): Buffer {
  return encodeTlv([0x7f, 0x49], Buffer.concat([encodeTlv([0x06], encodeOid(oid)), encodeTlv([0x86], point)]));
}

/** An authentication token: the MAC under KSmac over the other side's ephemeral public key. */
export function authToken(cipher: SmCipher, kMac: Buffer, oid: string, otherPoint: Buffer): Buffer {
  return tokenMac(cipher, kMac, publicKeyObject(oid, otherPoint));
}

/** The curve of a PACEInfo, or undefined when this reader does not know it. */
export function paceCurve(info: PaceInfo): EcCurve | undefined {
  return info.parameterId === undefined ? undefined : curveByParameterId(info.parameterId);
}

/** How runPace talks to the chip (and, in tests only, its fixed keys). */
export interface PaceOptions {
  /** Name the domain parameters in MSE:Set AT (needed when the chip offers more than one set). */
  sendParameterId?: boolean;
  /** Fixed private keys (known-answer tests only). */
  fixedKeys?: { map: bigint; ephemeral: bigint };
}

/** What PACE established, for tests and logs (no key material beyond the session's). */
export interface PaceResult {
  sm: SecureMessaging;
  curve: EcCurve;
  cipher: SmCipher;
}

/** The value of `tag` inside a General Authenticate response 7C { ... }. */
function dynamicData(response: Buffer, tag: number, step: string): Buffer {
  const outer = readTlv(response, 0);
  if (outer?.tag !== 0x7c) throw new KioskError('E_DOC_ACCESS', `PACE ${step}: the answer is not a 7C template`, { subject: 'PACE' });
  for (let i = outer.start; i < outer.end; ) {
    const t = readTlv(response, i);
    if (!t) break;
    if (t.tag === tag) return response.subarray(t.start, t.end);
    i = t.end;
  }
  throw new KioskError('E_DOC_ACCESS', `PACE ${step}: the answer lacks data object ${tag.toString(16)}`, { subject: 'PACE' });
}

/** Runs PACE-ECDH-GM with the MRZ as the password; E_DOC_ACCESS when the chip refuses or does not prove the same keys. */
export async function runPace(send: PlainSender, info: PaceInfo, mrzInformation: string, o: PaceOptions = {}): Promise<PaceResult> {
  const curve = paceCurve(info);
  if (!curve) throw new KioskError('E_DOC_ACCESS', `PACE domain parameters ${String(info.parameterId)} are not supported`, { subject: 'PACE' });
  const { cipher, oid } = info;
  const setAt = Buffer.concat([
    encodeTlv([0x80], encodeOid(oid)),
    encodeTlv([0x83], Buffer.from([0x01])), // the password is the MRZ
    ...(o.sendParameterId ? [encodeTlv([0x84], Buffer.from([curve.parameterId]))] : []),
  ]);
  await send({ cla: 0x00, ins: 0x22, p1: 0xc1, p2: 0xa4, data: setAt }, 'PACE MSE:Set AT');
  // The chip refusing our token (the last step) is how a wrong MRZ shows: access denied.
  const ga = (tag: number | undefined, value: Buffer, last: boolean, step: string) =>
    send(
      { cla: last ? 0x00 : 0x10, ins: 0x86, p1: 0x00, p2: 0x00, data: encodeTlv([0x7c], tag === undefined ? value : encodeTlv([tag], value)), le: 0 },
      step,
      last,
    );

  const z = dynamicData(await ga(undefined, Buffer.alloc(0), false, 'PACE encrypted nonce'), 0x80, 'encrypted nonce');
  const nonce = decryptNonce(cipher, pacePasswordKey(mrzInformation, cipher), z);

  const kMap = o.fixedKeys?.map ?? randomScalar(curve);
  const chipMap = decodePoint(
    curve,
    dynamicData(await ga(0x81, encodePoint(curve.Point.BASE.multiply(kMap)), false, 'PACE mapping'), 0x82, 'mapping'),
    'PACE mapping key',
  );
  const generator = mapGeneric(curve, nonce, kMap, chipMap);

  const kEph = o.fixedKeys?.ephemeral ?? randomScalar(curve);
  const ours = encodePoint(generator.multiply(kEph));
  const chipKeyBytes = dynamicData(await ga(0x83, ours, false, 'PACE key agreement'), 0x84, 'key agreement');
  const chipKey: EcPoint = decodePoint(curve, chipKeyBytes, 'PACE ephemeral key');
  if (encodePoint(chipKey).equals(ours)) throw new KioskError('E_DOC_ACCESS', 'the chip echoed our ephemeral key', { subject: 'PACE' });
  const secret = sharedX(curve, kEph, chipKey);
  const { kMac } = sessionKeys(secret, cipher);

  const ourToken = authToken(cipher, kMac, oid, encodePoint(chipKey));
  const answer = await ga(0x85, ourToken, true, 'PACE mutual authentication (wrong MRZ?)');
  const chipToken = dynamicData(answer, 0x86, 'mutual authentication');
  const expected = authToken(cipher, kMac, oid, ours);
  if (chipToken.length !== expected.length || !timingSafeEqual(chipToken, expected))
    throw new KioskError('E_DOC_ACCESS', "the chip's PACE token does not verify (wrong MRZ, or not this card)", {
      subject: 'PACE',
      details: { reason: 'access_denied' },
    });
  return { sm: secureMessagingFrom(secret, cipher), curve, cipher };
}
