/**
 * How a failed document step ends the session (agent/daemon/document-step.ts): a document that is
 * not what a trusted state signed, or a clone, is a reject; anything that only kept the chip from
 * being read is a retry; a cancel is a cancel. The outcome carries the error code, never its message.
 */
import t from 'tap';
import { documentFailure } from '../../agent/daemon/document-step.js';
import { KioskError, type ErrorCode } from '../../base/errors.js';

t.test('not authentic: reject, with the passive-authentication reason as the step', async (t) => {
  t.match(documentFailure(new KioskError('E_DOC_PASSIVE_AUTH', 'x', { details: { reason: 'untrusted_csca' } })), {
    ok: false,
    verdict: 'reject',
    reason: 'document_not_authentic',
    code: 'E_DOC_PASSIVE_AUTH',
    step: 'untrusted_csca',
  });
  t.match(documentFailure(new KioskError('E_DOC_CLONE_SUSPECTED', 'x', { subject: 'DG15' })), { verdict: 'reject', reason: 'document_not_authentic' });
});

t.test('unreadable: retry, for every code that only kept the chip from being read', async (t) => {
  const codes: ErrorCode[] = ['E_TIMEOUT', 'E_DOC_ACCESS', 'E_DOC_SM', 'E_DOC_MRZ', 'E_DOC_DECODER_MISSING', 'E_IMAGE_CORRUPT', 'E_NO_FACE', 'E_DEVICE'];
  for (const code of codes)
    t.match(
      documentFailure(new KioskError(code, 'secret L898902C3', { subject: 'card' })),
      { verdict: 'retry', reason: 'document_unreadable', code, step: 'card' },
      code,
    );
  t.notMatch(JSON.stringify(documentFailure(new KioskError('E_DOC_MRZ', 'the MRZ L898902C3 did not check'))), /L898902C3/, 'no message in the outcome');
  t.match(documentFailure(new Error('boom')), { verdict: 'retry', reason: 'document_unreadable' }, 'an unexpected error');
});

t.test('cancelled by the customer', async (t) => {
  t.match(documentFailure(new KioskError('E_ABORTED', 'cancel')), { verdict: 'reject', reason: 'cancelled', cancelled: true });
});
