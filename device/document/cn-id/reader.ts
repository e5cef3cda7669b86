/**
 * China's resident identity card (二代身份证) on a certified reader (issue 13 part 4): the reader's
 * security module (SAM, GA/T 467) authenticates the card; the kiosk sends find, select and read base
 * message over the serial framing (frame.ts), checks the text (text.ts) and has the vendor's helper
 * decode the photo (decoder.ts). The kiosk cannot verify the card itself: the claims say
 * `passiveAuth: reader_sam`.
 *
 * Name, number, address and photo never reach a log line or an error: errors carry the step, the
 * status byte and counts only.
 */
import { KioskError, isKioskError } from '../../../base/errors.js';
import { type Clock, sleep, systemClock } from '../../../base/clock.js';
import type { Logger } from '../../../base/log.js';
import type { DocumentClaims, DocumentReader, DocumentReading, DocumentRequest } from '../reader.js';
import { decodeWltPhoto, type PhotoDecoderOptions } from './decoder.js';
import { COMMANDS, encodeCommand, FrameDecoder, type ResponseFrame, SW3 } from './frame.js';
import { type ByteLink, type OpenLink, openSerialLink } from './port.js';
import { parseTextRecord, TEXT_BYTES } from './text.js';

export interface CnIdReaderOptions {
  /** The reader's serial device, e.g. `/dev/ttyUSB0`. */
  path: string;
  /** Baud rate. Default 115200 (the readers' factory setting). */
  baudRate?: number;
  /** The vendor's wlt photo decoder, run as a helper process; without `command`, reads end in E_DOC_DECODER_MISSING. */
  decoder?: PhotoDecoderOptions;
  /** Milliseconds to wait for each response frame. Default 3000 (read base message takes ~1 s). */
  responseTimeoutMs?: number;
  /** Milliseconds between find-card polls while no card is there. Default 200. */
  pollIntervalMs?: number;
  /** Reads in all when the card is taken away mid-read. Default 3. */
  attempts?: number;
  clock?: Clock;
  log?: Logger;
  /** Opens the byte link (tests); default the serial port. */
  openLink?: OpenLink;
}

const CLAIMS: DocumentClaims = {
  source: 'chip',
  passiveAuth: 'reader_sam',
  chipAuth: 'absent',
  accessControl: 'reader',
  issuingState: 'CHN',
  documentType: 'ID',
  portraitFormat: 'vendor',
};
/** The photo's length in the read base message: 1024 bytes of wlt. */
const PHOTO_BYTES = 1024;

type Step = 'find' | 'select' | 'read';

/** Thrown inside a read when the card went away; caught to start over. */
class CardRemoved extends Error {
  constructor(readonly step: Step) {
    super(`card removed during ${step}`);
  }
}

export class CnIdDocumentReader implements DocumentReader {
  readonly kind = 'cn-id' as const;
  private link?: ByteLink;
  private readonly decoder = new FrameDecoder();
  private queue: Array<{ frame?: ResponseFrame; error?: KioskError }> = [];
  private waiter?: () => void;
  private linkError?: KioskError;
  /** Set when the port went away by itself (unplugged), not by `stop()`. */
  private unplugged?: KioskError;
  private busy = false;

  constructor(private readonly o: CnIdReaderOptions) {}

  private get clock(): Clock {
    return this.o.clock ?? systemClock;
  }

  /** Opens the serial port. */
  async start(): Promise<void> {
    if (this.link) return;
    const link = await (this.o.openLink ?? openSerialLink)(this.o.path, this.o.baudRate ?? 115200);
    this.linkError = undefined;
    this.unplugged = undefined;
    link.listen(
      (chunk) => {
        for (const e of this.decoder.push(chunk)) this.queue.push(e.kind === 'frame' ? { frame: e.frame } : { error: e.error });
        this.waiter?.();
      },
      (err) => {
        if (this.link !== link) return; // closed by stop()
        this.link = undefined;
        this.unplugged = new KioskError('E_DEVICE', `the ID card reader's serial port closed${err ? `: ${err.message}` : ''}`, {
          subject: this.o.path,
          cause: err,
        });
        this.linkError = this.unplugged;
        this.waiter?.();
      },
    );
    this.link = link;
    this.o.log?.info({ path: this.o.path }, 'cn-id reader port open');
  }

  /** Releases the serial port; a read in progress ends with E_DEVICE. */
  async stop(): Promise<void> {
    const link = this.link;
    this.link = undefined;
    this.unplugged = undefined;
    this.linkError = new KioskError('E_DEVICE', 'the ID card reader was stopped', { subject: this.o.path });
    this.waiter?.();
    if (link) await link.close();
    this.queue = [];
    this.decoder.reset();
  }

  /** Waits for a card until `request.timeoutMs`, reads it, and starts over (bounded) when it is taken away mid-read. */
  async read(request: DocumentRequest): Promise<DocumentReading> {
    if (!this.link) throw this.unplugged ?? new KioskError('E_USAGE', 'the ID card reader is not started', { subject: this.o.path });
    if (this.busy) throw new KioskError('E_USAGE', 'the ID card reader is already reading', { subject: this.o.path });
    this.busy = true;
    try {
      const deadline = this.clock.now() + request.timeoutMs;
      const attempts = Math.max(1, this.o.attempts ?? 3);
      for (let attempt = 1; ; attempt++) {
        try {
          return await this.readOnce(deadline, request);
        } catch (err) {
          if (!(err instanceof CardRemoved)) throw err;
          const removed = new KioskError('E_DOC_ACCESS', `the card was taken away during ${err.step}`, {
            subject: this.o.path,
            details: { retry: true, step: err.step, attempt, attempts },
          });
          if (attempt >= attempts) throw removed;
          this.o.log?.info({ step: err.step, attempt, attempts }, 'cn-id card removed mid-read; starting over');
        }
      }
    } finally {
      this.busy = false;
    }
  }

