/**
 * Reading an eMRTD chip (ICAO Doc 9303 Part 10 files, Part 11 access) over any APDU transport:
 * EF.CardAccess read in the clear decides the access control (PACE when it offers a PACEInfo this
 * reader can run, BAC otherwise), then the LDS1 application is selected and the asked files read
 * under secure messaging, each whole (its length from the first bytes' TLV header; past 32 KiB with
 * READ BINARY's odd INS). DG14 is read first: when it offers chip authentication, that runs and the
 * rest is read under its keys; otherwise active authentication (DG15) runs at the end. The caller
 * checks the files with passive authentication (DG14 and DG15 too) before counting either proof.
 */
import { KioskError, isKioskError } from '../../base/errors.js';
import { bacChallenge, bacKeys, bacSession } from './bac.js';
import { activeAuthChallenge, activeAuthKey, verifyActiveAuth } from './active-auth.js';
import { parseSecurityInfos, type PaceInfo } from './card-access.js';
import { chipAuthPlan, runChipAuthentication } from './chip-auth.js';
import { paceCurve, runPace } from './pace.js';
import { SecureMessaging3Des, type CommandApdu, type ResponseApdu, type SecureMessaging } from './secure-messaging.js';
import { encodeTlv, readTlv, tlvHeader } from './tlv.js';

/** Sends one command APDU to the card and returns its response (data then SW1 SW2). */
export interface ApduTransport {
  transmit(apdu: Buffer): Promise<Buffer>;
}

/** The elementary files of LDS1 this reader knows, by their short names. */
export const EF = { COM: 0x011e, SOD: 0x011d, DG1: 0x0101, DG2: 0x0102, DG14: 0x010e, DG15: 0x010f } as const;
export type EfName = keyof typeof EF;

/** EF.CardAccess, in the master file. */
const CARD_ACCESS = 0x011c;
/** The LDS1 eMRTD application. */
const LDS1_AID = Buffer.from('A0000002471001', 'hex');
/** Bytes asked per READ BINARY under secure messaging (what fits a short APDU with the SM overhead). */
const CHUNK = 0xdf;
/** The largest file read (a DG2 with a few portraits is well under; a header claiming more is not believed). */
const MAX_FILE = 4 << 20;

const encode = (c: CommandApdu): Buffer =>
  Buffer.concat([
    Buffer.from([c.cla, c.ins, c.p1, c.p2]),
    ...(c.data ? [Buffer.from([c.data.length]), c.data] : []),
    ...(c.le !== undefined ? [Buffer.from([c.le & 0xff])] : []),
  ]);
const selectEf = (fid: number): CommandApdu => ({ cla: 0x00, ins: 0xa4, p1: 0x02, p2: 0x0c, data: Buffer.from([fid >> 8, fid & 0xff]) });
const hexSw = (sw: number) => sw.toString(16).padStart(4, '0');

/** What a read brought: the files the card has, how it was opened, and whether the chip proved its key. */
export interface ChipRead {
  files: Map<EfName, Buffer>;
  accessControl: 'pace' | 'bac';
  /** `passed` when the chip proved the key DG14 (chip authentication) or DG15 (active authentication) names. */
  chipAuth: 'passed' | 'absent';
  chipAuthMethod?: 'chip_authentication' | 'active_authentication';
  /**
   * DG14 lists a PACE protocol this reader runs. DG14 repeats EF.CardAccess's SecurityInfos under the
   * state's signature: after BAC that means EF.CardAccess was stripped on the way (a downgrade), once
   * passive authentication shows DG14 is genuine.
   */
  dg14OffersPace?: boolean;
}

/** How readChip opens the chip. */
export interface ReadOptions {
  /** The hash of ECDSA active authentication when DG14 does not name one (default sha256). */
  ecdsaHash?: string;
  /** `bac` skips EF.CardAccess (and PACE); `auto` (default) runs PACE when the chip offers it. */
  access?: 'auto' | 'bac';
}

/** The card connection: commands in the clear, or under the current secure messaging. */
class Channel {
  sm?: SecureMessaging;
  /** Set after chip authentication: the next response must verify under the new keys, or the chip lacks the key. */
  proving = false;

  constructor(private readonly transport: ApduTransport) {}

