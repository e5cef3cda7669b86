/**
 * The device's TLS identity for broker connections as installed now: carrier CA, device certificate
 * (PEM) and key (PEM, or a key in a PKCS#11 token used through the OpenSSL engine). A renewal replaces the certificate file and this copy, so that every connection
 * made afterwards (build.ts gives the transport a client factory that reads `tls()`) presents the
 * renewed certificate. Same-key renewal only: the key is never touched here.
 */
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

  constructor(private readonly deps: DeviceIdentityDeps) {
    this.current = { certificate: deps.certificate, tls: deps.tls };
  }

  /** The installed device certificate. */
  get certificate(): x509.X509Certificate {
    return this.current.certificate;
  }

  /** What a new connection authenticates with. */
  tls(): TlsMaterial {
    return this.current.tls;
  }

  /** Installs a renewed certificate for the same key (atomic replace of the file), then uses it. */
  async install(certificate: x509.X509Certificate): Promise<void> {
    const pem = certificate.toString('pem');
    await writeFileAtomic(this.deps.certFile, pem);
    this.current = { certificate, tls: { ...this.current.tls, cert: Buffer.from(pem) } };
  }
}
