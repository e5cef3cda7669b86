/** Node TLS options that make OpenSSL sign with a key held by an engine instead of a PEM key. */
export interface EngineKeyOptions {
  privateKeyEngine: string;
  privateKeyIdentifier: string;
}

/**
 * A private key that never leaves its hardware (provisioning/pkcs11-tls-key.ts): TLS signs with it
 * through an OpenSSL engine. Asked at every connection, so that it can refuse (a coded KioskError)
 * when the key cannot be used now, instead of a TLS error deep inside the MQTT client.
 */
export interface EngineKey {
  tlsOptions(): EngineKeyOptions;
}

/** A client's private key: PEM (file key store) or a key held by an engine. */
export type TlsPrivateKey = string | Buffer | EngineKey;

/** Where and as whom an MQTT client connects: the broker and a mutual-TLS identity. */
export interface MqttTlsEndpoint {
  /** Broker URL, e.g. mqtts://127.0.0.1:8883. */
  url: string;
  /** PEM of the carrier CA and of this client's certificate. */
  ca: string | Buffer;
  cert: string | Buffer;
  /** This client's private key: PEM, or a key in a PKCS#11 token ({@link EngineKey}). */
  key: TlsPrivateKey;
  /** Topic prefix (default kiosk/v1/). */
  prefix?: string;
}

/** The TLS identity options for mqtt.connect / tls.connect: `key` for PEM, engine options otherwise. */
export function tlsIdentity(e: {
  ca: string | Buffer;
  cert: string | Buffer;
  key: TlsPrivateKey;
}): { ca: string | Buffer; cert: string | Buffer } & ({ key: string | Buffer } | EngineKeyOptions) {
  const { ca, cert, key } = e;
  return typeof key === 'string' || Buffer.isBuffer(key) ? { ca, cert, key } : { ca, cert, ...key.tlsOptions() };
}
