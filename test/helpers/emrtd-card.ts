/**
 * A card emulator of ours for the eMRTD reader (no card, no reader here): EF.CardAccess in the master
 * file, PACE (ECDH generic mapping) when it offers it and BAC always, 3DES or AES secure messaging,
 * an LDS1 application serving the files it is given (past 32 KiB with READ BINARY's odd INS), chip
 * authentication with the key behind DG14 and active authentication with DG15's, and the failure
 * cases the reader must handle (removed mid-read, a response with a wrong MAC, a clone without the
 * private keys). ISO 7816-4 APDUs in and out, through the same `ApduTransport` as the PC/SC reader.
 */
import { randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';
import { bacKeys, deriveDesKey } from '../../device/document/bac.js';
import { decrypt3des, encrypt3des, retailMac } from '../../device/document/des.js';
import type { ApduTransport } from '../../device/document/emrtd.js';
import { encodeTlv, readTlv } from '../../device/document/tlv.js';
import { activeAuthSign, chipAuthSecret, type ChipAuthKey } from './emrtd-card-auth.js';
import { CardPace, cardAccessOf, cardSmFrom, type PaceOffer } from './emrtd-card-pace.js';
import { CardSm, type OpenedCommand } from './emrtd-card-sm.js';

const SW = (sw: number) => Buffer.from([sw >> 8, sw & 0xff]);
const LDS1_AID = Buffer.from('A0000002471001', 'hex');

/** What the emulated chip holds and how it misbehaves. */
export interface EmulatedCardOptions {
  /** The MRZ information printed on the document (document number, birth, expiry, with check digits). */
  mrzInformation: string;
  /** File contents by file id (e.g. 0x0101 for DG1). */
  files: Map<number, Buffer>;
  /** The card goes away (transmit throws) after this many APDUs. */
  removeAfter?: number;
  /** Flip a bit in the MAC of the response to this APDU number (1-based). */
  corruptMacAt?: number;
  /** The active authentication private key (its public key in DG15). A clone has none: it answers with `cloneAnswer`. */
  aaKey?: KeyObject;
  /** What a clone without the key answers to INTERNAL AUTHENTICATE (e.g. a signature recorded from the genuine chip). */
  cloneAnswer?: Buffer;
  /** The PACE the chip offers in EF.CardAccess (BAC stays available, as on most chips). */
  pace?: PaceOffer;
  /** EF.CardAccess as given (e.g. one without a PACEInfo); by default made from `pace`, absent without it. */
  cardAccess?: Buffer;
  /** The chip-authentication private key behind DG14 (a genuine chip). A clone has DG14 but not this key: it goes on under the old keys. */
  chipAuthKey?: ChipAuthKey;
  /** Answer errors (e.g. 6A82 for a missing file) outside secure messaging, without counting them, as vicc does. */
  plainErrors?: boolean;
}

/** The emulated eMRTD chip, answering APDUs. */
export class EmulatedEmrtd implements ApduTransport {
  apdus = 0;
  /** The INS of every command, in order (tests look for READ BINARY's odd INS). */
  readonly instructions: number[] = [];
  private selectedApp = false;
  private rndIc?: Buffer;
  private sm?: CardSm;
  private pace?: CardPace;
  private file?: Buffer;
  private caSetAt = false;
  private readonly cardAccess?: Buffer;

  constructor(private readonly o: EmulatedCardOptions) {
    this.cardAccess = o.cardAccess ?? (o.pace ? cardAccessOf([o.pace]) : undefined);
  }

  async transmit(apdu: Buffer): Promise<Buffer> {
    this.apdus++;
    if (this.o.removeAfter !== undefined && this.apdus > this.o.removeAfter) throw new Error('card removed (SCARD_W_REMOVED_CARD)');
    const [cla, ins, p1, p2] = apdu;
    this.instructions.push(ins);
    if ((cla & 0x0c) === 0x0c) return this.secure(apdu);
    const data = apdu.length > 5 ? apdu.subarray(5, 5 + apdu[4]) : Buffer.alloc(0);
    if (ins === 0xa4 && p1 === 0x00) {
      this.selectedApp = false;
      this.file = undefined;
      return SW(0x9000);
    }
    if (ins === 0xa4 && p1 === 0x04) return SW(this.selectApp(data) ? 0x9000 : 0x6a82);
    if (ins === 0xa4 && p1 === 0x02 && !this.selectedApp) {
      // Only EF.CardAccess may be selected and read in the clear.
      this.file = data.readUInt16BE(0) === 0x011c ? this.cardAccess : undefined;
      return SW(this.file ? 0x9000 : 0x6a82);
    }
    if (ins === 0xb0 && !this.selectedApp && this.file && this.file === this.cardAccess) {
      const offset = (p1 << 8) | p2;
      return Buffer.concat([this.file.subarray(offset, offset + (apdu[4] || 256)), SW(0x9000)]);
    }
    if (ins === 0x22 && p1 === 0xc1 && p2 === 0xa4) {
      this.pace = this.o.pace ? new CardPace(this.o.pace, this.o.mrzInformation) : undefined;
      if (!this.pace?.accepts(data)) return SW(0x6a80);
      return SW(0x9000);
    }
    if (ins === 0x86 && this.pace) {
      const r = this.pace.answer(data);
      if (r.sm) {
        this.sm = r.sm;
        this.pace = undefined;
      }
      return Buffer.concat([r.body, SW(r.sw)]);
    }
    if (!this.selectedApp) return SW(0x6985);
    if (ins === 0x84) {
      this.rndIc = randomBytes(8);
      return Buffer.concat([this.rndIc, SW(0x9000)]);
    }
    if (ins === 0x82) return this.externalAuthenticate(data);
    return SW(0x6982); // security status not satisfied: everything else needs secure messaging
  }

  private selectApp(aid: Buffer): boolean {
    this.selectedApp = aid.equals(LDS1_AID);
    this.file = undefined;
    return this.selectedApp;
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
    this.sm = CardSm.des3(deriveDesKey(seed, 1), deriveDesKey(seed, 2), Buffer.concat([this.rndIc.subarray(4), rndIfd.subarray(4)]));
    return Buffer.concat([eIc, retailMac(keys.kMac, eIc), SW(0x9000)]);
  }

  private secure(apdu: Buffer): Buffer {
    const sm = this.sm;
    if (!sm) return SW(0x6982);
    const c = sm.open(apdu);
    if (!c) {
      this.sm = undefined; // a wrong MAC ends secure messaging, as on a real chip
      return SW(0x6988);
    }
    const { out, sw, next } = this.command(c);
    if (this.o.plainErrors && sw !== 0x9000) return SW(sw);
    const response = sm.protect(c.ins, out, sw, this.o.corruptMacAt === this.apdus);
    if (next) this.sm = next; // chip authentication: the answer goes under the old keys, what follows under the new
    return response;
  }

  private command(c: OpenedCommand): { out: Buffer; sw: number; next?: CardSm } {
    const none = Buffer.alloc(0);
    if (c.ins === 0xa4 && c.p1 === 0x04) return { out: none, sw: this.selectApp(c.data ?? none) ? 0x9000 : 0x6a82 };
    if (c.ins === 0xa4) {
      this.file = this.selectedApp && c.data ? this.o.files.get(c.data.readUInt16BE(0)) : undefined;
      return { out: none, sw: this.file ? 0x9000 : 0x6a82 };
    }
    if (c.ins === 0xb0 || c.ins === 0xb1) return this.readBinary(c);
    if (c.ins === 0x88 && c.data) return { out: this.internalAuthenticate(c.data), sw: 0x9000 };
    if (c.ins === 0x22 && c.p1 === 0x41 && c.p2 === 0xa6 && c.data) {
      // MSE:Set KAT (3DES chip authentication): DO'91' holds the terminal's ephemeral key.
      const point = readTlv(c.data, 0);
      if (point?.tag !== 0x91) return { out: none, sw: 0x6a80 };
      return { out: none, sw: 0x9000, next: this.chipAuthenticate(c.data.subarray(point.start, point.end)) };
    }
    if (c.ins === 0x22 && c.p1 === 0x41 && c.p2 === 0xa4) {
      this.caSetAt = true;
      return { out: none, sw: 0x9000 };
    }
    if (c.ins === 0x86 && this.caSetAt && c.data) {
      const outer = readTlv(c.data, 0);
      const point = outer && readTlv(c.data, outer.start);
      if (point?.tag !== 0x80) return { out: none, sw: 0x6a80 };
      return { out: Buffer.from([0x7c, 0x00]), sw: 0x9000, next: this.chipAuthenticate(c.data.subarray(point.start, point.end)) };
    }
    return { out: none, sw: 0x6d00 };
  }

  /** The secure messaging after chip authentication; a clone (no key) keeps the old one. */
  private chipAuthenticate(terminalPoint: Buffer): CardSm | undefined {
    const key = this.o.chipAuthKey;
    return key ? cardSmFrom(chipAuthSecret(key, terminalPoint), key.cipher) : undefined;
  }

  private readBinary(c: OpenedCommand): { out: Buffer; sw: number } {
    if (!this.file) return { out: Buffer.alloc(0), sw: 0x6986 };
    const le = c.le ?? 256;
    if (c.ins === 0xb0) {
      const offset = ((c.p1 & 0x7f) << 8) | c.p2;
      return { out: this.file.subarray(offset, offset + le), sw: 0x9000 };
    }
    // Odd INS: the offset in DO'54', the bytes back in DO'53' (whose header counts against Le).
    const at = c.data && readTlv(c.data, 0);
    if (!c.data || at?.tag !== 0x54) return { out: Buffer.alloc(0), sw: 0x6a80 };
    const offset = c.data.subarray(at.start, at.end).reduce((n, b) => n * 256 + b, 0);
    const n = le - (le - 2 > 0x7f ? 3 : 2);
    return { out: encodeTlv([0x53], this.file.subarray(offset, offset + n)), sw: 0x9000 };
  }

  private internalAuthenticate(challenge: Buffer): Buffer {
    const key = this.o.aaKey;
    return key ? activeAuthSign(key, challenge) : (this.o.cloneAnswer ?? randomBytes(64));
  }
}
