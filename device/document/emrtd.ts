/**
 * Reading an eMRTD chip (ICAO Doc 9303 Part 10 files, Part 11 access) over any APDU transport: select
 * the LDS1 application, Basic Access Control, then the asked files under 3DES secure messaging, each
 * read whole (its length from the first bytes' TLV header). PACE, passive and chip authentication
 * come in the next parts of issue 13; the PC/SC transport too.
 */
import { KioskError, isKioskError } from '../../base/errors.js';
import { bacChallenge, bacKeys, bacSession } from './bac.js';
import { activeAuthChallenge, activeAuthKey, verifyActiveAuth } from './active-auth.js';
import { SecureMessaging3Des, type CommandApdu } from './secure-messaging.js';
import { tlvHeader } from './tlv.js';

/** Sends one command APDU to the card and returns its response (data then SW1 SW2). */
export interface ApduTransport {
  transmit(apdu: Buffer): Promise<Buffer>;
}

/** The elementary files of LDS1 this reader knows, by their short names. */
export const EF = { COM: 0x011e, SOD: 0x011d, DG1: 0x0101, DG2: 0x0102, DG14: 0x010e, DG15: 0x010f } as const;
export type EfName = keyof typeof EF;

/** The LDS1 eMRTD application. */
const LDS1_AID = Buffer.from('A0000002471001', 'hex');
/** Bytes asked per READ BINARY under secure messaging (what fits a short APDU with the SM overhead). */
const CHUNK = 0xdf;

const encode = (c: CommandApdu): Buffer =>
  Buffer.concat([
    Buffer.from([c.cla, c.ins, c.p1, c.p2]),
    ...(c.data ? [Buffer.from([c.data.length]), c.data] : []),
    ...(c.le !== undefined ? [Buffer.from([c.le & 0xff])] : []),
  ]);

/** What a read brought: the files the card has, and whether the chip proved its DG15 key. */
export interface ChipRead {
  files: Map<EfName, Buffer>;
  /** `passed` when DG15 was read and the chip signed a fresh challenge with its key; `absent` without DG15. */
  activeAuth: 'passed' | 'absent';
}

/**
 * Reads `files` after BAC with the MRZ information and, when DG15 is among them and present, runs
 * active authentication in the same session. E_DOC_ACCESS when the card refuses access (wrong MRZ)
 * or goes away (`details.retry`: a card pulled out mid-read is read again from the start), E_DOC_SM
 * when a response fails its MAC, E_DOC_CLONE_SUSPECTED when the chip cannot sign with its DG15 key.
 * A file the card does not have is left out. The caller must still check the files (DG15 too) with
 * passive authentication: an active authentication with an unauthenticated DG15 proves nothing.
 */
export async function readWithBac(transport: ApduTransport, mrzInformation: string, files: EfName[], o: { ecdsaHash?: string } = {}): Promise<ChipRead> {
  const send = async (apdu: Buffer): Promise<Buffer> => {
    let r: Buffer;
    try {
      r = await transport.transmit(apdu);
    } catch (err) {
      if (isKioskError(err)) throw err;
      throw new KioskError('E_DOC_ACCESS', `the card stopped answering: ${(err as Error).message}`, { subject: 'card', cause: err, details: { retry: true } });
    }
    // No status word: the card went away between command and answer (some readers say so this way).
    if (r.length < 2) throw new KioskError('E_DOC_ACCESS', 'the card stopped answering (no status word)', { subject: 'card', details: { retry: true } });
    return r;
  };
  const plain = async (c: CommandApdu, what: string): Promise<Buffer> => {
    const r = await send(encode(c));
    const sw = r.length >= 2 ? r.readUInt16BE(r.length - 2) : 0;
    if (sw !== 0x9000) throw new KioskError('E_DOC_ACCESS', `${what} refused (SW ${sw.toString(16).padStart(4, '0')})`, { subject: 'card', details: { sw } });
    return r.subarray(0, r.length - 2);
  };
  await plain({ cla: 0x00, ins: 0xa4, p1: 0x04, p2: 0x0c, data: LDS1_AID }, 'selecting the eMRTD application');
  const keys = bacKeys(mrzInformation);
  const challenge = bacChallenge(keys, await plain({ cla: 0x00, ins: 0x84, p1: 0x00, p2: 0x00, le: 8 }, 'GET CHALLENGE'));
  const answer = await plain({ cla: 0x00, ins: 0x82, p1: 0x00, p2: 0x00, data: challenge.commandData, le: 0x28 }, 'BAC (wrong MRZ?)');
  const sm = new SecureMessaging3Des(bacSession(keys, challenge, answer));
  const secure = async (c: CommandApdu) => sm.unwrap(await send(sm.wrap(c)));

  const out = new Map<EfName, Buffer>();
  for (const name of files) {
    const fid = EF[name];
    const selected = await secure({ cla: 0x00, ins: 0xa4, p1: 0x02, p2: 0x0c, data: Buffer.from([fid >> 8, fid & 0xff]) });
    if (selected.sw === 0x6a82) continue; // not on this card (DG14/DG15 are optional)
    if (selected.sw !== 0x9000) throw new KioskError('E_DOC_ACCESS', `selecting ${name} refused (SW ${selected.sw.toString(16)})`, { subject: name });
    const head = await secure({ cla: 0x00, ins: 0xb0, p1: 0x00, p2: 0x00, le: 4 });
    if (head.sw !== 0x9000 || head.data.length < 2) throw new KioskError('E_DOC_ACCESS', `reading ${name} refused`, { subject: name });
    const total = tlvLength(head.data, name);
    if (total > 0x8000)
      throw new KioskError('E_DOC_ACCESS', `${name} is ${total} bytes: files over 32 KiB (READ BINARY with odd INS) are not read yet`, { subject: name });
    const parts = [head.data];
    let have = head.data.length;
    while (have < total) {
      const n = Math.min(CHUNK, total - have);
      const r = await secure({ cla: 0x00, ins: 0xb0, p1: (have >> 8) & 0x7f, p2: have & 0xff, le: n });
      if (r.sw !== 0x9000 || r.data.length === 0) throw new KioskError('E_DOC_ACCESS', `reading ${name} at ${have} refused`, { subject: name });
      parts.push(r.data);
      have += r.data.length;
    }
    out.set(name, Buffer.concat(parts).subarray(0, total));
  }
  const dg15 = out.get('DG15');
  if (!dg15) return { files: out, activeAuth: 'absent' };
  const key = activeAuthKey(dg15);
  const nonce = activeAuthChallenge();
  const signed = await secure({ cla: 0x00, ins: 0x88, p1: 0x00, p2: 0x00, data: nonce, le: 0 });
  if (signed.sw !== 0x9000)
    throw new KioskError('E_DOC_CLONE_SUSPECTED', `the chip refused INTERNAL AUTHENTICATE (SW ${signed.sw.toString(16)})`, {
      subject: 'active authentication',
    });
  verifyActiveAuth(key, nonce, signed.data, o.ecdsaHash);
  return { files: out, activeAuth: 'passed' };
}

/** The whole length (tag, length bytes and value) of the TLV object a file starts with. */
function tlvLength(head: Buffer, name: string): number {
  const h = tlvHeader(head, 0);
  if (!h) throw new KioskError('E_DOC_ACCESS', `${name} does not start with a TLV object`, { subject: name });
  return h.end;
}
