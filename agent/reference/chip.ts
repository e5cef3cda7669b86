/**
 * The reference portrait taken from an identity document's chip: the claims the signed result carries
 * about it, and the keyed hash of the document number (`docNumberHash`) that stands for the document
 * in the abuse limit and the carrier's records.
 */
import { createHmac } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { KioskError } from '../../base/errors.js';
import type { DocumentReading } from '../../device/document/reader.js';
import type { ReferenceClaims } from '../../protocol/reference.js';

/** Shortest document-number key accepted, bytes (a key that can be guessed makes the hash reversible). */
export const MIN_HASH_KEY_BYTES = 32;

/** HMAC-SHA256 (base64url) of `<issuingState>:<documentNumber>` under the carrier's key. */
export function docNumberHash(key: Buffer, issuingState: string, documentNumber: string): string {
  return createHmac('sha256', key)
    .update(`${issuingState}:${documentNumber.replace(/<+$/, '')}`)
    .digest('base64url');
}

/** Reads the carrier's document-number key (raw bytes, at least 32). E_CONFIG_INVALID otherwise, never showing the key. */
export async function loadHashKey(path: string): Promise<Buffer> {
  let key: Buffer;
  try {
    key = await readFile(path);
  } catch (err) {
    throw new KioskError('E_CONFIG_INVALID', `cannot read the document-number key: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, {
      subject: path,
      cause: err,
    });
  }
  if (key.length < MIN_HASH_KEY_BYTES)
    throw new KioskError('E_CONFIG_INVALID', `the document-number key must be at least ${MIN_HASH_KEY_BYTES} random bytes (it has ${key.length})`, {
      subject: path,
    });
  return key;
}

/** The `reference` claim for a document read from its chip; `docNumberHash` only with the carrier's key. */
export function chipReferenceClaims(reading: DocumentReading, hashKey?: Buffer): ReferenceClaims {
  const c = reading.claims;
  return {
    source: 'chip',
    passiveAuth: c.passiveAuth,
    chipAuth: c.chipAuth,
    ...(c.chipAuthMethod ? { chipAuthMethod: c.chipAuthMethod } : {}),
    accessControl: c.accessControl,
    issuingState: c.issuingState,
    documentType: c.documentType,
    ...(c.cscaKeyId ? { cscaKeyId: c.cscaKeyId } : {}),
    ...(hashKey ? { docNumberHash: docNumberHash(hashKey, c.issuingState, reading.documentNumber) } : {}),
  };
}
