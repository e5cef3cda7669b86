/**
 * Chip authentication, version 1 with ECDH (ICAO Doc 9303 Part 11, 6.2; BSI TR-03110 Part 3, B.1):
 * the terminal sends an ephemeral public key, both sides compute the ECDH secret with the chip's
 * static key from DG14, and secure messaging restarts under keys derived from it. Only the chip that
 * holds the static private key can answer under those keys: a clone with copied files cannot. The
 * proof is implicit, so the caller must check that the next response verifies under the new keys,
 * and must still check DG14 with passive authentication (an unauthenticated key proves nothing).
 */
import { KioskError } from '../../base/errors.js';
import { encodeOid, ID_CA_ECDH, type ChipAuthInfo, type SecurityInfos } from './card-access.js';
import { ecPublicKeyFromSpki, encodePoint, randomScalar, sharedX, type EcCurve, type EcPoint } from './ec-curves.js';
import { secureMessagingFrom } from './secure-messaging-keys.js';
import type { CommandApdu, ResponseApdu, SecureMessaging } from './secure-messaging.js';
import { encodeTlv } from './tlv.js';

/** Sends a command under the current secure messaging. */
export type SecureSender = (c: CommandApdu) => Promise<ResponseApdu>;

/** The protocol and static key chip authentication will use. */
export interface ChipAuthPlan {
  info: ChipAuthInfo;
  curve: EcCurve;
  staticKey: EcPoint;
}

const clone = (message: string, details: Record<string, unknown> = {}) =>
  new KioskError('E_DOC_CLONE_SUSPECTED', message, { subject: 'chip authentication', details });

const keyIdBytes = (id: number) => {
  const out: number[] = [];
  for (let v = id; out.length === 0 || v > 0; v = Math.floor(v / 256)) out.unshift(v & 0xff);
  return Buffer.from(out);
};

/**
 * The chip authentication DG14 offers, or undefined when it offers none this reader can run (no
 * ECDH key on a known curve). A key without a ChipAuthenticationInfo is version 1 with 3DES.
 */
export function chipAuthPlan(infos: SecurityInfos): ChipAuthPlan | undefined {
  const offers = infos.chipAuth.length > 0 ? infos.chipAuth : [{ oid: `${ID_CA_ECDH}.1`, cipher: '3des' as const }];
  for (const info of offers) {
    const key = infos.chipAuthKeys.find((k) => info.keyId === undefined || k.keyId === undefined || k.keyId === info.keyId);
    const ec = key && ecPublicKeyFromSpki(key.spki);
    if (ec) return { info: { ...info, keyId: info.keyId ?? key.keyId }, curve: ec.curve, staticKey: ec.point };
  }
  return undefined;
}

/**
 * Runs chip authentication through `secure` and returns the secure messaging to continue with (new
 * keys, counter zero). E_DOC_CLONE_SUSPECTED when the chip refuses the key agreement.
 */
export async function runChipAuthentication(secure: SecureSender, plan: ChipAuthPlan, fixedKey?: bigint): Promise<SecureMessaging> {
  const { curve, info } = plan;
  const k = fixedKey ?? randomScalar(curve);
  const ephemeral = encodePoint(curve.Point.BASE.multiply(k));
  const secret = sharedX(curve, k, plan.staticKey);
  const keyRef = info.keyId !== undefined ? encodeTlv([0x84], keyIdBytes(info.keyId)) : Buffer.alloc(0);
  const refused = (step: string, r: ResponseApdu) => clone(`the chip refused ${step} (SW ${r.sw.toString(16)})`, { sw: r.sw });
  if (info.cipher === '3des') {
    // MSE:Set KAT carries the ephemeral key itself (Part 11, 6.2.4.1).
    const r = await secure({ cla: 0x00, ins: 0x22, p1: 0x41, p2: 0xa6, data: Buffer.concat([encodeTlv([0x91], ephemeral), keyRef]) });
    if (r.sw !== 0x9000) throw refused('MSE:Set KAT', r);
  } else {
    const set = await secure({ cla: 0x00, ins: 0x22, p1: 0x41, p2: 0xa4, data: Buffer.concat([encodeTlv([0x80], encodeOid(info.oid)), keyRef]) });
    if (set.sw !== 0x9000) throw refused('MSE:Set AT', set);
    const ga = await secure({ cla: 0x00, ins: 0x86, p1: 0x00, p2: 0x00, data: encodeTlv([0x7c], encodeTlv([0x80], ephemeral)), le: 0 });
    if (ga.sw !== 0x9000) throw refused('GENERAL AUTHENTICATE', ga);
  }
  return secureMessagingFrom(secret, info.cipher);
}
