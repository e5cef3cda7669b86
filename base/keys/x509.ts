/**
 * X.509 with @peculiar/x509, signing through a {@link KeyStore} instead of a WebCrypto private key:
 * a small crypto object whose `subtle.sign` calls the store, so a PKCS#11 key can sign CSRs too.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createHash, randomBytes, webcrypto } from 'node:crypto';
import { KioskError } from '../errors.js';
import type { KeyStore } from './key-store.js';

export { x509 };

type X509Crypto = NonNullable<Parameters<typeof x509.Pkcs10CertificateRequestGenerator.create>[1]>;
type CryptoKey = webcrypto.CryptoKey;

const EC_ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** Node's WebCrypto with `subtle.sign` answered by `store` (everything else is Node's). */
export function storeCrypto(store: KeyStore): X509Crypto {
  const base: X509Crypto = globalThis.crypto;
  const bound = (target: object, prop: string | symbol) => {
    const v: unknown = Reflect.get(target, prop);
    return typeof v === 'function' ? v.bind(target) : v;
  };
  const subtle = new Proxy(base.subtle, {
    get(target, prop) {
      if (prop !== 'sign') return bound(target, prop);
      return async (_alg: unknown, _key: unknown, data: ArrayBuffer | ArrayBufferView) => {
        const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
        const sig = await store.sign(bytes);
        return sig.buffer.slice(sig.byteOffset, sig.byteOffset + sig.byteLength);
      };
    },
  });
  return new Proxy(base, { get: (target, prop) => (prop === 'subtle' ? subtle : bound(target, prop)) });
}

/**
 * The CryptoKey pair @peculiar/x509 expects. The store signs ({@link storeCrypto} intercepts
 * `subtle.sign`), and the library reads only `algorithm` from the private key, so the public key
 * stands in as its handle (given to any other crypto it cannot sign: WebCrypto refuses a verify key).
 */
export async function storeKeys(store: KeyStore): Promise<{ publicKey: CryptoKey; privateKey: CryptoKey }> {
  const publicKey = await webcrypto.subtle.importKey('spki', store.publicKeySpki(), EC_ALG, true, ['verify']);
  return { publicKey, privateKey: publicKey };
}

/** A PKCS#10 request for `commonName`, signed by the key in `store`. */
export async function createCsr(store: KeyStore, commonName: string): Promise<string> {
  const keys = await storeKeys(store);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: `CN=${escapeDn(commonName)}`, keys, signingAlgorithm: EC_ALG }, storeCrypto(store));
  return csr.toString('pem');
}

/** Parses one PEM certificate; bad input is E_CERTIFICATE naming `subject`. */
export function parseCertificate(pemOrDer: string | Uint8Array, subject = 'certificate'): x509.X509Certificate {
  try {
    return new x509.X509Certificate(typeof pemOrDer === 'string' ? pemOrDer : Buffer.from(pemOrDer));
  } catch (err) {
    throw new KioskError('E_CERTIFICATE', 'not an X.509 certificate', { subject, cause: err });
  }
}

/** Splits a PEM bundle into certificates (leaf first, as written). */
export function parseCertificateChain(pem: string, subject = 'certificate chain'): x509.X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new KioskError('E_CERTIFICATE', 'no certificate in PEM', { subject });
  return blocks.map((b) => parseCertificate(b, subject));
}

/** The CN of a certificate's subject, or undefined. */
export function commonName(cert: x509.X509Certificate | x509.Pkcs10CertificateRequest): string | undefined {
  const cn = cert.subjectName.getField('CN');
  return cn.length === 1 ? cn[0] : undefined;
}

/** base64url SHA-256 of the DER certificate: the JWS `kid` and `x5t#S256` of a device. */
export function certificateThumbprint(cert: x509.X509Certificate): string {
  return createHash('sha256').update(Buffer.from(cert.rawData)).digest('base64url');
}

/** True when the SPKI of `cert` is the public key of `store`. */
export function certificateMatchesKey(cert: x509.X509Certificate, store: KeyStore): boolean {
  return Buffer.from(cert.publicKey.rawData).equals(Buffer.from(store.publicKeySpki()));
}

function escapeDn(value: string): string {
  if (!/^[A-Za-z0-9._:@-]{1,64}$/.test(value))
    throw new KioskError('E_USAGE', 'a common name may only hold letters, digits and ._:@- (1..64)', { subject: value });
  return value;
}

/**
 * A self-signed certificate for the key in `store` (CN = `commonName`, OU = `profile`): for a
 * simulated kiosk, whose results are real JWS under a certificate that no carrier trusts.
 */
export async function createSelfSignedCertificate(store: KeyStore, commonName: string, profile: string, validityDays = 365): Promise<x509.X509Certificate> {
  const keys = await storeKeys(store);
  const notBefore = new Date(Date.now() - 60_000);
  return x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: randomBytes(16)
        .toString('hex')
        .replace(/^[89a-f]/, '1'),
      name: `CN=${escapeDn(commonName)}, OU=${escapeDn(profile)}, O=Kiosk Simulation (not trusted)`,
      notBefore,
      notAfter: new Date(notBefore.getTime() + validityDays * 86_400_000),
      keys,
      signingAlgorithm: EC_ALG,
      extensions: [new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true)],
    },
    storeCrypto(store),
  );
}
