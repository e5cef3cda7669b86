/**
 * FAKE, test only: a resident-ID card reader (SAM module host interface), which we do not have. It
 * stands on one end of a pseudo-terminal pair that Debian's `socat` makes; the agent's real
 * `CnIdDocumentReader` opens the other end through `serialport`, exactly as it opens /dev/ttyUSB0.
 * It answers find (20 01), select (20 02) and read base message (30 01) with the status bytes the
 * public drivers show (see device/document/cn-id/frame.ts), and can misbehave on request: no card,
 * a card pulled after N frames, corrupt checksums, slow or chunked answers, noise before a frame.
 * Its command parser is its own (not the decoder under test).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { SerialPort } from 'serialport';
import { encodeTextRecord, idCheckCharacter } from '../../device/document/cn-id/text.js';
import { waitFor } from './wait.js';

const ID17 = '99000019900307123';
/** A made-up card (region code 990000 is assigned to no place). */
export const SAMPLE_CARD = {
  name: '测试样例',
  gender: '2',
  nation: '01',
  birthDate: '19900307',
  address: '测试省样例市示范路1号',
  idNumber: ID17 + idCheckCharacter(ID17),
  issuingAuthority: '样例市公安局',
  validFrom: '20150101',
  validUntil: '20350101',
};

const PREAMBLE = Buffer.from([0xaa, 0xaa, 0xaa, 0x96, 0x69]);

export interface FakeReaderOptions {
  /** Whether a card lies on the reader. Default true. */
  card?: boolean;
  /** The card is taken away once this many answers were sent with it present (the next command finds none), then put back. */
  removeAfterFrames?: number;
  /** How many times that happens. Default 1. */
  removals?: number;
  /** Which answers get a wrong checksum. */
  corrupt?: 'read' | 'all';
  /** Milliseconds before each answer. */
  delayMs?: number;
  /** Answers go out in chunks of this many bytes, 2 ms apart (partial frames on the kiosk's side). */
  chunkBytes?: number;
  /** Bytes written before each answer (line noise). */
  noise?: Buffer;
  /** Text record and photo of the card; default SAMPLE_CARD and 1024 bytes of pattern. */
  text?: Buffer;
  photo?: Buffer;
}

function frame(sw3: number, data: Buffer = Buffer.alloc(0), corrupt = false): Buffer {
  const body = Buffer.alloc(2 + 3 + data.length + 1);
  body.writeUInt16BE(3 + data.length + 1, 0);
  body[4] = sw3;
  data.copy(body, 5);
  let x = 0;
  for (let i = 0; i < body.length - 1; i++) x ^= body[i];
  body[body.length - 1] = corrupt ? x ^ 0x5a : x;
  return Buffer.concat([PREAMBLE, body]);
}

export class FakeCnIdReader {
  /** The path the kiosk opens. */
  readonly kioskPath: string;
  private readonly readerPath: string;
  private socat?: ChildProcess;
  private port?: SerialPort;
  private inbox = Buffer.alloc(0);
  private sentWithCard = 0;
  private removalsLeft: number;
  private chain: Promise<void> = Promise.resolve();
  /** Commands received, as `cmd para` hex pairs, in order. */
  readonly commands: string[] = [];

  constructor(
    dir: string,
    private o: FakeReaderOptions = {},
  ) {
    this.kioskPath = join(dir, 'kiosk-tty');
    this.readerPath = join(dir, 'reader-tty');
    this.removalsLeft = o.removals ?? 1;
  }

  /** Changes the behaviour between reads. */
  configure(o: FakeReaderOptions): void {
    this.o = { ...this.o, ...o };
    this.removalsLeft = o.removals ?? this.removalsLeft;
  }

