/**
 * The device key behind one small interface: a file key (software) or a PKCS#11 token (SoftHSM2 in
 * tests, a TPM through tpm2-pkcs11 or a secure element on kiosks). Everything that signs (CSRs,
 * results, the CA) goes through `KeyStore.sign`, so the private key never needs to leave the store.
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { KioskError } from '../errors.js';

/** A P-256 signing key held somewhere the caller cannot read it from. */
export interface KeyStore {
  /** 'file' or 'pkcs11'; shown in logs and `provision` output. */
  readonly kind: 'file' | 'pkcs11';
  /** Opens the key, creating it first when it does not exist yet. */
  start(): Promise<void>;
  /** Releases handles (PKCS#11 session, module). */
  stop(): Promise<void>;
  /** The public key as DER SubjectPublicKeyInfo. */
  publicKeySpki(): Uint8Array;
  /** ECDSA P-256 over SHA-256(data); returns raw r||s (64 bytes), the JWS ES256 format. */
  sign(data: Uint8Array): Promise<Uint8Array>;
  /**
   * Destroys the key for good (tamper): where it is kept (the file overwritten and deleted, the token's
   * objects destroyed) and in this process. Afterwards `sign` and `start` fail with E_KEY_STORE.
   * Returns where the key was (file path or PKCS#11 URI), for the `key_destroyed` event.
   */
  destroy(): Promise<string>;
}

/** The error of a store whose key was destroyed. */
export function keyDestroyedError(subject: string): KioskError {
  return new KioskError('E_KEY_STORE', 'the device key was destroyed (tamper): the kiosk must be provisioned again', { subject });
}

/** DER prefix of a P-256 SubjectPublicKeyInfo before the 65-byte uncompressed point. */
const P256_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');

/** Builds the SPKI of a P-256 public key from its uncompressed point (04 || X || Y). */
export function p256SpkiFromPoint(point: Uint8Array): Uint8Array {
  if (point.length !== 65 || point[0] !== 0x04) throw new Error(`not an uncompressed P-256 point (${point.length} bytes)`);
  return Buffer.concat([P256_SPKI_PREFIX, point]);
}

/** The public key of a store as a node:crypto KeyObject (for verifying its signatures). */
export function publicKeyObject(store: KeyStore): KeyObject {
  return createPublicKey({ key: Buffer.from(store.publicKeySpki()), format: 'der', type: 'spki' });
}

/** SHA-256 of the public key, hex; a stable short name for a key in logs. */
export function keyFingerprint(store: KeyStore): string {
  return createHash('sha256').update(store.publicKeySpki()).digest('hex');
}
