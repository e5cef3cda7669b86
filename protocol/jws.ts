/**
 * Compact JWS (RFC 7515) with ES256, signed through a {@link KeyStore}. Signing is done here rather
 * than by jose because a PKCS#11 key has no KeyObject; the output is standard (jose verifies it, see
 * the unit test). Parsing is strict: canonical base64url only, so no two strings carry one signature.
 */
import { KioskError } from '../base/errors.js';
import type { KeyStore } from '../base/keys/key-store.js';

/** The protected header of a result token. */
export interface JwsHeader {
  alg: 'ES256';
  typ?: string;
  /** base64url SHA-256 thumbprint of the signing certificate. */
  kid?: string;
  /** The signing certificate (and optional intermediates), base64 DER, leaf first. */
  x5c?: string[];
  [k: string]: unknown;
}

/** A parsed compact JWS; nothing in it is verified yet. */
export interface ParsedJws {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  signingInput: Buffer;
  signature: Buffer;
}

/** Signs `payload` as a compact JWS with `store`. */
export async function signCompact(store: KeyStore, header: JwsHeader, payload: object): Promise<string> {
  const h = b64u(Buffer.from(JSON.stringify(header)));
  const p = b64u(Buffer.from(JSON.stringify(payload)));
  const sig = await store.sign(Buffer.from(`${h}.${p}`, 'ascii'));
  return `${h}.${p}.${b64u(Buffer.from(sig))}`;
}

/** Splits and decodes a compact JWS; E_TOKEN_INVALID says which part is malformed. */
export function parseCompact(token: string): ParsedJws {
  if (typeof token !== 'string' || token.length > 64 * 1024) throw invalid('token is not a string of at most 64 KiB');
  const parts = token.split('.');
  if (parts.length !== 3) throw invalid(`token has ${parts.length} parts, expected 3`);
  const [h, p, s] = parts;
  const header = decodeJson(h, 'header');
  const payload = decodeJson(p, 'payload');
  return { header, payload, signingInput: Buffer.from(`${h}.${p}`, 'ascii'), signature: decodeB64u(s, 'signature') };
}

/** base64url without padding. */
export function b64u(buf: Uint8Array): string {
  return Buffer.from(buf).toString('base64url');
}

/** Decodes base64url, refusing anything that does not re-encode to the same text. */
export function decodeB64u(text: string, part: string): Buffer {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw invalid(`${part} is not base64url`);
  const buf = Buffer.from(text, 'base64url');
  if (buf.toString('base64url') !== text) throw invalid(`${part} is not canonical base64url`);
  return buf;
}

function decodeJson(text: string, part: string): Record<string, unknown> {
  const buf = decodeB64u(text, part);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(buf));
  } catch (err) {
    throw new KioskError('E_TOKEN_INVALID', `${part} is not UTF-8 JSON`, { subject: part, cause: err });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(`${part} is not a JSON object`);
  return value as Record<string, unknown>;
}

function invalid(message: string): KioskError {
  return new KioskError('E_TOKEN_INVALID', message);
}