  /** Starts socat and opens the reader's end of the pty pair. */
  async start(): Promise<void> {
    const link = (p: string) => `pty,raw,echo=0,link=${p}`;
    // setpriv (util-linux) makes socat die with this process, also when tap kills a test that timed out.
    this.socat = spawn('setpriv', ['--pdeathsig', 'TERM', '--', 'socat', link(this.readerPath), link(this.kioskPath)], { stdio: 'ignore' });
    await waitFor('socat pty links', () => existsSync(this.readerPath) && existsSync(this.kioskPath), 10_000);
    this.port = new SerialPort({ path: this.readerPath, baudRate: 115200, autoOpen: false, lock: false });
    await new Promise<void>((resolve, reject) => this.port?.open((err) => (err ? reject(err) : resolve())));
    this.port.on('data', (chunk: Buffer) => this.receive(chunk));
  }

  /** Closes the reader's end and stops socat. */
  async stop(): Promise<void> {
    const port = this.port;
    this.port = undefined;
    if (port?.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
    const socat = this.socat;
    this.socat = undefined;
    if (socat && socat.exitCode === null && socat.signalCode === null) {
      const gone = new Promise((resolve) => socat.once('exit', resolve));
      socat.kill('SIGTERM');
      await gone;
    }
  }

  private receive(chunk: Buffer): void {
    this.inbox = Buffer.concat([this.inbox, chunk]);
    for (;;) {
      const at = this.inbox.indexOf(PREAMBLE);
      if (at < 0 || this.inbox.length < at + 7) return;
      const length = this.inbox.readUInt16BE(at + 5);
      if (this.inbox.length < at + 7 + length) return;
      const body = this.inbox.subarray(at + 7, at + 7 + length);
      this.inbox = this.inbox.subarray(at + 7 + length);
      const command = `${body[0].toString(16).padStart(2, '0')} ${body[1].toString(16).padStart(2, '0')}`;
      this.commands.push(command);
      const answer = this.answer(command);
      this.chain = this.chain.then(() => this.send(answer));
    }
  }

  private answer(command: string): Buffer {
    const o = this.o;
    let present = o.card ?? true;
    if (present && o.removeAfterFrames !== undefined && this.removalsLeft > 0 && this.sentWithCard >= o.removeAfterFrames) {
      // Taken away for this command, back for the next (the customer puts it down again).
      present = false;
      this.removalsLeft--;
      this.sentWithCard = 0;
    } else if (present) {
      this.sentWithCard++;
    }
    const corrupt = (which: 'read' | 'other') => o.corrupt === 'all' || (o.corrupt === 'read' && which === 'read');
    switch (command) {
      case '20 01':
        return present ? frame(0x9f, Buffer.alloc(4), corrupt('other')) : frame(0x80, undefined, corrupt('other'));
      case '20 02':
        return present ? frame(0x90, Buffer.alloc(8), corrupt('other')) : frame(0x81, undefined, corrupt('other'));
      case '30 01': {
        if (!present) return frame(0x41, undefined, corrupt('read'));
        const text = o.text ?? encodeTextRecord(SAMPLE_CARD);
        const photo = o.photo ?? Buffer.from(Array.from({ length: 1024 }, (_, i) => (i * 7) & 0xff));
        const lengths = Buffer.alloc(4);
        lengths.writeUInt16BE(text.length, 0);
        lengths.writeUInt16BE(photo.length, 2);
        return frame(0x90, Buffer.concat([lengths, text, photo]), corrupt('read'));
      }
      default:
        return frame(0x21); // command error
    }
  }

  private async send(answer: Buffer): Promise<void> {
    const port = this.port;
    if (!port) return;
    if (this.o.delayMs) await new Promise((r) => setTimeout(r, this.o.delayMs));
    const bytes = this.o.noise ? Buffer.concat([this.o.noise, answer]) : answer;
    const size = this.o.chunkBytes ?? bytes.length;
    for (let i = 0; i < bytes.length; i += size) {
      if (!this.port) return;
      await new Promise<void>((resolve) => port.write(bytes.subarray(i, i + size), () => port.drain(() => resolve())));
      if (size < bytes.length) await new Promise((r) => setTimeout(r, 2));
    }
  }
}