  private async send(apdu: Buffer): Promise<Buffer> {
    let r: Buffer;
    try {
      r = await this.transport.transmit(apdu);
    } catch (err) {
      if (isKioskError(err)) throw err;
      throw new KioskError('E_DOC_ACCESS', `the card stopped answering: ${(err as Error).message}`, { subject: 'card', cause: err, details: { retry: true } });
    }
    // No status word: the card went away between command and answer (some readers say so this way).
    if (r.length < 2) throw new KioskError('E_DOC_ACCESS', 'the card stopped answering (no status word)', { subject: 'card', details: { retry: true } });
    return r;
  }

  /** A command in the clear; its response as it came. */
  raw = async (c: CommandApdu): Promise<ResponseApdu> => {
    const r = await this.send(encode(c));
    return { data: r.subarray(0, r.length - 2), sw: r.readUInt16BE(r.length - 2) };
  };

  /** A command in the clear that must succeed; E_DOC_ACCESS naming `what` otherwise (`details.reason` access_denied when `denied`: the MRZ is wrong). */
  plain = async (c: CommandApdu, what: string, denied = false): Promise<Buffer> => {
    const r = await this.raw(c);
    if (r.sw !== 0x9000)
      throw new KioskError('E_DOC_ACCESS', `${what} refused (SW ${hexSw(r.sw)})`, {
        subject: 'card',
        details: { sw: r.sw, ...(denied ? { reason: 'access_denied' } : {}) },
      });
    return r.data;
  };

  /** A command under secure messaging. */
  secure = async (c: CommandApdu): Promise<ResponseApdu> => {
    const sm = this.sm;
    if (!sm) throw new KioskError('E_DOC_SM', 'no secure messaging session', { subject: 'sm' });
    const raw = await this.send(sm.wrap(c));
    if (!this.proving) return sm.unwrap(raw);
    this.proving = false;
    const cloned = new KioskError('E_DOC_CLONE_SUSPECTED', 'the chip does not answer under the chip-authentication keys: it lacks the private key DG14 names', {
      subject: 'chip authentication',
    });
    let r: ResponseApdu;
    try {
      r = sm.unwrap(raw);
    } catch (err) {
      if (isKioskError(err) && err.code === 'E_DOC_SM') throw cloned;
      throw err;
    }
    if (r.plain) throw cloned;
    return r;
  };
}

/**
 * Reads `files` after PACE or BAC with the MRZ information, with chip authentication (DG14) or
 * active authentication (DG15) in the same session when the chip offers it. E_DOC_ACCESS when the
 * card refuses access (wrong MRZ) or goes away (`details.retry`: a card pulled out mid-read is read
 * again from the start), E_DOC_SM when a response fails its MAC, E_DOC_CLONE_SUSPECTED when the chip
 * cannot prove its key. A file the card does not have is left out.
 */
