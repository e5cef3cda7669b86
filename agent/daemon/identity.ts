/**
 * The device's TLS identity for broker connections as installed now: carrier CA, device certificate
 * (PEM) and key (PEM, or a key in a PKCS#11 token used through the OpenSSL engine). A renewal replaces the certificate file and this copy, so that every connection
 * made afterwards (build.ts gives the transport a client factory that reads `tls()`) presents the
 * renewed certificate. Same-key renewal only: the key is never replaced here, only destroyed (tamper).
 */
import { KioskError } from '../../base/errors.js';
import { writeFileAtomic } from '../../base/keys/file-key-store.js';
import type { TlsPrivateKey } from '../../protocol/endpoint.js';
import type { x509 } from '../../base/keys/x509.js';

/** What a mutual-TLS client authenticates with (give it to `tlsIdentity()` for mqtt.connect). */
export interface TlsMaterial {
  ca: Buffer;
  cert: Buffer;
  key: TlsPrivateKey;
}

export interface DeviceIdentityDeps {
  /** Where the device certificate is installed (transport.certFile or <stateDir>/device.crt). */
  certFile: string;
  certificate: x509.X509Certificate;
  tls: TlsMaterial;
}

export class DeviceIdentity {
  private current: { certificate: x509.X509Certificate; tls: TlsMaterial };
  private destroyed = false;

  constructor(private readonly deps: DeviceIdentityDeps) {
    this.current = { certificate: deps.certificate, tls: deps.tls };
  }

  /** The installed device certificate. */
  get certificate(): x509.X509Certificate {
    return this.current.certificate;
  }

  /** What a new connection authenticates with; E_KEY_STORE once the identity was destroyed. */
  tls(): TlsMaterial {
    if (this.destroyed) {
      throw new KioskError('E_KEY_STORE', 'the device identity was destroyed (tamper): no new broker connection', { subject: this.deps.certFile });
    }
    return this.current.tls;
  }

  /**
   * Tamper: zeroes the PEM key in memory (the one buffer that the transport's and mqtt.js's options
   * hold too) and refuses `tls()` from now on, so nothing connects with it again. The live connection
   * is closed by the transport (`dropIdentity()`). A token key has nothing here to wipe: its key store
   * destroys it in the token. Node's TLS keeps its own copy inside a live connection's OpenSSL context
   * until that connection is closed and collected.
   */
  destroy(): void {
    this.destroyed = true;
    const { key } = this.current.tls;
    if (Buffer.isBuffer(key)) key.fill(0);
  }

  /** Installs a renewed certificate for the same key (atomic replace of the file), then uses it. */
  async install(certificate: x509.X509Certificate): Promise<void> {
    const pem = certificate.toString('pem');
    await writeFileAtomic(this.deps.certFile, pem);
    this.current = { certificate, tls: { ...this.current.tls, cert: Buffer.from(pem) } };
  }
}
