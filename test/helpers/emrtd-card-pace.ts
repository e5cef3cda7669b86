/**
 * The card's side of PACE with ECDH generic mapping for the emulator (ICAO Doc 9303 Part 11, 4.4),
 * written from the standard with @noble/curves and node:crypto (not with the reader's PACE code):
 * EF.CardAccess offering it, MSE:Set AT, the four General Authenticate steps, and the session keys.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { brainpoolP256r1, brainpoolP384r1, brainpoolP512r1 } from '@noble/curves/misc.js';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import { adjustParity } from '../../device/document/bac.js';
import { encodeOid } from '../../device/document/card-access.js';
import { encrypt3des, retailMac } from '../../device/document/des.js';
import { aesCmac, encryptAes } from '../../device/document/secure-messaging-aes.js';
import type { SmCipher } from '../../device/document/secure-messaging-keys.js';
import { encodeTlv, readTlv } from '../../device/document/tlv.js';
import { CardSm } from './emrtd-card-sm.js';

/** The curves the emulator can run PACE on, with their standardized parameter ids. */
export const PACE_CURVES = {
  'P-256': [12, p256],
  brainpoolP256r1: [13, brainpoolP256r1],
  'P-384': [15, p384],
  brainpoolP384r1: [16, brainpoolP384r1],
  brainpoolP512r1: [17, brainpoolP512r1],
  'P-521': [18, p521],
} as const;
export type PaceCurveName = keyof typeof PACE_CURVES;

const SUFFIX: Record<SmCipher, number> = { '3des': 1, aes128: 2, aes192: 3, aes256: 4 };
const paceOid = (cipher: SmCipher) => `0.4.0.127.0.7.2.2.4.2.${SUFFIX[cipher]}`;

/** What PACE the emulated chip offers. */
export interface PaceOffer {
  curve: PaceCurveName;
  cipher: SmCipher;
}

/** One PACEInfo { OID, version 2, parameterId }. */
export function paceInfoOf(o: PaceOffer): Buffer {
  return encodeTlv(
    [0x30],
    Buffer.concat([
      encodeTlv([0x06], encodeOid(paceOid(o.cipher))),
      encodeTlv([0x02], Buffer.from([2])),
      encodeTlv([0x02], Buffer.from([PACE_CURVES[o.curve][0]])),
    ]),
  );
}

/** EF.CardAccess: SET OF PACEInfo. */
export function cardAccessOf(offers: PaceOffer[]): Buffer {
  return encodeTlv([0x31], Buffer.concat(offers.map(paceInfoOf)));
}

/** KDF(K, c) of Part 11, 9.7.1, written out for the card. */
export function cardKdf(secret: Buffer, counter: number, cipher: SmCipher): Buffer {
  const sha256 = cipher === 'aes192' || cipher === 'aes256';
  const c = Buffer.alloc(4);
  c.writeUInt32BE(counter);
  const h = createHash(sha256 ? 'sha256' : 'sha1')
    .update(Buffer.concat([secret, c]))
    .digest();
  const key = h.subarray(0, cipher === 'aes192' ? 24 : cipher === 'aes256' ? 32 : 16);
  return cipher === '3des' ? adjustParity(key) : key;
}

/** The card's secure messaging from a shared secret. */
export function cardSmFrom(secret: Buffer, cipher: SmCipher): CardSm {
  const kEnc = cardKdf(secret, 1, cipher);
  const kMac = cardKdf(secret, 2, cipher);
  return cipher === '3des' ? CardSm.des3(kEnc, kMac) : CardSm.aes(kEnc, kMac);
}

const big = (b: Uint8Array) => BigInt(`0x${Buffer.from(b).toString('hex') || '0'}`);

/** One PACE run on the card: step by step, as the terminal's General Authenticate commands come. */
export class CardPace {
  private step = 0;
  private readonly nonce: Buffer;
  private kMap = 0n;
  private kEph = 0n;
  private generator?: InstanceType<(typeof p256)['Point']>;
  private ourKey = Buffer.alloc(0);
  private theirKey = Buffer.alloc(0);
  private secret = Buffer.alloc(0);

  constructor(
    private readonly offer: PaceOffer,
    private readonly mrzInformation: string,
  ) {
    this.nonce = randomBytes(offer.cipher === '3des' ? 8 : 16);
  }

  /** MSE:Set AT's data: the protocol must be the offered one, the password the MRZ. */
  accepts(data: Buffer): boolean {
    const oid = readTlv(data, 0);
    return (
      !!oid &&
      oid.tag === 0x80 &&
      data.subarray(oid.start, oid.end).equals(encodeOid(paceOid(this.offer.cipher))) &&
      data.includes(Buffer.from([0x83, 0x01, 0x01]))
    );
  }

  private get curve() {
    return PACE_CURVES[this.offer.curve][1];
  }

  private scalar(): bigint {
    return (big(randomBytes(80)) % (this.curve.Point.Fn.ORDER - 1n)) + 1n;
  }

  private token(point: Buffer): Buffer {
    const input = encodeTlv([0x7f, 0x49], Buffer.concat([encodeTlv([0x06], encodeOid(paceOid(this.offer.cipher))), encodeTlv([0x86], point)]));
    const kMac = cardKdf(this.secret, 2, this.offer.cipher);
    return this.offer.cipher === '3des' ? retailMac(kMac, input) : aesCmac(kMac, input).subarray(0, 8);
  }

  /** Answers one General Authenticate (data 7C {...}); SW 6300 when the terminal's token is wrong, the secure messaging on success. */
  answer(data: Buffer): { body: Buffer; sw: number; sm?: CardSm } {
    const outer = readTlv(data, 0);
    const inner = outer && outer.end > outer.start ? readTlv(data, outer.start) : undefined;
    const value = inner ? data.subarray(inner.start, inner.end) : Buffer.alloc(0);
    const reply = (tag: number, v: Buffer) => ({ body: encodeTlv([0x7c], encodeTlv([tag], v)), sw: 0x9000 });
    const { Point } = this.curve;
    const { cipher } = this.offer;
    switch (this.step++) {
      case 0: {
        const kPi = cardKdf(createHash('sha1').update(this.mrzInformation).digest(), 3, cipher);
        const z = cipher === '3des' ? encrypt3des(kPi, this.nonce) : encryptAes(kPi, this.nonce);
        return reply(0x80, z);
      }
      case 1: {
        this.kMap = this.scalar();
        const h = Point.fromBytes(value).multiply(this.kMap);
        this.generator = Point.BASE.multiply(big(this.nonce) % Point.Fn.ORDER).add(h);
        return reply(0x82, Buffer.from(Point.BASE.multiply(this.kMap).toBytes(false)));
      }
      case 2: {
        this.kEph = this.scalar();
        this.theirKey = Buffer.from(value);
        this.ourKey = Buffer.from(this.generator!.multiply(this.kEph).toBytes(false));
        const x = Point.fromBytes(value).multiply(this.kEph).toAffine().x;
        this.secret = Buffer.from(x.toString(16).padStart(Math.ceil(Point.Fp.BITS / 8) * 2, '0'), 'hex');
        return reply(0x84, this.ourKey);
      }
      case 3: {
        const expected = this.token(this.ourKey);
        if (value.length !== 8 || !timingSafeEqual(value, expected)) return { body: Buffer.alloc(0), sw: 0x6300 };
        return { ...reply(0x86, this.token(this.theirKey)), sm: cardSmFrom(this.secret, cipher) };
      }
      default:
        return { body: Buffer.alloc(0), sw: 0x6985 };
    }
  }
}