export async function readChip(transport: ApduTransport, mrzInformation: string, files: EfName[], o: ReadOptions = {}): Promise<ChipRead> {
  const ch = new Channel(transport);
  const pace = o.access === 'bac' ? undefined : await paceOffer(ch);
  if (pace) {
    ch.sm = (await runPace(ch.plain, pace.info, mrzInformation, { sendParameterId: pace.ambiguous })).sm;
    const r = await ch.secure({ cla: 0x00, ins: 0xa4, p1: 0x04, p2: 0x0c, data: LDS1_AID });
    if (r.sw !== 0x9000) throw new KioskError('E_DOC_ACCESS', `selecting the eMRTD application refused (SW ${hexSw(r.sw)})`, { subject: 'card' });
  } else {
    await ch.plain({ cla: 0x00, ins: 0xa4, p1: 0x04, p2: 0x0c, data: LDS1_AID }, 'selecting the eMRTD application');
    const keys = bacKeys(mrzInformation);
    const challenge = bacChallenge(keys, await ch.plain({ cla: 0x00, ins: 0x84, p1: 0x00, p2: 0x00, le: 8 }, 'GET CHALLENGE'));
    const answer = await ch.plain({ cla: 0x00, ins: 0x82, p1: 0x00, p2: 0x00, data: challenge.commandData, le: 0x28 }, 'BAC (wrong MRZ?)', true);
    ch.sm = new SecureMessaging3Des(bacSession(keys, challenge, answer));
  }
  const out = new Map<EfName, Buffer>();
  let chipAuthenticated = false;
  let ecdsaHash = o.ecdsaHash;
  let dg14OffersPace = false;
  // EF.COM lists the data groups present: the optional DG14/DG15 are selected only when listed, since
  // selecting a missing file draws an unprotected error, after which some chips end secure messaging.
  // (EF.COM is not signed: a chip that hides a key file this way is caught against the SOD's list.)
  const com = await readFile(ch, 'COM');
  if (com && files.includes('COM')) out.set('COM', com);
  const present = dataGroupsListed(com);
  const wanted = (name: EfName) => files.includes(name) && (present === undefined || !(name in DG_TAG) || present.has(DG_TAG[name as keyof typeof DG_TAG]));
  const dg14 = wanted('DG14') ? await readFile(ch, 'DG14') : undefined;
  if (dg14) {
    out.set('DG14', dg14);
    const infos = parseSecurityInfos(dg14, 'DG14');
    ecdsaHash = infos.activeAuthHash ?? ecdsaHash;
    dg14OffersPace = infos.pace.some((p) => paceCurve(p));
    const plan = chipAuthPlan(infos);
    if (plan) {
      ch.sm = await runChipAuthentication(ch.secure, plan);
      ch.proving = true;
      chipAuthenticated = true;
    }
  }
  for (const name of files) {
    if (name === 'DG14' || name === 'COM' || !wanted(name)) continue;
    const bytes = await readFile(ch, name);
    if (bytes) out.set(name, bytes);
  }
  // Nothing was read after chip authentication: one harmless command proves the new keys.
  if (ch.proving) await ch.secure(selectEf(EF.COM));
  const base = { files: out, accessControl: pace ? ('pace' as const) : ('bac' as const), ...(dg14OffersPace ? { dg14OffersPace } : {}) };
  if (chipAuthenticated) return { ...base, chipAuth: 'passed', chipAuthMethod: 'chip_authentication' };
  const dg15 = out.get('DG15');
  if (!dg15) return { ...base, chipAuth: 'absent' };
  const key = activeAuthKey(dg15);
  const nonce = activeAuthChallenge();
  const signed = await ch.secure({ cla: 0x00, ins: 0x88, p1: 0x00, p2: 0x00, data: nonce, le: 0 });
  if (signed.sw !== 0x9000)
    throw new KioskError('E_DOC_CLONE_SUSPECTED', `the chip refused INTERNAL AUTHENTICATE (SW ${signed.sw.toString(16)})`, {
      subject: 'active authentication',
    });
  verifyActiveAuth(key, nonce, signed.data, ecdsaHash);
  return { ...base, chipAuth: 'passed', chipAuthMethod: 'active_authentication' };
}

/** The tags EF.COM uses for the optional data groups whose absence must not be probed. */
const DG_TAG = { DG14: 0x6e, DG15: 0x6f } as const;

/** The data-group tags EF.COM lists (tag 60 { ... 5C: tag list }); undefined without EF.COM or a list (then every file is tried). */
export function dataGroupsListed(com: Buffer | undefined): Set<number> | undefined {
  if (com?.[0] !== 0x60) return undefined;
  const outer = tlvHeader(com, 0);
  if (!outer) return undefined;
  for (let at = outer.start; at < outer.end; ) {
    const t = tlvHeader(com, at);
    if (!t) return undefined;
    if (t.tag === 0x5c) return new Set(com.subarray(t.start, t.end));
    at = t.end;
  }
  return undefined;
}

/** {@link readChip} with BAC only (no EF.CardAccess, no PACE), as on a chip that offers nothing else. */
export function readWithBac(transport: ApduTransport, mrzInformation: string, files: EfName[], o: { ecdsaHash?: string } = {}): Promise<ChipRead> {
  return readChip(transport, mrzInformation, files, { ...o, access: 'bac' });
}

