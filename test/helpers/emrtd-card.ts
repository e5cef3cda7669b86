/**
 * A card emulator of ours for the eMRTD reader (no card, no reader here): an LDS1 application with
 * BAC and 3DES secure messaging, serving the files it is given, with the failure cases the reader
 * must handle (removed mid-read, a response with a wrong MAC). ISO 7816-4 APDUs in and out, through
 * the same `ApduTransport` interface as the PC/SC reader.
 */
import { constants, createHash, privateEncrypt, randomBytes, sign, timingSafeEqual, type KeyObject } from 'node:crypto';
import { bacKeys, deriveDesKey } from '../../device/document/bac.js';
import { decrypt3des, encrypt3des, pad, retailMac, unpad } from '../../device/document/des.js';
import type { ApduTransport } from '../../device/document/emrtd.js';
import { encodeTlv } from '../../device/document/tlv.js';

const SW = (sw: number) => Buffer.from([sw >> 8, sw & 0xff]);
const tlv = (tag: number, v: Buffer) => encodeTlv([tag], v);

export interface EmulatedCardOptions {
  /** The MRZ information printed on the document (document number, birth, expiry, with check digits). */
  mrzInformation: string;
  /** File contents by file id (e.g. 0x0101 for DG1). */
  files: Map<number, Buffer>;
  /** The card goes away (transmit throws) after this many APDUs. */
  removeAfter?: number;
  /** Flip a bit in the MAC of the response to this APDU number (1-based). */
  corruptMacAt?: number;
  /** The active authentication private key (its public key in DG15): EC signs plain r||s over SHA-256, RSA with ISO 9796-2 scheme 1 and SHA-1. A clone has none: it answers with `cloneAnswer`. */
  aaKey?: KeyObject;
  /** What a clone without the key answers to INTERNAL AUTHENTICATE (e.g. a signature recorded from the genuine chip). */
  cloneAnswer?: Buffer;
}

export class EmulatedEmrtd implements ApduTransport {
  apdus = 0;
  private selectedApp = false;
  private rndIc?: Buffer;
  private session?: { kEnc: Buffer; kMac: Buffer; ssc: Buffer };
  private file?: Buffer;

  constructor(private readonly o: EmulatedCardOptions) {}

  async transmit(apdu: Buffer): Promise<Buffer> {
    this.apdus++;
    if (this.o.removeAfter !== undefined && this.apdus > this.o.removeAfter) throw new Error('card removed (SCARD_W_REMOVED_CARD)');
    const [cla, ins, p1] = apdu;
    if ((cla & 0x0c) === 0x0c) return this.secure(apdu);
    if (ins === 0xa4 && p1 === 0x04) {
      this.selectedApp = apdu.subarray(5, 5 + apdu[4]).equals(Buffer.from('A0000002471001', 'hex'));
      return SW(this.selectedApp ? 0x9000 : 0x6a82);
    }
    if (!this.selectedApp) return SW(0x6985);
    if (ins === 0x84) {
      this.rndIc = randomBytes(8);
      return Buffer.concat([this.rndIc, SW(0x9000)]);
    }
    if (ins === 0x82) return this.externalAuthenticate(apdu.subarray(5, 5 + apdu[4]));
    return SW(0x6982); // security status not satisfied: everything else needs secure messaging
  }

  private externalAuthenticate(data: Buffer): Buffer {
    const keys = bacKeys(this.o.mrzInformation);
    if (!this.rndIc || data.length !== 40) return SW(0x6700);
    const eIfd = data.subarray(0, 32);
    if (!timingSafeEqual(retailMac(keys.kMac, eIfd), data.subarray(32))) return SW(0x6300);
    const s = decrypt3des(keys.kEnc, eIfd);
    const rndIfd = s.subarray(0, 8);
    if (!s.subarray(8, 16).equals(this.rndIc)) return SW(0x6300);
    const kIfd = s.subarray(16, 32);
    const kIc = randomBytes(16);
    const eIc = encrypt3des(keys.kEnc, Buffer.concat([this.rndIc, rndIfd, kIc]));
    const seed = Buffer.alloc(16);
    for (let i = 0; i < 16; i++) seed[i] = kIfd[i] ^ kIc[i];
    this.session = { kEnc: deriveDesKey(seed, 1), kMac: deriveDesKey(seed, 2), ssc: Buffer.concat([this.rndIc.subarray(4), rndIfd.subarray(4)]) };
    return Buffer.concat([eIc, retailMac(keys.kMac, eIc), SW(0x9000)]);
  }

  private increment(): void {
    const ssc = this.session!.ssc;
    for (let i = ssc.length - 1; i >= 0; i--) {
      ssc[i] = (ssc[i] + 1) & 0xff;
      if (ssc[i] !== 0) break;
    }
  }

  private secure(apdu: Buffer): Buffer {
    if (!this.session) return SW(0x6982);
    const s = this.session;
    const header = apdu.subarray(0, 4);
    const body = apdu.subarray(5, 5 + apdu[4]);
    // The card's view of the objects: DO'87' (data), DO'97' (Le), DO'8E' (MAC).
    const objects = new Map<number, Buffer>();
    const raws: Buffer[] = [];
    for (let i = 0; i < body.length; ) {
      const tag = body[i];
      const len = body[i + 1];
      if (tag !== 0x8e) raws.push(body.subarray(i, i + 2 + len));
      objects.set(tag, body.subarray(i + 2, i + 2 + len));
      i += 2 + len;
    }
    this.increment();
    const mac = objects.get(0x8e);
    if (!mac || !retailMac(s.kMac, Buffer.concat([s.ssc, pad(header), ...raws])).equals(mac)) {
      this.session = undefined; // a wrong MAC ends secure messaging, as on a real chip
      return SW(0x6988);
    }
    const data = objects.has(0x87) ? unpad(decrypt3des(s.kEnc, objects.get(0x87)!.subarray(1))) : undefined;
    const le = objects.get(0x97)?.[0];
    let out: Buffer = Buffer.alloc(0);
    let sw = 0x9000;
    if (header[1] === 0xa4) {
      const fid = data ? data.readUInt16BE(0) : -1;
      this.file = this.o.files.get(fid);
      if (!this.file) sw = 0x6a82;
    } else if (header[1] === 0xb0) {
      const offset = ((header[2] & 0x7f) << 8) | header[3];
      if (!this.file) sw = 0x6986;
      else out = this.file.subarray(offset, offset + (le === 0 ? 256 : (le ?? 256)));
    } else if (header[1] === 0x88 && data) {
      out = this.internalAuthenticate(data);
    } else sw = 0x6d00;
    return this.protect(out, sw);
  }

  private internalAuthenticate(challenge: Buffer): Buffer {
    const key = this.o.aaKey;
    if (!key) return this.o.cloneAnswer ?? randomBytes(64);
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

  private protect(data: Buffer, sw: number): Buffer {
    const s = this.session!;
    const do87 = data.length > 0 ? tlv(0x87, Buffer.concat([Buffer.from([0x01]), encrypt3des(s.kEnc, pad(data))])) : Buffer.alloc(0);
    const do99 = tlv(0x99, SW(sw));
    this.increment();
    const mac = retailMac(s.kMac, Buffer.concat([s.ssc, do87, do99]));
    if (this.o.corruptMacAt === this.apdus) mac[0] ^= 0x01;
    return Buffer.concat([do87, do99, tlv(0x8e, mac), SW(sw)]);
  }
}
