/**
 * The serial framing of China's resident-ID readers (the SAM module's host interface, GA/T 467),
 * pure: commands are encoded, responses decoded incrementally from whatever chunks the port gives.
 *
 * Frame: preamble `AA AA AA 96 69`, a 2-byte big-endian length of what follows (command: CMD PARA
 * data CHK; response: SW1 SW2 SW3 data CHK), and CHK = XOR of every byte from the length to the end
 * of the data. Checked against public drivers, which agree on all of it (read, not copied):
 * - hevz/hev-idcard-reader `src/hev-dbus-object-idcard-reader.c`: the command bytes for find (20 01,
 *   CHK 22), select (20 02, CHK 21) and read base message (30 01, CHK 32); reads 7 header bytes, then
 *   the big-endian length;
 * - Yangyuanxin/BearPi `ZKT_SDK/IDReader.h`: preamble and the CMD/PARA pairs by name;
 * - an Android driver (`com.YinanSoft.CardReaders.SerialReader`): the frame layout in its comments,
 *   whole responses for find (SW3 9F, 4 data bytes), no card on find (SW3 80), select (SW3 90, 8 data
 *   bytes), select without a card (81), read without a card (41), and read success 00 00 90;
 * - a C header in a public snapshot (`IDENTITY_PACKET`): the 1295-byte read response (5 + 2 + 3 + 4 +
 *   256 + 1024 + 1), SW3 named "the SAM's status", CHK over everything but preamble and CHK.
 */
import { KioskError } from '../../../base/errors.js';

export const PREAMBLE = Buffer.from([0xaa, 0xaa, 0xaa, 0x96, 0x69]);

/** The commands the adapter uses (CMD, PARA). */
export const COMMANDS = {
  findCard: { cmd: 0x20, para: 0x01 },
  selectCard: { cmd: 0x20, para: 0x02 },
  readBase: { cmd: 0x30, para: 0x01 },
} as const;

/** SW3 values the public drivers agree on. */
export const SW3 = {
  ok: 0x90,
  findOk: 0x9f,
  findNoCard: 0x80,
  selectFailed: 0x81,
  readFailed: 0x41,
} as const;

/**
 * The longest length field a reader sends: read base message plus fingerprint (30 10) is 2321 bytes
 * in all, the largest response in the drivers above. Anything longer is line noise, not a frame.
 */
export const MAX_LENGTH = 2321 - 7;
/** A response carries SW1 SW2 SW3 and CHK at least. */
const MIN_LENGTH = 4;
const SUBJECT = 'cn-id serial frame';

/** XOR of all bytes. */
export function xorChecksum(bytes: Uint8Array): number {
  let x = 0;
  for (const b of bytes) x ^= b;
  return x;
}

/** One command frame, ready to write to the port. */
export function encodeCommand(command: { cmd: number; para: number }, data: Uint8Array = new Uint8Array(0)): Buffer {
  const length = 2 + data.length + 1;
  const body = Buffer.alloc(2 + length);
  body.writeUInt16BE(length, 0);
  body[2] = command.cmd;
  body[3] = command.para;
  body.set(data, 4);
  body[body.length - 1] = xorChecksum(body.subarray(0, body.length - 1));
  return Buffer.concat([PREAMBLE, body]);
}

/** A response frame the checksum vouched for. */
export interface ResponseFrame {
  sw1: number;
  sw2: number;
  sw3: number;
  data: Buffer;
}

/** One response frame, encoded (for the fake reader and tests). */
export function encodeResponse(sw: readonly [number, number, number], data: Uint8Array = new Uint8Array(0)): Buffer {
  const length = 3 + data.length + 1;
  const body = Buffer.alloc(2 + length);
  body.writeUInt16BE(length, 0);
  body.set(sw, 2);
  body.set(data, 5);
  body[body.length - 1] = xorChecksum(body.subarray(0, body.length - 1));
  return Buffer.concat([PREAMBLE, body]);
}

/** What the decoder found in the bytes pushed so far, in order. */
export type DecodeEvent = { kind: 'frame'; frame: ResponseFrame } | { kind: 'error'; error: KioskError };

/**
 * Cuts response frames out of a byte stream. Bytes before a preamble are skipped and counted
 * (readers print boot noise, and a frame cut by a reconnect leaves a tail); a frame whose checksum
 * fails, or whose length field is out of range, is reported as an E_DEVICE error with
 * `details.reason` (`checksum`, `length`) and the decoder resynchronises on the next preamble.
 * A partial frame waits for more bytes.
 */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);
  /** Bytes skipped while looking for a preamble, since construction or the last `reset()`. */
  skipped = 0;

  constructor(private readonly maxLength = MAX_LENGTH) {}

  /** Adds bytes; returns the frames and errors they complete. */
  push(chunk: Uint8Array): DecodeEvent[] {
    this.buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
    const events: DecodeEvent[] = [];
    for (;;) {
      const start = this.buf.indexOf(PREAMBLE);
      if (start < 0) {
        // Keep a tail that may be the start of a preamble split across chunks.
        const keep = Math.min(this.buf.length, PREAMBLE.length - 1);
        this.skipped += this.buf.length - keep;
        this.buf = this.buf.subarray(this.buf.length - keep);
        return events;
      }
      this.skipped += start;
      this.buf = this.buf.subarray(start);
      if (this.buf.length < PREAMBLE.length + 2) return events;
      const length = this.buf.readUInt16BE(PREAMBLE.length);
      if (length < MIN_LENGTH || length > this.maxLength) {
        events.push({ kind: 'error', error: lengthError(length, this.maxLength) });
        // Drop this preamble only: a real frame may start inside the bytes that followed it.
        this.buf = this.buf.subarray(1);
        continue;
      }
      const total = PREAMBLE.length + 2 + length;
      if (this.buf.length < total) return events;
      const body = this.buf.subarray(PREAMBLE.length, total);
      this.buf = this.buf.subarray(total);
      const expected = xorChecksum(body.subarray(0, body.length - 1));
      const got = body[body.length - 1];
      if (expected !== got) {
        events.push({ kind: 'error', error: checksumError(expected, got, length) });
        continue;
      }
      events.push({
        kind: 'frame',
        frame: { sw1: body[2], sw2: body[3], sw3: body[4], data: Buffer.from(body.subarray(5, body.length - 1)) },
      });
    }
  }

  /** Forgets buffered bytes (before each command, so a late answer to an earlier one cannot be taken for it). */
  reset(): void {
    this.buf = Buffer.alloc(0);
    this.skipped = 0;
  }
}

const hex = (n: number) => `0x${n.toString(16).padStart(2, '0')}`;

function checksumError(expected: number, got: number, length: number): KioskError {
  // The details hold the two checksum bytes and the length only: the frame itself may carry personal data.
  return new KioskError('E_DEVICE', `response frame checksum ${hex(got)} does not match ${hex(expected)}`, {
    subject: SUBJECT,
    details: { reason: 'checksum', expected, got, length },
  });
}

function lengthError(length: number, maxLength: number): KioskError {
  return new KioskError('E_DEVICE', `response frame length ${length} is outside ${MIN_LENGTH}..${maxLength}`, {
    subject: SUBJECT,
    details: { reason: 'length', length, maxLength },
  });
}