/** The PACE protocol EF.CardAccess offers and this reader runs (undefined: no EF.CardAccess or no usable PACEInfo: BAC). */
async function paceOffer(ch: Channel): Promise<{ info: PaceInfo; ambiguous: boolean } | undefined> {
  // EF.CardAccess lies in the master file: select it first (some chips refuse the EF otherwise; none is harmed by it).
  await ch.raw({ cla: 0x00, ins: 0xa4, p1: 0x00, p2: 0x0c });
  const selected = await ch.raw(selectEf(CARD_ACCESS));
  if (selected.sw !== 0x9000) return undefined;
  let offered: PaceInfo[];
  try {
    offered = parseSecurityInfos(await readSelected(ch.raw, 'EF.CardAccess'), 'EF.CardAccess').pace;
  } catch (err) {
    // Unreadable or not SecurityInfos: BAC as before (a stripped PACE shows later against DG14). A card gone is still a retry.
    if (isKioskError(err) && err.code === 'E_DOC_ACCESS' && !err.details?.retry) return undefined;
    throw err;
  }
  const strength = { '3des': 0, aes128: 1, aes192: 2, aes256: 3 };
  const usable = offered.filter((p) => paceCurve(p)).sort((a, b) => strength[b.cipher] - strength[a.cipher]);
  return usable[0] ? { info: usable[0], ambiguous: offered.length > 1 } : undefined;
}

/** Selects and reads file `name` under secure messaging; undefined when the card does not have it. */
async function readFile(ch: Channel, name: EfName): Promise<Buffer | undefined> {
  const selected = await ch.secure(selectEf(EF[name]));
  if (selected.sw === 0x6a82) return undefined; // not on this card (DG14/DG15 are optional)
  if (selected.sw !== 0x9000) throw new KioskError('E_DOC_ACCESS', `selecting ${name} refused (SW ${hexSw(selected.sw)})`, { subject: name });
  return readSelected(ch.secure, name);
}

/**
 * Reads the selected file whole through `send`: its TLV header first, then chunks; offsets past
 * 0x7FFF (which P1-P2 cannot hold) with READ BINARY INS B1 and the offset in DO'54', the data
 * coming back in DO'53'.
 */
export async function readSelected(send: (c: CommandApdu) => Promise<ResponseApdu>, name: string): Promise<Buffer> {
  const head = await send({ cla: 0x00, ins: 0xb0, p1: 0x00, p2: 0x00, le: 6 });
  if (head.sw !== 0x9000 || head.data.length < 2) throw new KioskError('E_DOC_ACCESS', `reading ${name} refused (SW ${hexSw(head.sw)})`, { subject: name });
  const h = tlvHeader(head.data, 0);
  if (!h) throw new KioskError('E_DOC_ACCESS', `${name} does not start with a TLV object`, { subject: name });
  const total = h.end;
  if (total > MAX_FILE) throw new KioskError('E_DOC_ACCESS', `${name} claims ${total} bytes, more than a chip file holds`, { subject: name });
  const parts = [head.data.subarray(0, total)];
  let have = parts[0].length;
  while (have < total) {
    const n = Math.min(CHUNK, total - have);
    let chunk: Buffer;
    if (have <= 0x7fff) {
      const r = await send({ cla: 0x00, ins: 0xb0, p1: have >> 8, p2: have & 0xff, le: n });
      if (r.sw !== 0x9000) throw new KioskError('E_DOC_ACCESS', `reading ${name} at ${have} refused (SW ${hexSw(r.sw)})`, { subject: name });
      chunk = r.data;
    } else {
      const offset = Buffer.from(have.toString(16).padStart(have > 0xffff ? 6 : 4, '0'), 'hex');
      // Le counts DO'53''s own header (up to 3 bytes) too.
      const r = await send({ cla: 0x00, ins: 0xb1, p1: 0x00, p2: 0x00, data: encodeTlv([0x54], offset), le: Math.min(CHUNK, total - have + 3) });
      const d = readTlv(r.data, 0);
      if (r.sw !== 0x9000 || d?.tag !== 0x53) throw new KioskError('E_DOC_ACCESS', `reading ${name} at ${have} refused (SW ${hexSw(r.sw)})`, { subject: name });
      chunk = r.data.subarray(d.start, d.end);
    }
    if (chunk.length === 0) throw new KioskError('E_DOC_ACCESS', `reading ${name} at ${have} gave no data`, { subject: name });
    parts.push(chunk.subarray(0, total - have));
    have += Math.min(chunk.length, total - have);
  }
  return Buffer.concat(parts);
}