  private async readOnce(deadline: number, request: DocumentRequest): Promise<DocumentReading> {
    await this.waitForCard(deadline, request);
    const selected = await this.transact(COMMANDS.selectCard, 'select', request.signal);
    if (selected.sw3 === SW3.selectFailed) throw new CardRemoved('select');
    expectStatus(selected, SW3.ok, 'select', this.o.path);
    const base = await this.transact(COMMANDS.readBase, 'read', request.signal);
    if (base.sw3 === SW3.readFailed) throw new CardRemoved('read');
    expectStatus(base, SW3.ok, 'read', this.o.path);
    const { text, photo } = splitBaseMessage(base.data, this.o.path);
    const parsed = parseTextRecord(text);
    const portrait = await decodeWltPhoto(photo, this.o.decoder ?? {});
    return { portrait, documentNumber: parsed.idNumber, claims: { ...CLAIMS } };
  }

  /** Polls find-card until a card answers or the deadline passes (E_TIMEOUT). */
  private async waitForCard(deadline: number, request: DocumentRequest): Promise<void> {
    for (;;) {
      const found = await this.transact(COMMANDS.findCard, 'find', request.signal);
      if (found.sw3 === SW3.findOk) return;
      if (found.sw3 !== SW3.findNoCard) expectStatus(found, SW3.findOk, 'find', this.o.path);
      const left = deadline - this.clock.now();
      if (left <= 0) {
        throw new KioskError('E_TIMEOUT', `no ID card was presented within ${request.timeoutMs} ms`, {
          subject: this.o.path,
          details: { reason: 'no_card', timeoutMs: request.timeoutMs },
        });
      }
      try {
        await sleep(this.clock, Math.min(this.o.pollIntervalMs ?? 200, left), request.signal);
      } catch (err) {
        throw aborted(err, this.o.path);
      }
    }
  }

  /** Sends one command and waits for its response frame (or a framing error, a closed port, the time limit). */
  private async transact(command: { cmd: number; para: number }, step: Step, signal?: AbortSignal): Promise<ResponseFrame> {
    const link = this.link;
    if (!link) throw this.linkError ?? new KioskError('E_DEVICE', 'the ID card reader is not open', { subject: this.o.path });
    if (signal?.aborted) throw aborted(signal.reason, this.o.path);
    this.decoder.reset();
    this.queue = [];
    const timeoutMs = this.o.responseTimeoutMs ?? 3000;
    let timedOut = false;
    let wake: () => void = () => {};
    const timer = this.clock.setTimeout(() => {
      timedOut = true;
      wake();
    }, timeoutMs);
    const onAbort = () => wake();
    signal?.addEventListener('abort', onAbort, { once: true });
    // The write (and its drain) runs under the same limit as the answer: a port whose other end went away can
    // leave tcdrain waiting for ever, and the read must still end (closed port, abort or E_TIMEOUT).
    let writeError: unknown;
    link.write(encodeCommand(command)).then(
      () => {},
      (err) => {
        writeError = err;
        wake();
      },
    );
    try {
      for (;;) {
        const next = this.queue.shift();
        if (next?.error) throw next.error;
        if (next?.frame) return next.frame;
        if (this.linkError) throw this.linkError;
        if (writeError) throw writeError;
        if (signal?.aborted) throw aborted(signal.reason, this.o.path);
        if (timedOut) {
          throw new KioskError('E_TIMEOUT', `the ID card reader did not answer ${step} within ${timeoutMs} ms`, {
            subject: this.o.path,
            details: { reason: 'no_response', step, timeoutMs },
          });
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
          this.waiter = resolve;
        });
      }
    } finally {
      this.waiter = undefined;
      this.clock.clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }
}

function expectStatus(frame: ResponseFrame, wanted: number, step: Step, path: string): void {
  if (frame.sw1 === 0 && frame.sw2 === 0 && frame.sw3 === wanted) return;
  const sw = [frame.sw1, frame.sw2, frame.sw3].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  throw new KioskError('E_DEVICE', `the ID card reader refused ${step} with status ${sw}`, {
    subject: path,
    details: { reason: 'status', step, sw1: frame.sw1, sw2: frame.sw2, sw3: frame.sw3 },
  });
}

/** The read base message's data: text length, photo length (big-endian), text, photo. */
function splitBaseMessage(data: Buffer, path: string): { text: Buffer; photo: Buffer } {
  const bad = (why: string, details: Record<string, unknown>) =>
    new KioskError('E_DEVICE', `the read base message is malformed: ${why}`, { subject: path, details: { reason: 'record_length', ...details } });
  if (data.length < 4) throw bad('shorter than its two length fields', { bytes: data.length });
  const textLength = data.readUInt16BE(0);
  const photoLength = data.readUInt16BE(2);
  if (textLength !== TEXT_BYTES || photoLength !== PHOTO_BYTES)
    throw bad(`text ${textLength} and photo ${photoLength} bytes, expected ${TEXT_BYTES} and ${PHOTO_BYTES}`, { textLength, photoLength });
  if (data.length < 4 + textLength + photoLength) throw bad('shorter than the lengths it declares', { bytes: data.length, textLength, photoLength });
  return { text: data.subarray(4, 4 + textLength), photo: data.subarray(4 + textLength, 4 + textLength + photoLength) };
}

function aborted(reason: unknown, path: string): KioskError {
  if (isKioskError(reason)) return reason;
  return new KioskError('E_ABORTED', 'the ID card read was cancelled', { subject: path, cause: reason });
}
