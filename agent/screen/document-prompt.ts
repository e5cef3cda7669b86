/**
 * The document step on the customer screen: where reading the ID document is, and the form where
 * the customer checks or corrects the MRZ fields the chip's access key is made from (when OCR of
 * the data page failed or a check digit refused a field).
 * The fields are personal data: they go to the page (over the authenticated socket) and back, and
 * never into a log line or an error message; only field names do.
 */
import { KioskError, isKioskError } from '../../base/errors.js';
import type { Logger } from '../../base/log.js';
import { accessKeyFromFields, MRZ_KEY_FIELDS, type MrzAccessKey, type MrzKeyField, type MrzKeyFields } from '../../device/document/mrz.js';
import type { DocumentMessage, DocumentState } from './protocol.js';

export interface DocumentPromptDeps {
  logger: Logger;
  /** Shows a document message on every page (and on pages that connect later). */
  show(message: DocumentMessage): void;
}

/** Longest value of each field sent to the page (the form's limits). */
const MAX_LENGTH: Readonly<Record<MrzKeyField, number>> = { documentNumber: 9, birthDate: 6, expiryDate: 6 };

interface Pending {
  resolve(key: MrzAccessKey): void;
  reject(err: KioskError): void;
}

/**
 * The field a check's name is about: `documentNumber`, `documentNumberCheckDigit`, `birthDate...`,
 * `expiryDate...` or `expirationDate...` (the `mrz` package's and `parseMrz`'s names); else none.
 */
export function mrzFieldOf(check: string): MrzKeyField | undefined {
  if (check.startsWith('documentNumber')) return 'documentNumber';
  if (check.startsWith('birthDate')) return 'birthDate';
  if (check.startsWith('expiryDate') || check.startsWith('expirationDate')) return 'expiryDate';
  return undefined;
}

/** What the form starts with: OCR's read, upper case, trailing fillers dropped, cut to the form's limits. */
function initialFields(initial: Partial<MrzKeyFields>): MrzKeyFields {
  const clean = (f: MrzKeyField) => {
    const v = typeof initial[f] === 'string' ? initial[f].trim().toUpperCase() : '';
    return (f === 'documentNumber' ? v.replace(/<+$/, '') : v).slice(0, MAX_LENGTH[f]);
  };
  return { documentNumber: clean('documentNumber'), birthDate: clean('birthDate'), expiryDate: clean('expiryDate') };
}

export class DocumentPrompt {
  private pending: Pending | null = null;
  private readonly log: Logger;

  constructor(private readonly deps: DocumentPromptDeps) {
    this.log = deps.logger.child({ component: 'document-prompt' });
  }

  /** True while the customer is asked for the MRZ fields. */
  get asking(): boolean {
    return this.pending !== null;
  }

  /** Shows a state of the document step; `check_mrz` is `ask`'s. E_USAGE while an entry is asked (abort it first). */
  show(state: Exclude<DocumentState, 'check_mrz'>): void {
    if (this.pending) throw new KioskError('E_USAGE', 'the MRZ entry is still asked: abort it before showing another document state', { subject: 'screen' });
    this.deps.show({ type: 'document', state });
  }

  /**
   * Shows the form with OCR's read (`initial`) and the fields its checks refused (`invalid`: names
   * such as `birthDate` or `birthDateCheckDigit`), and resolves with the access key from the
   * customer's entry. An entry that is not valid (a date that does not exist) shows the form again
   * with that field marked. On success the screen moves to `reading` (the key is about to be tried).
   * E_ABORTED on the signal or the customer's Cancel; E_USAGE if an entry is already asked.
   */
  ask(initial: Partial<MrzKeyFields>, invalid: readonly string[], signal: AbortSignal): Promise<MrzAccessKey> {
    if (this.pending) return Promise.reject(new KioskError('E_USAGE', 'an MRZ entry is already asked', { subject: 'screen' }));
    if (signal.aborted) return Promise.reject(aborted('signal'));
    const fields = initialFields(initial);
    const marked = MRZ_KEY_FIELDS.filter((f) => invalid.some((name) => mrzFieldOf(name) === f));
    return new Promise<MrzAccessKey>((resolve, reject) => {
      const onAbort = () => this.settle(pending, aborted('signal'));
      const pending: Pending = {
        resolve: (key) => {
          signal.removeEventListener('abort', onAbort);
          resolve(key);
        },
        reject: (err) => {
          signal.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      this.pending = pending;
      signal.addEventListener('abort', onAbort, { once: true });
      this.log.info({ invalid: marked }, 'asking the customer for the MRZ fields');
      this.deps.show({ type: 'document', state: 'check_mrz', fields, invalid: marked });
    });
  }

  /**
   * A validated `mrz_entry` from a page: null when it was taken (the ask resolved, or the form is
   * shown again with the bad fields marked), else why it is refused (none is asked).
   */
  entry(fields: MrzKeyFields): string | null {
    const pending = this.pending;
    if (!pending) return 'no MRZ entry is asked';
    const entered: MrzKeyFields = { documentNumber: fields.documentNumber, birthDate: fields.birthDate, expiryDate: fields.expiryDate };
    let key: MrzAccessKey;
    try {
      key = accessKeyFromFields(entered);
    } catch (err) {
      if (!isKioskError(err, 'E_DOC_MRZ')) throw err;
      const bad = Array.isArray(err.details?.fields) ? (err.details.fields as MrzKeyField[]) : [...MRZ_KEY_FIELDS];
      this.log.warn({ invalid: bad }, 'the MRZ entry is not valid: asked again');
      this.deps.show({ type: 'document', state: 'check_mrz', fields: entered, invalid: bad });
      return null;
    }
    this.log.info('MRZ entry taken');
    this.pending = null;
    // Replaces the form (and the fields in the screen's state for pages that connect later).
    this.deps.show({ type: 'document', state: 'reading' });
    pending.resolve(key);
    return null;
  }

  /** The customer tapped Cancel: an asked entry rejects with E_ABORTED. */
  cancel(): void {
    if (this.pending) this.settle(this.pending, aborted('customer'));
  }

  /** The screen stops: an asked entry rejects with E_ABORTED. */
  close(): void {
    if (this.pending) this.settle(this.pending, aborted('screen_stopped'));
  }

  private settle(pending: Pending, err: KioskError): void {
    if (this.pending !== pending) return;
    this.pending = null;
    this.log.info({ by: err.details?.by }, 'MRZ entry aborted');
    pending.reject(err);
  }
}

/** E_ABORTED for an entry no longer asked, saying by whom. */
function aborted(by: 'signal' | 'customer' | 'screen_stopped'): KioskError {
  return new KioskError('E_ABORTED', `the MRZ entry was aborted (${by})`, { subject: 'screen', details: { by } });
}
