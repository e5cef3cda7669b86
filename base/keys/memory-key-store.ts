/**
 * A P-256 key held only in memory: the in-memory fake of {@link KeyStore}, and the key of the fleet
 * simulator's hundreds of devices (no files to write). Never for a real kiosk: the key dies with the process.
 */
import { createPublicKey, generateKeyPairSync, sign as nodeSign, type KeyObject } from 'node:crypto';
import { KioskError } from '../errors.js';
import { keyDestroyedError, type KeyStore } from './key-store.js';

export class MemoryKeyStore implements KeyStore {
  readonly kind = 'file' as const;
  private key?: KeyObject;
  private spki?: Uint8Array;
  private destroyed = false;

  /** `key`: an existing P-256 private key; a fresh one is generated at start() otherwise. */
  constructor(private readonly options: { key?: KeyObject } = {}) {}

  async start(): Promise<void> {
    if (this.destroyed) throw keyDestroyedError('memory key');
    this.key = this.options.key ?? generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    if (this.key.asymmetricKeyType !== 'ec' || this.key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw new KioskError('E_KEY_STORE', 'not a P-256 key', { subject: 'memory key' });
    }
    this.spki = createPublicKey(this.key).export({ format: 'der', type: 'spki' });
  }

  async stop(): Promise<void> {
    this.key = undefined;
  }

  publicKeySpki(): Uint8Array {
    if (!this.spki) throw new KioskError('E_KEY_STORE', 'key store not started', { subject: 'memory key' });
    return this.spki;
  }

  async sign(data: Uint8Array): Promise<Uint8Array> {
    if (this.destroyed) throw keyDestroyedError('memory key');
    if (!this.key) throw new KioskError('E_KEY_STORE', 'key store not started', { subject: 'memory key' });
    return nodeSign('sha256', data, { key: this.key, dsaEncoding: 'ieee-p1363' });
  }

  /** Drops the key (there is nothing else to destroy); signing then fails with E_KEY_STORE. */
  async destroy(): Promise<string> {
    this.destroyed = true;
    this.key = undefined;
    return 'memory key';
  }

  /** PKCS#8 PEM of the key, for TLS (mqtt.js needs the key itself). */
  privateKeyPem(): string {
    if (!this.key) throw new KioskError('E_KEY_STORE', 'key store not started', { subject: 'memory key' });
    return this.key.export({ format: 'pem', type: 'pkcs8' }).toString();
  }
}
