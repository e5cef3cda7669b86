/**
 * The document reader over PC/SC (pcscd from Debian, through the optional native binding
 * `@pokusew/pcsclite`): waits for a card on a reader and hands out an `ApduTransport` for it. A card
 * taken away makes the next transmit fail, which the eMRTD reader reports as E_DOC_ACCESS with
 * `details.retry`: the read starts again once a card is back. The binding is loaded only when a
 * PC/SC reader is used, so a kiosk without pcsc-lite runs everything else.
 */
import { createRequire } from 'node:module';
import { KioskError } from '../../base/errors.js';
import type { ApduTransport } from './emrtd.js';

/** What is used of @pokusew/pcsclite's reader (its own typings export no names). */
interface CardReader {
  name: string;
  SCARD_STATE_PRESENT: number;
  SCARD_SHARE_SHARED: number;
  SCARD_LEAVE_CARD: number;
  on(type: 'end' | 'error', listener: (e?: unknown) => void): unknown;
  on(type: 'status', listener: (status: { state: number; atr?: Buffer }) => void): unknown;
  connect(options: { share_mode: number }, cb: (err: unknown, protocol: number) => void): void;
  disconnect(disposition: number, cb: (err: unknown) => void): void;
  transmit(data: Buffer, resLen: number, protocol: number, cb: (err: unknown, response: Buffer) => void): void;
  close(): void;
}

/** What is used of the PC/SC context. */
interface PCSCLite {
  on(type: 'reader', listener: (reader: CardReader) => void): unknown;
  on(type: 'error', listener: (err: unknown) => void): unknown;
  close(): void;
}

/** The card on a reader, connected. */
export class PcscCard implements ApduTransport {
  constructor(
    private readonly reader: CardReader,
    private readonly protocol: number,
    readonly atr: Buffer | undefined,
  ) {}

  get readerName(): string {
    return this.reader.name;
  }

  transmit(apdu: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.reader.transmit(apdu, 65538, this.protocol, (err, data) => {
        if (err)
          reject(new KioskError('E_DOC_ACCESS', `the card did not answer: ${(err as Error).message}`, { subject: this.reader.name, details: { retry: true } }));
        else resolve(data);
      });
    });
  }

  /** Leaves the card (powered) for the next connection. */
  disconnect(): Promise<void> {
    return new Promise((resolve) => this.reader.disconnect(this.reader.SCARD_LEAVE_CARD, () => resolve()));
  }
}

/** PC/SC readers seen through pcscd. */
export class PcscReaders {
  private pcsc?: PCSCLite;
  private readonly readers = new Map<string, CardReader>();
  /** The ATR of the card on each reader that has one (from the readers' status events). */
  private readonly present = new Map<string, Buffer>();

  /** Connects to pcscd (its socket: PCSCLITE_CSOCK_NAME, else the system one). E_DEVICE without the binding or pcscd. */
  start(): void {
    let load: () => PCSCLite;
    try {
      load = createRequire(import.meta.url)('@pokusew/pcsclite') as () => PCSCLite;
    } catch (err) {
      throw new KioskError('E_DEVICE', `PC/SC is not available (the optional @pokusew/pcsclite did not load: ${(err as Error).message})`, { subject: 'pcsc' });
    }
    const pcsc = load();
    pcsc.on('reader', (reader) => {
      this.readers.set(reader.name, reader);
      reader.on('status', (st) => {
        if (st.state & reader.SCARD_STATE_PRESENT) this.present.set(reader.name, st.atr ?? Buffer.alloc(0));
        else this.present.delete(reader.name);
      });
      reader.on('end', () => {
        this.readers.delete(reader.name);
        this.present.delete(reader.name);
      });
      // Status monitoring errors (e.g. "command cancelled" at close) carry no card data: nothing to do.
      reader.on('error', () => {});
    });
    pcsc.on('error', () => {});
    this.pcsc = pcsc;
  }

  stop(): void {
    for (const r of this.readers.values()) r.close();
    this.readers.clear();
    this.pcsc?.close();
    this.pcsc = undefined;
  }

  /** Names of the readers seen so far. */
  get names(): string[] {
    return [...this.readers.keys()];
  }

  /**
   * Runs `fn` on the card once one is there; when the card goes away mid-way (an error with
   * `details.retry`) waits for it again and starts over, up to `attempts` times in all.
   */
  async withCard<T>(fn: (card: PcscCard) => Promise<T>, o: { timeoutMs: number; attempts?: number; reader?: string; signal?: AbortSignal }): Promise<T> {
    const attempts = o.attempts ?? 3;
    for (let i = 1; ; i++) {
      const card = await this.waitForCard(o);
      try {
        return await fn(card);
      } catch (err) {
        const retry = err instanceof KioskError && err.details?.retry === true;
        if (!retry || i >= attempts) throw err;
        await new Promise((r) => setTimeout(r, 300));
      } finally {
        await card.disconnect();
      }
    }
  }

  /** Waits until a card is on a reader (the first, or the one named) and connects to it. E_TIMEOUT after `timeoutMs`. */
  async waitForCard(o: { timeoutMs: number; reader?: string; signal?: AbortSignal }): Promise<PcscCard> {
    const deadline = Date.now() + o.timeoutMs;
    for (;;) {
      o.signal?.throwIfAborted();
      for (const reader of this.readers.values()) {
        if (o.reader && reader.name !== o.reader) continue;
        const atr = this.present.get(reader.name);
        if (!atr) continue;
        const protocol = await new Promise<number | undefined>((resolve) =>
          reader.connect({ share_mode: reader.SCARD_SHARE_SHARED }, (err, p) => resolve(err ? undefined : p)),
        );
        if (protocol !== undefined) return new PcscCard(reader, protocol, atr);
      }
      if (Date.now() > deadline)
        throw new KioskError(
          'E_TIMEOUT',
          `no card on ${o.reader ?? 'any reader'} within ${o.timeoutMs} ms (${this.readers.size} reader(s) seen, ${this.present.size} with a card)`,
          {
            subject: 'pcsc',
          },
        );
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
