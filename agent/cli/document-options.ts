/**
 * The options that say how to read an identity document's chip, shared by `document read` and
 * `verify --document`: the MRZ the access key comes from (typed, or read from a photo of the data
 * page), the carrier's trust store (CSCAs, master lists, CRLs), the reader and the document-number key.
 */
import type { Command } from 'commander';
import { intArg } from '../../base/cli.js';
import { KioskError } from '../../base/errors.js';
import type { MrzAccessKey } from '../../device/document/mrz.js';
import type { DocumentReader } from '../../device/document/reader.js';

export interface DocumentCliOptions {
  mrz?: string;
  mrzFrom?: string;
  csca?: string;
  masterList: string[];
  masterListIssuers?: string;
  crl?: string;
  staleCrlGrace: number;
  readerName?: string;
  documentTimeout: number;
  numberKey?: string;
}

/** Adds the document options to `cmd`. */
export function documentOptions(cmd: Command): Command {
  return cmd
    .option('--mrz <lines>', 'the MRZ lines printed on the data page, comma-separated (the chip access key comes from them)')
    .option('--mrz-from <image>', 'instead of --mrz: read the MRZ from a photo or scan of the data page (Debian tesseract-ocr)')
    .option('--csca <dir>', 'folder of trusted CSCA certificates (PEM or DER); optional with --master-list')
    .option('--master-list <file>', 'an ICAO CSCA master list (DER CMS) whose CSCAs to trust; repeatable', (v: string, all: string[]) => [...all, v], [])
    .option('--master-list-issuers <dir>', 'folder of the CSCA certificates pinned as master list issuers (required with --master-list)')
    .option('--crl <dir>', "folder of the CSCAs' CRLs (DER or PEM); a Document Signer on one is refused")
    .option('--stale-crl-grace <hours>', 'accept a CRL this long past its nextUpdate (0: refuse, reason crl_expired)', intArg('--stale-crl-grace', 0), 0)
    .option('--reader-name <name>', 'the PC/SC reader to use (default: the first with a card)')
    .option('--document-timeout <sec>', 'wait this long for a document on the reader', intArg('--document-timeout', 1), 30)
    .option('--number-key <file>', "the carrier's document-number key (>= 32 random bytes): the claims then carry docNumberHash");
}

/** The access key from --mrz or --mrz-from (exactly one). E_DOC_MRZ when a check digit fails. */
export async function accessKeyOf(o: DocumentCliOptions): Promise<MrzAccessKey> {
  if ((o.mrz === undefined) === (o.mrzFrom === undefined))
    throw new KioskError('E_USAGE', 'give the MRZ of the data page: --mrz <line1,line2> or --mrz-from <image>', { subject: '--mrz' });
  if (o.mrzFrom !== undefined) return (await import('../../device/document/mrz-ocr.js')).accessKeyFromImageFile(o.mrzFrom);
  const { parseMrz } = await import('../../device/document/mrz.js');
  return parseMrz((o.mrz ?? '').split(',')).accessKey;
}

/** The PC/SC document reader with the trust store of --csca / --master-list / --crl (not started). */
export async function pcscReaderOf(o: DocumentCliOptions): Promise<DocumentReader> {
  if (!o.csca && o.masterList.length === 0) throw new KioskError('E_USAGE', 'give --csca <dir> or --master-list <file>', { subject: '--csca' });
  const [{ loadTrustStore }, { PcscDocumentReader }] = await Promise.all([
    import('../../device/document/trust-store.js'),
    import('../../device/document/pcsc-reader.js'),
  ]);
  const trust = await loadTrustStore({
    cscaDir: o.csca,
    masterLists: o.masterList,
    masterListIssuers: o.masterListIssuers,
    crlDir: o.crl,
    staleCrlGraceMs: o.staleCrlGrace * 3_600_000,
  });
  return new PcscDocumentReader({ trust, readerName: o.readerName });
}

/** The document-number key of --number-key, if given. */
export async function numberKeyOf(o: DocumentCliOptions): Promise<Buffer | undefined> {
  if (!o.numberKey) return undefined;
  const { loadHashKey } = await import('../reference/chip.js');
  return loadHashKey(o.numberKey);
}
