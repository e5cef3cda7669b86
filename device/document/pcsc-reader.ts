/**
 * The ICAO 9303 document reader on PC/SC: waits for a chip on the reader, opens it with the MRZ the
 * page gave, reads and authenticates it (`readDocument`), and starts over when the card is taken away
 * mid-read.
 */
import { KioskError } from '../../base/errors.js';
import { PcscReaders } from './pcsc.js';
import { readDocument } from './read-document.js';
import type { DocumentReader, DocumentReading, DocumentRequest } from './reader.js';
import type { TrustAnchors } from './trust-store.js';

export interface PcscDocumentReaderOptions {
  trust: TrustAnchors;
  /** The PC/SC reader to use (default: the first with a card). */
  readerName?: string;
  /** Attempts in all when the card goes away mid-read. */
  attempts?: number;
  now?: () => Date;
}

export class PcscDocumentReader implements DocumentReader {
  readonly kind = 'pcsc' as const;
  private readonly readers = new PcscReaders();

  constructor(private readonly o: PcscDocumentReaderOptions) {}

  async start(): Promise<void> {
    this.readers.start();
  }

  async stop(): Promise<void> {
    this.readers.stop();
  }

  read(request: DocumentRequest): Promise<DocumentReading> {
    const { accessKey } = request;
    if (!accessKey)
      return Promise.reject(new KioskError('E_DOC_MRZ', 'a chip is opened with the MRZ of its data page, and none was given', { subject: 'mrz' }));
    const now = this.o.now ?? (() => new Date());
    return this.readers.withCard((card) => readDocument(card, accessKey, this.o.trust, now()), {
      timeoutMs: request.timeoutMs,
      reader: this.o.readerName,
      attempts: this.o.attempts,
      signal: request.signal,
    });
  }
}
