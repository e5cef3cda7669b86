/**
 * The document step that opens a session on a kiosk with a document reader (issue 13): the customer
 * gives the data page's MRZ (typed or corrected on the screen), presents the document, and the chip's
 * state-signed portrait becomes the reference. A failure is a session result of its own: the document
 * could not be read (retry) or is not what the issuing state signed (reject), with the error's code
 * for the log and no personal data anywhere.
 */
import { isKioskError, KioskError, toKioskError, type ErrorCode } from '../../base/errors.js';
import { keyFields, type MrzAccessKey } from '../../device/document/mrz.js';
import type { DocumentReader } from '../../device/document/reader.js';
import type { FaceEngine } from '../../models/engine.js';
import { readChipReference, type ChipReference } from '../reference/chip.js';
import type { ReasonCode, Verdict } from '../session/types.js';

/** What the customer sees of the document step (the screen's `document` message). */
export type DocumentStepState = 'show_page' | 'present_document' | 'reading' | 'check_mrz' | 'read_failed' | 'done';

/** What OCR of the data page gave: the fields to show in the form, and those it could not confirm. */
export interface PageRead {
  fields: Partial<Record<'documentNumber' | 'birthDate' | 'expiryDate', string>>;
  invalid: string[];
}

/** Asks the customer for the access key and shows the document step (the customer screen implements it). */
export interface DocumentPrompt {
  /** The three access-key fields, typed or corrected by the customer; rejects with E_ABORTED when they cancel. */
  askAccessKey(initial: Partial<Record<'documentNumber' | 'birthDate' | 'expiryDate', string>>, invalid: string[], signal: AbortSignal): Promise<MrzAccessKey>;
  showDocument(state: Exclude<DocumentStepState, 'check_mrz'>): void;
}

export interface DocumentStepDeps {
  reader: DocumentReader;
  /** How the access key is obtained; absent for readers that need none (China's resident ID). */
  prompt?: DocumentPrompt;
  /** OCR of the data page (held up to the camera): the form then opens filled in, for the customer to confirm. */
  readPage?: (signal: AbortSignal) => Promise<PageRead | undefined>;
  /** The carrier's document-number key: the result then carries docNumberHash and the abuse limit counts per document. */
  hashKey?: Buffer;
  /** How long the customer has to present the document. */
  timeoutMs: number;
}

export type DocumentOutcome =
  | { ok: true; reference: ChipReference }
  | { ok: false; verdict: Verdict; reason: ReasonCode; code: ErrorCode; step: string; cancelled: boolean };

/** Error codes that mean the document is not genuine (or not the one on the page): a reject, not a retry. */
const NOT_AUTHENTIC: ReadonlySet<ErrorCode> = new Set(['E_DOC_PASSIVE_AUTH', 'E_DOC_CLONE_SUSPECTED']);

/** The session outcome for a document step that failed with `err`. */
export function documentFailure(err: unknown): Extract<DocumentOutcome, { ok: false }> {
  const e = toKioskError(err);
  if (e.code === 'E_ABORTED') return { ok: false, verdict: 'reject', reason: 'cancelled', code: e.code, step: 'document', cancelled: true };
  if (NOT_AUTHENTIC.has(e.code))
    return { ok: false, verdict: 'reject', reason: 'document_not_authentic', code: e.code, step: String(e.details?.reason ?? e.code), cancelled: false };
  return { ok: false, verdict: 'retry', reason: 'document_unreadable', code: e.code, step: e.subject ?? e.code, cancelled: false };
}

/** How many times the customer may enter the MRZ when the chip refuses the key made from it. */
export const MRZ_ATTEMPTS = 3;

/** The chip refused the access key (BAC or PACE mutual authentication): a field of the MRZ is wrong. */
const accessDenied = (err: unknown) => isKioskError(err) && err.code === 'E_DOC_ACCESS' && err.details?.reason === 'access_denied';

/** Runs the document step: access key, chip read, reference template. Never throws: a failure is an outcome. */
export async function documentStep(engine: Pick<FaceEngine, 'analyze' | 'decide'>, deps: DocumentStepDeps, signal: AbortSignal): Promise<DocumentOutcome> {
  try {
    let page: PageRead | undefined;
    if (deps.reader.kind === 'pcsc' && deps.readPage && deps.prompt) {
      deps.prompt.showDocument('show_page');
      page = await deps.readPage(signal);
    }
    for (let attempt = 1, entered: MrzAccessKey | undefined; ; attempt++) {
      let accessKey: MrzAccessKey | undefined;
      if (deps.reader.kind === 'pcsc') {
        if (!deps.prompt) throw new KioskError('E_DOC_MRZ', 'no screen to enter the MRZ on', { subject: 'mrz' });
        // The OCR read first (to confirm); after a refusal what they typed, every field marked for checking.
        accessKey = entered
          ? await deps.prompt.askAccessKey(keyFields(entered), [...MRZ_FIELDS], signal)
          : await deps.prompt.askAccessKey(page?.fields ?? {}, page?.invalid ?? [], signal);
      }
      deps.prompt?.showDocument('present_document');
      try {
        const reference = await readChipReference(engine, deps.reader, { accessKey, hashKey: deps.hashKey, timeoutMs: deps.timeoutMs, signal });
        deps.prompt?.showDocument('done');
        return { ok: true, reference };
      } catch (err) {
        if (!accessDenied(err) || attempt >= MRZ_ATTEMPTS || signal.aborted) throw err;
        entered = accessKey;
      }
    }
  } catch (err) {
    if (signal.aborted) return { ok: false, verdict: 'reject', reason: 'cancelled', code: 'E_ABORTED', step: 'document', cancelled: true };
    deps.prompt?.showDocument('read_failed');
    return documentFailure(err);
  }
}

const MRZ_FIELDS = ['documentNumber', 'birthDate', 'expiryDate'] as const;
