/**
 * The elliptic curves of PACE and chip authentication (BSI TR-03110 Part 3, A.2.1.1 standardized
 * domain parameters; ICAO Doc 9303 Part 11, 9.5.1) on @noble/curves, which has the point addition
 * the generic mapping needs and node:crypto lacks. A curve is found by its PACE parameter id, by its
 * named-curve OID, or by explicit parameters (many chips spell out the curve in DG14): those are
 * matched against the known curves, never trusted as given.
 */
import { randomBytes } from 'node:crypto';
import { brainpoolP256r1, brainpoolP384r1, brainpoolP512r1 } from '@noble/curves/misc.js';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import { KioskError } from '../../base/errors.js';
import { decodeOid } from './card-access.js';
import { readTlv } from './tlv.js';

type Curve = typeof p256;
/** A point on one of the curves. */
export type EcPoint = InstanceType<Curve['Point']>;

/** A curve PACE or chip authentication can run on. */
export interface EcCurve {
  name: string;
  /** The standardized domain parameter id (TR-03110 Part 3, table 4). */
  parameterId: number;
  oid: string;
  /** Bytes of a field element (and of the shared secret). */
  size: number;
  Point: Curve['Point'];
}

const CURVES: EcCurve[] = (
  [
    ['P-256', 12, '1.2.840.10045.3.1.7', p256],
    ['brainpoolP256r1', 13, '1.3.36.3.3.2.8.1.1.7', brainpoolP256r1],
    ['P-384', 15, '1.3.132.0.34', p384],
    ['brainpoolP384r1', 16, '1.3.36.3.3.2.8.1.1.11', brainpoolP384r1],
    ['brainpoolP512r1', 17, '1.3.36.3.3.2.8.1.1.13', brainpoolP512r1],
    ['P-521', 18, '1.3.132.0.35', p521],
  ] as const
).map(([name, parameterId, oid, c]) => ({ name, parameterId, oid, size: Math.ceil(c.Point.Fp.BITS / 8), Point: c.Point }));

/** The curve of a standardized PACE domain parameter id, or undefined (DH groups, P-192/224, proprietary). */
export function curveByParameterId(id: number): EcCurve | undefined {
  return CURVES.find((c) => c.parameterId === id);
}

/** The curve named `name` (e.g. brainpoolP256r1), or undefined. */
export function curveByName(name: string): EcCurve | undefined {
  return CURVES.find((c) => c.name === name);
}

const toBig = (b: Buffer) => (b.length === 0 ? 0n : BigInt(`0x${b.toString('hex')}`));

/** A fresh private scalar in [1, n-1]. */
export function randomScalar(curve: EcCurve): bigint {
  const n = curve.Point.Fn.ORDER;
  return (toBig(randomBytes(curve.size + 16)) % (n - 1n)) + 1n;
}

/** A scalar from its big-endian bytes (known-answer tests fix the keys). */
export const scalarFrom = toBig;

/** The uncompressed encoding 04 || x || y. */
export function encodePoint(p: EcPoint): Buffer {
  return Buffer.from(p.toBytes(false));
}

/** Decodes an uncompressed point and checks it is on the curve and not the identity; E_DOC_ACCESS naming `subject` otherwise. */
export function decodePoint(curve: EcCurve, bytes: Buffer, subject: string): EcPoint {
  try {
    if (bytes[0] !== 0x04 || bytes.length !== 1 + 2 * curve.size) throw new Error('not an uncompressed point');
    const p = curve.Point.fromBytes(bytes);
    p.assertValidity();
    if (p.equals(curve.Point.ZERO)) throw new Error('the identity');
    return p;
  } catch (err) {
    throw new KioskError('E_DOC_ACCESS', `the card's ${subject} is not a point on ${curve.name}: ${(err as Error).message}`, { subject });
  }
}

/** ECDH: the x-coordinate of k * P, as `size` bytes (the shared secret of PACE and chip authentication). */
export function sharedX(curve: EcCurve, k: bigint, p: EcPoint): Buffer {
  const s = p.multiply(k);
  if (s.equals(curve.Point.ZERO)) throw new KioskError('E_DOC_ACCESS', 'the key agreement gave the identity', { subject: curve.name });
  return Buffer.from(
    s
      .toAffine()
      .x.toString(16)
      .padStart(curve.size * 2, '0'),
    'hex',
  );
}

/** PACE generic mapping (Part 11, 4.4.3.3.1): G' = s * G + H, with H = k_map * PK_map(chip). */
export function mapGeneric(curve: EcCurve, nonce: Buffer, kMap: bigint, chipMapKey: EcPoint): EcPoint {
  const h = chipMapKey.multiply(kMap);
  const g = curve.Point.BASE.multiply(toBig(nonce) % curve.Point.Fn.ORDER).add(h);
  if (g.equals(curve.Point.ZERO)) throw new KioskError('E_DOC_ACCESS', 'the mapped generator is the identity', { subject: 'PACE' });
  return g;
}

/**
 * The curve and point of an EC SubjectPublicKeyInfo (DER): named curve, or explicit parameters that
 * must equal a known curve's. Undefined when it is not an EC key on a curve this reader knows.
 */
export function ecPublicKeyFromSpki(spki: Buffer): { curve: EcCurve; point: EcPoint } | undefined {
  const outer = readTlv(spki, 0);
  const alg = outer && readTlv(spki, outer.start);
  const algOid = alg && readTlv(spki, alg.start);
  if (!outer || !alg || !algOid || decodeOid(spki.subarray(algOid.start, algOid.end)) !== '1.2.840.10045.2.1') return undefined;
  const params = readTlv(spki, algOid.end);
  const bits = readTlv(spki, alg.end);
  if (!params || bits?.tag !== 0x03) return undefined;
  const value = spki.subarray(params.start, params.end);
  const curve = params.tag === 0x06 ? CURVES.find((c) => c.oid === decodeOid(value)) : params.tag === 0x30 ? explicitCurve(value) : undefined;
  if (!curve) return undefined;
  return { curve, point: decodePoint(curve, spki.subarray(bits.start + 1, bits.end), 'chip authentication public key') };
}

/** Matches ECParameters { version, fieldID { prime-field, p }, curve { a, b }, base, order } to a known curve. */
function explicitCurve(der: Buffer): EcCurve | undefined {
  const items: Buffer[][] = [];
  for (let i = 0; i < der.length; ) {
    const t = readTlv(der, i);
    if (!t) return undefined;
    const inner: Buffer[] = [];
    if (t.tag === 0x30)
      for (let j = t.start; j < t.end; ) {
        const u = readTlv(der, j);
        if (!u || u.end > t.end) return undefined;
        inner.push(der.subarray(u.start, u.end));
        j = u.end;
      }
    else inner.push(der.subarray(t.start, t.end));
    items.push(inner);
    i = t.end;
  }
  const [, field, coefficients, base, order] = items;
  if (!field?.[1] || !coefficients?.[1] || !base?.[0] || !order?.[0]) return undefined;
  return CURVES.find((c) => {
    const k = c.Point.CURVE();
    return (
      toBig(field[1]) === k.p &&
      toBig(coefficients[0]) === k.a &&
      toBig(coefficients[1]) === k.b &&
      toBig(order[0]) === k.n &&
      base[0].equals(encodePoint(c.Point.BASE))
    );
  });
}
