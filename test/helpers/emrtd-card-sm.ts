/**
 * The card's side of secure messaging for the emulator, written from ICAO Doc 9303 Part 11, 9.8
 * apart from the reader's framing (only the block primitives are shared, and those have their own
 * known answers): checks a protected command and protects a response, with 3DES or AES.
 */
import { decrypt3des, encrypt3des, pad, retailMac, unpad } from '../../device/document/des.js';
import { aesCmac, decryptAes, encryptAes } from '../../device/document/secure-messaging-aes.js';
import { encodeTlv } from '../../device/document/tlv.js';

const SW = (sw: number) => Buffer.from([sw >> 8, sw & 0xff]);

/** An opened command: its header, plain data and Le. */
export interface OpenedCommand {
  ins: number;
  p1: number;
  p2: number;
  data?: Buffer;
  le?: number;
}

/** One secure-messaging session as the card keeps it (3DES or AES). */
export class CardSm {
  private constructor(
    private readonly aes: boolean,
    private readonly kEnc: Buffer,
    private readonly kMac: Buffer,
    private readonly ssc: Buffer,
  ) {}

  /** 3DES secure messaging (after BAC: the counter from the nonces). */
  static des3(kEnc: Buffer, kMac: Buffer, ssc: Buffer = Buffer.alloc(8)): CardSm {
    return new CardSm(false, kEnc, kMac, Buffer.from(ssc));
  }

  /** AES secure messaging (counter zero, 16 bytes). */
  static aes(kEnc: Buffer, kMac: Buffer): CardSm {
    return new CardSm(true, kEnc, kMac, Buffer.alloc(16));
  }

  private get block(): number {
    return this.aes ? 16 : 8;
  }

  private increment(): void {
    for (let i = this.ssc.length - 1; i >= 0; i--) {
      this.ssc[i] = (this.ssc[i] + 1) & 0xff;
      if (this.ssc[i] !== 0) break;
    }
  }

  private mac(data: Buffer): Buffer {
    return this.aes ? aesCmac(this.kMac, pad(data, 16)).subarray(0, 8) : retailMac(this.kMac, data);
  }

  private iv(): Buffer | undefined {
    return this.aes ? encryptAes(this.kEnc, this.ssc) : undefined;
  }

  /** Checks a protected command; undefined when its MAC does not verify (the card then drops the session). */
  open(apdu: Buffer): OpenedCommand | undefined {
    const header = apdu.subarray(0, 4);
    const body = apdu.subarray(5, 5 + apdu[4]);
    const objects = new Map<number, Buffer>();
    const macced: Buffer[] = [];
    for (let i = 0; i < body.length; ) {
      const tag = body[i];
      let len = body[i + 1];
      let at = i + 2;
      if (len === 0x81) len = body[at++];
      if (tag !== 0x8e) macced.push(body.subarray(i, at + len));
      objects.set(tag, body.subarray(at, at + len));
      i = at + len;
    }
    this.increment();
    const mac = objects.get(0x8e);
    if (!mac || !this.mac(Buffer.concat([this.ssc, pad(header, this.block), ...macced])).equals(mac)) return undefined;
    let data: Buffer | undefined;
    const do87 = objects.get(0x87);
    const do85 = objects.get(0x85);
    if (do87 || do85) {
      const cryptogram = do87 ? do87.subarray(1) : do85!;
      const iv = this.iv();
      data = unpad(this.aes ? decryptAes(this.kEnc, cryptogram, iv) : decrypt3des(this.kEnc, cryptogram));
    }
    const le = objects.get(0x97);
    return { ins: header[1], p1: header[2], p2: header[3], data, le: le ? le[0] || 256 : undefined };
  }

  /** The protected response to a command with instruction `ins` (an odd INS answers in DO'85'). */
  protect(ins: number, data: Buffer, sw: number, corruptMac = false): Buffer {
    this.increment();
    let cryptogram: Buffer = Buffer.alloc(0);
    if (data.length > 0) {
      const enc = this.aes ? encryptAes(this.kEnc, pad(data, 16), this.iv()) : encrypt3des(this.kEnc, pad(data));
      cryptogram = ins & 1 ? encodeTlv([0x85], enc) : encodeTlv([0x87], Buffer.concat([Buffer.from([0x01]), enc]));
    }
    const do99 = encodeTlv([0x99], SW(sw));
    const mac = this.mac(Buffer.concat([this.ssc, cryptogram, do99]));
    if (corruptMac) mac[0] ^= 0x01;
    return Buffer.concat([cryptogram, do99, encodeTlv([0x8e], mac), SW(sw)]);
  }
}
