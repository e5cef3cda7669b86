/**
 * The reference portrait taken from an identity document's chip: the claims the signed result carries
 * about it, and the keyed hash of the document number (`docNumberHash`) that stands for the document
 * in the abuse limit and the carrier's records.
 */
import { createHmac } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { KioskError } from '../../base/errors.js';
import type { MrzAccessKey } from '../../device/document/mrz.js';
import type { DocumentReader, DocumentReading } from '../../device/document/reader.js';
import type { FaceEngine } from '../../models/engine.js';
import type { ReferenceClaims } from '../../protocol/reference.js';
import { buildReference, type ReferenceOptions, type ReferencePortrait } from './portrait.js';

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

/** A reference portrait built from a chip read, with the claim the signed result carries about it. */
export interface ChipReference {
  portrait: ReferencePortrait;
  claims: ReferenceClaims;
}

/**
 * Reads the document on `reader` with `accessKey` and builds the reference template from its
 * state-signed portrait (whose pixels are zeroed once the template is made). With the carrier's
 * document-number key the abuse limit counts per document (`doc:<docNumberHash>`), as the signed
 * claim names it; without it, per portrait.
 */
export async function readChipReference(
  engine: Pick<FaceEngine, 'analyze' | 'decide'>,
  reader: DocumentReader,
  o: { accessKey?: MrzAccessKey; timeoutMs: number; hashKey?: Buffer; signal?: AbortSignal; reference?: Partial<ReferenceOptions> },
): Promise<ChipReference> {
  const reading = await reader.read({ accessKey: o.accessKey, timeoutMs: o.timeoutMs, signal: o.signal });
  const claims = chipReferenceClaims(reading, o.hashKey);
  try {
    const portrait = await buildReference(engine, reading.portrait, {
      ...o.reference,
      subject: `${reader.kind} chip portrait`,
      ...(claims.docNumberHash ? { templateId: `doc:${claims.docNumberHash}` } : {}),
    });
    return { portrait, claims };
  } finally {
    reading.portrait.data.fill(0);
  }
}
