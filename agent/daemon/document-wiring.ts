/**
 * The identity-document reader from config (`document.*`): the PC/SC chip reader with the carrier's
 * trust store (CSCAs, master lists, CRLs), or China's resident ID reader on a serial port with the
 * vendor's photo decoder; and the carrier's document-number key. Modules load only when configured.
 */
import type { Logger } from '../../base/log.js';
import type { DocumentReader } from '../../device/document/reader.js';
import type { KioskConfig } from '../config/types.js';

/** The reader and the key the document step needs (the screen is added by the composition root). */
export interface DocumentSetup {
  reader: DocumentReader;
  hashKey?: Buffer;
  timeoutMs: number;
}

/** Builds the configured reader (not started); undefined when `document.reader` is `none`. E_CONFIG_INVALID for a trust store or key that does not load. */
export async function documentFromConfig(cfg: Pick<KioskConfig, 'document'>, logger: Logger): Promise<DocumentSetup | undefined> {
  const d = cfg.document;
  if (d.reader === 'none') return undefined;
  const { loadHashKey } = await import('../reference/chip.js');
  const hashKey = d.numberKeyFile ? await loadHashKey(d.numberKeyFile) : undefined;
  const log = logger.child({ component: 'document' });
  if (!hashKey) log.warn('no document.numberKeyFile: results carry no docNumberHash and the abuse limit counts per portrait');
  if (d.reader === 'pcsc') {
    const [{ loadTrustStore }, { PcscDocumentReader }] = await Promise.all([
      import('../../device/document/trust-store.js'),
      import('../../device/document/pcsc-reader.js'),
    ]);
    const trust = await loadTrustStore({
      cscaDir: d.cscaDir || undefined,
      masterLists: d.masterLists.length ? d.masterLists : undefined,
      masterListIssuers: d.masterListIssuers || undefined,
      crlDir: d.crlDir || undefined,
      staleCrlGraceMs: d.staleCrlGraceMs,
    });
    log.info({ cscas: trust.cscas.length, crls: trust.crls?.length ?? 0 }, 'document trust store loaded');
    return { reader: new PcscDocumentReader({ trust, readerName: d.pcscReader || undefined }), hashKey, timeoutMs: d.timeoutMs };
  }
  const { CnIdDocumentReader } = await import('../../device/document/cn-id/reader.js');
  const reader = new CnIdDocumentReader({
    path: d.serialPath,
    baudRate: d.baudRate,
    ...(d.decoderCommand ? { decoder: { command: d.decoderCommand, args: d.decoderArgs } } : {}),
    log,
  });
  if (!d.decoderCommand) log.warn('no document.decoderCommand: every resident ID read ends in E_DOC_DECODER_MISSING');
  return { reader, hashKey, timeoutMs: d.timeoutMs };
}
