/**
 * The device key in a PKCS#11 token as the mutual-TLS client key. Node's TLS cannot sign with a
 * pkcs11js handle; it signs through an OpenSSL engine (`privateKeyEngine`, `privateKeyIdentifier`):
 * libp11's pkcs11 engine (Debian `libengine-pkcs11-openssl`), loaded into Node's statically linked
 * OpenSSL 3.0. Measured here (Node 20.20, libp11 0.4.12, SoftHSM 2.6, real mosquitto):
 * - Named by absolute path, the engine serves the first TLS context only; every later one (a
 *   reconnect) fails with "engine routines::init failed". Named by its id `pkcs11`, with
 *   OPENSSL_ENGINES set to its directory, OpenSSL loads it once, lists it and finds it every time.
 * - Node sends the engine no control commands: it takes the module from PKCS11_MODULE_PATH.
 * - libp11 prints the key URI on stderr when it cannot load a key, so the URI must not carry a
 *   `pin-value`. It carries no PIN at all: PKCS#11 login belongs to the process, the Pkcs11KeyStore
 *   logs in before any connection, and the engine finds the token logged in. Without that login it
 *   would ask for the PIN on a terminal, so {@link Pkcs11TlsKey.tlsOptions} refuses first.
 */
import { existsSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { createSecureContext } from 'node:tls';
import { KioskError } from '../base/errors.js';
import type { EngineKey, EngineKeyOptions } from '../protocol/endpoint.js';
import type { Pkcs11KeyStore } from './pkcs11-key-store.js';

/** Debian package that installs the engine. */
export const ENGINE_PACKAGE = 'libengine-pkcs11-openssl';

const MULTIARCH: Partial<Record<string, string>> = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu', arm: 'arm-linux-gnueabihf' };

/** Where Debian installs the engine on this architecture, e.g. /usr/lib/aarch64-linux-gnu/engines-3/pkcs11.so. */
export function defaultEnginePath(arch: string = process.arch): string {
  return `/usr/lib/${MULTIARCH[arch] ?? `${arch}-linux-gnu`}/engines-3/pkcs11.so`;
}

/** E_TLS_ENGINE naming the path and the package when the engine file is not there. */
export function assertEngineInstalled(enginePath: string): void {
  if (!existsSync(enginePath)) {
    throw new KioskError(
      'E_TLS_ENGINE',
      `the OpenSSL pkcs11 engine is not installed (Debian package ${ENGINE_PACKAGE}); mutual TLS with a PKCS#11 key needs it`,
      { subject: enginePath, details: { package: ENGINE_PACKAGE } },
    );
  }
  if (basename(enginePath) !== 'pkcs11.so') {
    throw new KioskError('E_TLS_ENGINE', 'the engine file must be named pkcs11.so: OpenSSL finds it by its id in its directory', { subject: enginePath });
  }
}

/**
 * The module the engine uses, set once: the engine is process-wide OpenSSL state and reads
 * PKCS11_MODULE_PATH when it is first loaded.
 */
let engineModule: string | undefined;

function prepareEngine(enginePath: string, modulePath: string): void {
  assertEngineInstalled(enginePath);
  if (engineModule === undefined) {
    process.env.OPENSSL_ENGINES = dirname(enginePath);
    process.env.PKCS11_MODULE_PATH = modulePath;
    engineModule = modulePath;
  } else if (engineModule !== modulePath) {
    throw new KioskError('E_TLS_ENGINE', `the pkcs11 engine of this process already uses the module ${engineModule}`, { subject: modulePath });
  }
}

/** RFC 7512 percent-encoding of an attribute value. */
const pct = (v: string) => encodeURIComponent(v).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** What {@link Pkcs11TlsKey} needs of the key store: where the key is, and whether this process is logged in. */
export type Pkcs11KeyRef = Pick<Pkcs11KeyStore, 'reference' | 'loggedIn'>;

/** Options of {@link Pkcs11TlsKey}. */
export interface Pkcs11TlsKeyDeps {
  /** The started key store that holds the device key (it logs in; the engine uses that login). */
  keyStore: Pkcs11KeyRef;
  /** Absolute path of the engine (default {@link defaultEnginePath}). */
  enginePath?: string;
}

/** The TLS key of a device whose key is in a PKCS#11 token: engine options, checked once by a trial load. */
export class Pkcs11TlsKey implements EngineKey {
  private checked = false;

  constructor(private readonly deps: Pkcs11TlsKeyDeps) {}

  get enginePath(): string {
    return this.deps.enginePath || defaultEnginePath();
  }

  /** The PKCS#11 URI of the private key (no PIN: see the file comment). */
  get uri(): string {
    const { tokenLabel, keyLabel } = this.deps.keyStore.reference;
    return `pkcs11:token=${pct(tokenLabel)};object=${pct(keyLabel)};type=private`;
  }

  /**
   * Engine options for tls.connect / mqtt.connect. E_KEY_STORE while the key store is not logged in
   * or when the engine does not find the key (naming token or key label), E_TLS_ENGINE when the
   * engine is missing or does not load (naming its path and package).
   */
  tlsOptions(): EngineKeyOptions {
    const { tokenLabel, keyLabel, modulePath } = this.deps.keyStore.reference;
    if (!this.deps.keyStore.loggedIn()) {
      throw new KioskError('E_KEY_STORE', 'the PKCS#11 key store must be started (logged in) before TLS can use its key', { subject: tokenLabel });
    }
    const options = { privateKeyEngine: 'pkcs11', privateKeyIdentifier: this.uri };
    if (this.checked) return options;
    prepareEngine(this.enginePath, modulePath);
    try {
      createSecureContext(options);
    } catch (err) {
      throw this.engineError(err, tokenLabel, keyLabel);
    }
    this.checked = true;
    return options;
  }

  private engineError(err: unknown, tokenLabel: string, keyLabel: string): KioskError {
    const e = err as Error & { code?: string; opensslErrorStack?: string[] };
    const text = [e.message, ...(e.opensslErrorStack ?? [])].join('; ');
    const details = { openssl: e.code };
    if (e.code === 'ERR_OSSL_OBJECT_NOT_FOUND') {
      return new KioskError('E_KEY_STORE', `the pkcs11 engine finds no private key "${keyLabel}" in token "${tokenLabel}"`, {
        subject: keyLabel,
        cause: err,
        details,
      });
    }
    if (/^ERR_OSSL_(PIN|USER)_/.test(e.code ?? '')) {
      return new KioskError('E_KEY_STORE', `the PKCS#11 token "${tokenLabel}" refused the engine's login (${e.code})`, {
        subject: tokenLabel,
        cause: err,
        details,
      });
    }
    const unloadable = /DSO|no such engine|init failed/i.test(text);
    return new KioskError(
      'E_TLS_ENGINE',
      unloadable
        ? `the OpenSSL pkcs11 engine does not load (Debian package ${ENGINE_PACKAGE}, built for this OpenSSL 3): ${e.message}`
        : `the pkcs11 engine could not load the TLS key: ${e.message}`,
      { subject: this.enginePath, cause: err, details: { ...details, package: ENGINE_PACKAGE } },
    );
  }
}
