/**
 * The device key from config (`keyStore`): the store that signs results and CSRs, the key the broker
 * connections authenticate with, and what tamper destroys. A PKCS#11 key is used by mutual TLS
 * through the OpenSSL pkcs11 engine (provisioning/pkcs11-tls-key.ts), in this process: no child
 * process ever needs the PIN. The PIN is read once, here, given only to the key store, never logged;
 * an `env:` PIN is removed from the environment as it is read, so no child process inherits it.
 */
import { readFile } from 'node:fs/promises';
import { FileKeyStore } from '../../base/keys/file-key-store.js';
import type { KeyStore } from '../../base/keys/key-store.js';
import { assertEngineInstalled, defaultEnginePath, Pkcs11TlsKey } from '../../provisioning/pkcs11-tls-key.js';
import type { KioskConfig } from '../config/types.js';
import { KioskError } from '../../base/errors.js';
import type { TlsPrivateKey } from '../../protocol/endpoint.js';

/** The device key as the daemon uses it. */
export interface DeviceKey {
  keyStore: KeyStore;
  /** The file of a file key store; undefined for a token key. */
  keyFile?: string;
  /** The TLS client key: the PEM file's content, or the token key through the engine. */
  tlsKey(): Promise<TlsPrivateKey>;
}

/**
 * Reads the PKCS#11 user PIN from `env:NAME` (and deletes NAME from `process.env`, so that no child
 * process inherits it: ffmpeg, gpiod, systemd-notify all get this environment) or `file:/path`;
 * E_CONFIG_INVALID names the source, never the PIN.
 */
export async function readPin(source: string): Promise<string> {
  const subject = 'keyStore.pinSource';
  if (source.startsWith('env:')) {
    const name = source.slice(4);
    const pin = process.env[name];
    delete process.env[name];
    if (!pin) throw new KioskError('E_CONFIG_INVALID', `the PKCS#11 PIN is not set: environment variable ${name} is empty`, { subject });
    return pin;
  }
  if (source.startsWith('file:')) {
    const path = source.slice(5);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      throw new KioskError('E_CONFIG_INVALID', `cannot read the PKCS#11 PIN file ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { subject });
    }
    const pin = text.replace(/\r?\n$/, '');
    if (!pin) throw new KioskError('E_CONFIG_INVALID', `the PKCS#11 PIN file ${path} is empty`, { subject });
    return pin;
  }
  throw new KioskError('E_CONFIG_INVALID', 'must be env:NAME or file:/path', { subject });
}

/**
 * The key store of `cfg.keyStore`. With `tls` (a broker is configured) and a token key, a missing
 * engine refuses here, before anything starts (E_TLS_ENGINE naming its path and package).
 */
export async function deviceKeyFromConfig(cfg: KioskConfig, keyFile: string, tls: boolean): Promise<DeviceKey> {
  const k = cfg.keyStore;
  if (k.kind === 'file') {
    return {
      keyStore: new FileKeyStore({ path: keyFile, create: cfg.simulate }),
      keyFile,
      tlsKey: () =>
        readFile(keyFile).catch((err: Error) => {
          throw new KioskError('E_CONFIG_INVALID', `cannot read ${keyFile}: ${err.message}`, { subject: 'transport', cause: err });
        }),
    };
  }
  // pkcs11js (a native addon) is loaded only for a token key.
  const { Pkcs11KeyStore } = await import('../../provisioning/pkcs11-key-store.js');
  const enginePath = k.engine || defaultEnginePath();
  // A missing engine refuses before the PIN is read (and taken out of the environment).
  if (tls) assertEngineInstalled(enginePath);
  const keyStore = new Pkcs11KeyStore({
    modulePath: k.pkcs11Module,
    tokenLabel: k.token,
    keyLabel: k.keyLabel,
    pin: await readPin(k.pinSource),
    create: cfg.simulate,
  });
  const tlsKey = new Pkcs11TlsKey({ keyStore, enginePath });
  return { keyStore, tlsKey: async () => tlsKey };
}
