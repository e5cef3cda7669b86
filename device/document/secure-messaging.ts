/**
 * Secure messaging (ICAO Doc 9303 Part 11, 9.8): every command is wrapped (data encrypted in DO'87',
 * or DO'85' for an odd INS, Le in DO'97', a MAC over the send sequence counter and the padded header
 * in DO'8E') and every response unwrapped and checked before its data is used. The counter goes up
 * once per command and once per response; a response whose MAC does not verify ends the session
 * (E_DOC_SM): the card is read again from access control on. The framing is one class; what differs
 * between 3DES (after BAC) and AES (after PACE or chip authentication) is a small cipher suite.
 */
import { timingSafeEqual } from 'node:crypto';
import { KioskError } from '../../base/errors.js';
import { decrypt3des, encrypt3des, pad, retailMac, unpad } from './des.js';
import type { BacSession } from './bac.js';
import { encodeTlv, readTlv } from './tlv.js';

/** A command APDU (ISO 7816-4, short form). */
export interface CommandApdu {
  cla: number;
  ins: number;
  p1: number;
  p2: number;
  data?: Buffer;
  /** Expected response length (0 stands for 256). */
  le?: number;
}

/** A response: data and status word. */
export interface ResponseApdu {
  data: Buffer;
  sw: number;
  /** Set when the card answered an error status outside secure messaging (no MAC: nothing proves it is the card's). */
  plain?: true;
}

/** A secure-messaging session, whatever its cipher. */
export interface SecureMessaging {
  /** The protected form of `c`, as bytes to send. */
  wrap(c: CommandApdu): Buffer;
  /** Checks and opens a protected response (body and SW as received). E_DOC_SM when its MAC does not verify. */
  unwrap(raw: Buffer): ResponseApdu;
  /** The send sequence counter now (a copy). */
  readonly counter: Buffer;
}

/** What differs between the ciphers: block size, encryption under the counter, and the 8-byte MAC. */
export interface SmCipherSuite {
  block: number;
  /** Encrypts padded `data` for the message whose (already incremented) counter is `ssc`. */
  encrypt(ssc: Buffer, data: Buffer): Buffer;
  decrypt(ssc: Buffer, data: Buffer): Buffer;
  /** The 8-byte MAC over `data` padded with method 2 to the block size (the suite pads). */
  mac(data: Buffer): Buffer;
}

/** Reads the secure-messaging data objects of a response body. */
function readObjects(body: Buffer): Map<number, { value: Buffer; raw: Buffer }> {
  const out = new Map<number, { value: Buffer; raw: Buffer }>();
  for (let i = 0; i < body.length; ) {
    const t = readTlv(body, i);
    if (!t) throw new KioskError('E_DOC_SM', 'a secure-messaging response is truncated', { subject: 'sm' });
    out.set(t.tag, { value: body.subarray(t.start, t.end), raw: body.subarray(i, t.end) });
    i = t.end;
  }
  return out;
}

/** The framing of ICAO secure messaging over a cipher suite. */
export class SecureMessagingSession implements SecureMessaging {
  private readonly ssc: Buffer;

  constructor(
    private readonly suite: SmCipherSuite,
    ssc: Buffer,
  ) {
    this.ssc = Buffer.from(ssc);
  }

  get counter(): Buffer {
    return Buffer.from(this.ssc);
  }

  private increment(): void {
    for (let i = this.ssc.length - 1; i >= 0; i--) {
      this.ssc[i] = (this.ssc[i] + 1) & 0xff;
      if (this.ssc[i] !== 0) break;
    }
  }

  private macOver(parts: Buffer[]): Buffer {
    return this.suite.mac(Buffer.concat([this.ssc, ...parts]));
  }

  wrap(c: CommandApdu): Buffer {
    const { block } = this.suite;
    this.increment();
    const header = Buffer.from([c.cla | 0x0c, c.ins, c.p1, c.p2]);
    let dataObject: Buffer = Buffer.alloc(0);
    if (c.data && c.data.length > 0) {
      const cryptogram = this.suite.encrypt(this.ssc, pad(c.data, block));
      // An odd INS carries BER-TLV data: DO'85' without the padding-indicator byte (Part 11, 9.8.5).
      dataObject = c.ins & 1 ? encodeTlv([0x85], cryptogram) : encodeTlv([0x87], Buffer.concat([Buffer.from([0x01]), cryptogram]));
    }
    const do97 = c.le !== undefined ? encodeTlv([0x97], Buffer.from([c.le & 0xff])) : Buffer.alloc(0);
    const mac = this.macOver([pad(header, block), dataObject, do97]);
    const body = Buffer.concat([dataObject, do97, encodeTlv([0x8e], mac)]);
    return Buffer.concat([header, Buffer.from([body.length]), body, Buffer.from([0x00])]);
  }

  unwrap(raw: Buffer): ResponseApdu {
    if (raw.length < 2) throw new KioskError('E_DOC_SM', 'a response without a status word', { subject: 'sm' });
    const sw = raw.readUInt16BE(raw.length - 2);
    const objects = readObjects(raw.subarray(0, raw.length - 2));
    const mac = objects.get(0x8e);
    if (!mac) {
      // A card answers an error outside secure messaging (e.g. 6988, or 6A82 on some chips): the status is
      // all there is, and the counter stays (the card protected nothing; vicc, for one, does not count it).
      if (sw !== 0x9000 && objects.size === 0) return { data: Buffer.alloc(0), sw, plain: true };
      throw new KioskError('E_DOC_SM', 'the response carries no MAC', { subject: 'sm', details: { sw } });
    }
    this.increment();
    const cryptogram = objects.get(0x87) ?? objects.get(0x85);
    const do99 = objects.get(0x99);
    const expected = this.macOver([cryptogram?.raw ?? Buffer.alloc(0), do99?.raw ?? Buffer.alloc(0)]);
    if (mac.value.length !== 8 || !timingSafeEqual(mac.value, expected))
      throw new KioskError('E_DOC_SM', 'the response MAC does not verify', { subject: 'sm' });
    if (!cryptogram) return { data: Buffer.alloc(0), sw };
    let enciphered = cryptogram.value;
    if (objects.has(0x87)) {
      if (enciphered[0] !== 0x01) throw new KioskError('E_DOC_SM', 'unknown padding indicator in DO87', { subject: 'sm' });
      enciphered = enciphered.subarray(1);
    }
    if (enciphered.length === 0 || enciphered.length % this.suite.block !== 0)
      throw new KioskError('E_DOC_SM', 'the response cryptogram is not whole blocks', { subject: 'sm' });
    const data = unpad(this.suite.decrypt(this.ssc, enciphered));
    if (!data) throw new KioskError('E_DOC_SM', 'the response data is not padded', { subject: 'sm' });
    return { data, sw };
  }
}

/** The 3DES suite (Part 11, 9.8.6.1): CBC with a zero IV, retail MAC. */
export function des3Suite(keys: { kEnc: Buffer; kMac: Buffer }): SmCipherSuite {
  return {
    block: 8,
    encrypt: (_ssc, data) => encrypt3des(keys.kEnc, data),
    decrypt: (_ssc, data) => decrypt3des(keys.kEnc, data),
    mac: (data) => retailMac(keys.kMac, data),
  };
}

/** 3DES secure messaging, as after BAC (or after PACE or chip authentication with a 3DES protocol). */
export class SecureMessaging3Des extends SecureMessagingSession {
  constructor(session: BacSession) {
    super(des3Suite(session), session.ssc);
  }
}
