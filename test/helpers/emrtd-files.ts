/** LDS1 files for the card emulator: DG1 around an MRZ, DG2 around a portrait image, DG15 around a public key. */
import type { KeyObject } from 'node:crypto';
import { encodeTlv } from '../../device/document/tlv.js';

/** BER-TLV (the product's encoder). */
export const tlv = encodeTlv;

/** DG1: 61 { 5F1F: the MRZ lines joined }. */
export function dg1Of(mrz: string[]): Buffer {
  return tlv([0x61], tlv([0x5f, 0x1f], Buffer.from(mrz.join(''), 'latin1')));
}

/** DG2 as a chip holds it: 75 { 7F61 { 02 count, 7F60 { A1 header, 5F2E ISO 19794-5 record } } }. */
export function dg2Of(image: Buffer, o: { dataType: 0 | 1; width: number; height: number; points?: number }): Buffer {
  const points = o.points ?? 0;
  const facial = Buffer.alloc(20);
  facial.writeUInt32BE(20 + points * 8 + 12 + image.length);
  facial.writeUInt16BE(points, 4);
  const info = Buffer.alloc(12);
  info[1] = o.dataType;
  info.writeUInt16BE(o.width, 2);
  info.writeUInt16BE(o.height, 4);
  const head = Buffer.alloc(14);
  head.write('FAC\x00010\x00', 0, 'latin1');
  head.writeUInt16BE(1, 12);
  const record = Buffer.concat([head, facial, Buffer.alloc(points * 8), info, image]);
  record.writeUInt32BE(record.length, 8);
  const template = tlv([0x7f, 0x60], Buffer.concat([tlv([0xa1], Buffer.from('800201018106020101020300', 'hex')), tlv([0x5f, 0x2e], record)]));
  return tlv([0x75], tlv([0x7f, 0x61], Buffer.concat([tlv([0x02], Buffer.from([1])), template])));
}

/** DG15: 6F { SubjectPublicKeyInfo of the active authentication key }. */
export function dg15Of(publicKey: KeyObject): Buffer {
  return tlv([0x6f], publicKey.export({ format: 'der', type: 'spki' }));
}
