/**
 * 3DES secure messaging after BAC (ICAO Doc 9303 Part 11, 9.8): every command is wrapped (data
 * encrypted in DO'87', Le in DO'97', a retail MAC over the send sequence counter and the masked
 * header in DO'8E') and every response unwrapped and checked before its data is used. The counter
 * goes up once per command and once per response; a response whose MAC does not verify ends the
 * session (E_DOC_SM): the card is read again from access control on.
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

export class SecureMessaging3Des {
  private readonly ssc: Buffer;

  constructor(private readonly session: BacSession) {
    this.ssc = Buffer.from(session.ssc);
  }

  /** The send sequence counter now (a copy). */
  get counter(): Buffer {
    return Buffer.from(this.ssc);
  }

  private increment(): void {
    for (let i = this.ssc.length - 1; i >= 0; i--) {
      this.ssc[i] = (this.ssc[i] + 1) & 0xff;
      if (this.ssc[i] !== 0) break;
    }
  }

  /** The protected form of `c`, as bytes to send. */
  wrap(c: CommandApdu): Buffer {
    const header = Buffer.from([c.cla | 0x0c, c.ins, c.p1, c.p2]);
    const do87 =
      c.data && c.data.length > 0 ? encodeTlv([0x87], Buffer.concat([Buffer.from([0x01]), encrypt3des(this.session.kEnc, pad(c.data))])) : Buffer.alloc(0);
    const do97 = c.le !== undefined ? encodeTlv([0x97], Buffer.from([c.le & 0xff])) : Buffer.alloc(0);
    this.increment();
    const mac = retailMac(this.session.kMac, Buffer.concat([this.ssc, pad(header), do87, do97]));
    const body = Buffer.concat([do87, do97, encodeTlv([0x8e], mac)]);
    return Buffer.concat([header, Buffer.from([body.length]), body, Buffer.from([0x00])]);
  }

  /** Checks and opens a protected response (body and SW as received). E_DOC_SM when its MAC does not verify. */
  unwrap(raw: Buffer): ResponseApdu {
    if (raw.length < 2) throw new KioskError('E_DOC_SM', 'a response without a status word', { subject: 'sm' });
    const sw = raw.readUInt16BE(raw.length - 2);
    const objects = readObjects(raw.subarray(0, raw.length - 2));
    this.increment();
    const mac = objects.get(0x8e);
    if (!mac) {
      // A card answers an error outside secure messaging (e.g. 6982): no data, the status is all there is.
      if (sw !== 0x9000 && objects.size === 0) return { data: Buffer.alloc(0), sw };
      throw new KioskError('E_DOC_SM', 'the response carries no MAC', { subject: 'sm', details: { sw } });
    }
    const do87 = objects.get(0x87);
    const do99 = objects.get(0x99);
    const expected = retailMac(this.session.kMac, Buffer.concat([this.ssc, do87?.raw ?? Buffer.alloc(0), do99?.raw ?? Buffer.alloc(0)]));
    if (mac.value.length !== 8 || !timingSafeEqual(mac.value, expected))
      throw new KioskError('E_DOC_SM', 'the response MAC does not verify', { subject: 'sm' });
    if (!do87) return { data: Buffer.alloc(0), sw };
    if (do87.value[0] !== 0x01) throw new KioskError('E_DOC_SM', 'unknown padding indicator in DO87', { subject: 'sm' });
    const data = unpad(decrypt3des(this.session.kEnc, do87.value.subarray(1)));
    if (!data) throw new KioskError('E_DOC_SM', 'the response data is not padded', { subject: 'sm' });
    return { data, sw };
  }
}
