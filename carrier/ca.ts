/**
 * The carrier's certificate authority: a P-256 root whose key is a {@link KeyStore} (a file with
 * mode 0600 here; an HSM in production) and the profiles it issues. The profile is written into the
 * subject as OU, so a claim certificate can never pass as a device and no device can take a
 * carrier-service name (the broker maps the CN to its role). What it issued and revoked is kept in
 * `ca.db` ({@link CaRecords}); {@link CarrierCa.crl} signs the CRL the broker and verifiers honour.
 */
import { randomBytes } from 'node:crypto';
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KioskError } from '../base/errors.js';
import { DEVICE_ID_PATTERN, type CertProfile } from '../protocol/names.js';
import { FileKeyStore, writeFileAtomic } from '../base/keys/file-key-store.js';
import type { KeyStore } from '../base/keys/key-store.js';
import { commonName, parseCertificate, storeCrypto, storeKeys, x509 } from '../base/keys/x509.js';
import { CA_RECORDS_FILE, CaRecords, REVOCATION_REASONS, type RevocationReason } from './revocation.js';
import type { RevocationStore } from './store/types.js';

/** CN prefixes only the carrier's own profiles may carry. */
const RESERVED_PREFIXES = ['claim-', 'carrier-', 'broker', 'localhost'];

/** Default validity per profile, in days; claims are short-lived on purpose. */
export const DEFAULT_VALIDITY_DAYS: Record<CertProfile, number> = { device: 365, claim: 1, server: 365, service: 365 };

/** Options when issuing a certificate. */
export interface IssueOptions {
  profile: CertProfile;
  /** Validity in days from `now` (default per profile); fractions allowed. */
  validityDays?: number;
  /** Issue time (default: now); tests pass a fixed clock. */
  now?: Date;
}

/** Checks that `cn` may be issued under `profile`; E_USAGE names the CN otherwise. */
export function checkCommonName(cn: string, profile: CertProfile): void {
  const reserved = RESERVED_PREFIXES.some((p) => cn.startsWith(p));
  const ok =
    profile === 'device'
      ? DEVICE_ID_PATTERN.test(cn) && !reserved
      : profile === 'claim'
        ? /^claim-[a-z0-9-]{1,57}$/.test(cn)
        : profile === 'service'
          ? /^carrier-[a-z0-9-]{1,55}$/.test(cn)
          : /^[a-z0-9.-]{1,63}$/.test(cn);
  if (!ok) throw new KioskError('E_USAGE', `common name not allowed for a ${profile} certificate`, { subject: cn });
}

/** Default time from one CRL to the next (nextUpdate), in days: publish a fresh CRL well before. */
export const DEFAULT_CRL_DAYS = 7;

/** The carrier CA: its certificate, a key store that signs with its key, and its record of issued and revoked certificates. */
export class CarrierCa {
  constructor(
    readonly certificate: x509.X509Certificate,
    private readonly key: KeyStore,
    /** Issued and revoked certificates (default: in memory, for a CA without a directory). */
    readonly records: RevocationStore = new CaRecords(':memory:'),
    /** Whether stop() closes `records` (not when they belong to the carrier's shared stores). */
    private readonly ownsRecords = true,
  ) {}

  /** Creates a new CA in `dir` (ca.key mode 0600, ca.crt); refuses to overwrite an existing one. */
  static async init(dir: string, name = 'Kiosk Carrier Root CA', validityDays = 3650): Promise<CarrierCa> {
    const certPath = join(dir, 'ca.crt');
    if ((await exists(certPath)) || (await exists(join(dir, 'ca.key')))) {
      throw new KioskError('E_USAGE', 'a CA already exists here; refusing to overwrite it', { subject: dir });
    }
    const key = new FileKeyStore({ path: join(dir, 'ca.key') });
    await key.start();
    const keys = await storeKeys(key);
    const notBefore = new Date(Date.now() - 60_000);
    const cert = await x509.X509CertificateGenerator.createSelfSigned(
      {
        serialNumber: randomBytes(16)
          .toString('hex')
          .replace(/^[89a-f]/, '1'),
        name: `CN=${name}, O=Kiosk Carrier`,
        notBefore,
        notAfter: new Date(notBefore.getTime() + validityDays * 86_400_000),
        keys,
        signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
        extensions: [
          new x509.BasicConstraintsExtension(true, 0, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
          await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, storeCrypto(key)),
        ],
      },
      storeCrypto(key),
    );
    await writeFileAtomic(certPath, cert.toString('pem'));
    return new CarrierCa(cert, key, new CaRecords(join(dir, CA_RECORDS_FILE)));
  }

  /** Opens the CA in `dir`; its record is `<dir>/ca.db` unless `records` (the carrier's shared store, not closed by stop()) is given. */
  static async open(dir: string, records?: RevocationStore): Promise<CarrierCa> {
    const certPath = join(dir, 'ca.crt');
    let pem: string;
    try {
      pem = await readFile(certPath, 'utf8');
    } catch (err) {
      throw new KioskError('E_CERTIFICATE', 'no CA certificate here; run `carrier ca init` first', { subject: certPath, cause: err });
    }
    const key = new FileKeyStore({ path: join(dir, 'ca.key'), create: false });
    await key.start();
    return new CarrierCa(parseCertificate(pem, certPath), key, records ?? new CaRecords(join(dir, CA_RECORDS_FILE)), records === undefined);
  }

  /** PEM of the CA certificate (the trust anchor devices, broker and verifier are given). */
  get pem(): string {
    return this.certificate.toString('pem');
  }

  /** Checks a CSR (signature, CN allowed for the profile, optional expected CN) and issues its certificate. */
  async signCsr(csrPem: string, options: IssueOptions & { expectedCommonName?: string }): Promise<x509.X509Certificate> {
    let csr: x509.Pkcs10CertificateRequest;
    try {
      csr = new x509.Pkcs10CertificateRequest(csrPem);
    } catch (err) {
      throw new KioskError('E_CERTIFICATE', 'not a PKCS#10 certificate request', { subject: 'csr', cause: err });
    }
    if (!(await csr.verify())) throw new KioskError('E_SIGNATURE', 'the CSR signature does not verify', { subject: 'csr' });
    const cn = commonName(csr);
    if (!cn) throw new KioskError('E_CERTIFICATE', 'the CSR has no single CN', { subject: 'csr' });
    if (options.expectedCommonName !== undefined && cn !== options.expectedCommonName) {
      throw new KioskError('E_NOT_AUTHORIZED', `the CSR names ${cn}, expected ${options.expectedCommonName}`, { subject: cn });
    }
    const alg = csr.publicKey.algorithm as { name: string; namedCurve?: string };
    if (alg.name !== 'ECDSA' || alg.namedCurve !== 'P-256') throw new KioskError('E_CERTIFICATE', 'only P-256 keys are accepted', { subject: cn });
    return this.issue(csr.publicKey, cn, options);
  }

  /** Issues a certificate for a public key (SPKI DER or parsed) under `profile`. */
  async issue(publicKey: x509.PublicKey | Uint8Array, cn: string, options: IssueOptions): Promise<x509.X509Certificate> {
    checkCommonName(cn, options.profile);
    const now = options.now ?? new Date();
    const days = options.validityDays ?? DEFAULT_VALIDITY_DAYS[options.profile];
    const notBefore = new Date(now.getTime() - 60_000);
    const eku = options.profile === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth;
    const extensions: x509.Extension[] = [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([eku], false),
      await x509.AuthorityKeyIdentifierExtension.create(this.certificate, false, storeCrypto(this.key)),
    ];
    if (options.profile === 'server') {
      extensions.push(
        new x509.SubjectAlternativeNameExtension([
          { type: 'dns', value: cn },
          { type: 'ip', value: '127.0.0.1' },
        ]),
      );
    }
    const pk = publicKey instanceof Uint8Array ? new x509.PublicKey(Buffer.from(publicKey)) : publicKey;
    const cert = await x509.X509CertificateGenerator.create(
      {
        serialNumber: randomBytes(16)
          .toString('hex')
          .replace(/^[89a-f]/, '1'),
        subject: `CN=${cn}, OU=${options.profile}, O=Kiosk Carrier`,
        issuer: this.certificate.subject,
        notBefore,
        notAfter: new Date(notBefore.getTime() + days * 86_400_000),
        publicKey: pk,
        signingKey: (await storeKeys(this.key)).privateKey,
        signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
        extensions,
      },
      storeCrypto(this.key),
    );
    await this.records.recordIssued(cert, cn, options.profile, now);
    return cert;
  }

  /** Revokes one certificate by serial; true when it was not revoked before. */
  async revoke(serial: string, reason: RevocationReason, at = new Date()): Promise<boolean> {
    if (!REVOCATION_REASONS.includes(reason)) throw new KioskError('E_USAGE', `unknown revocation reason ${String(reason)}`, { subject: serial });
    return this.records.revoke(serial, reason, at);
  }

  /** Revokes every certificate this CA issued to `cn`; returns the serials newly revoked. */
  async revokeSubject(cn: string, reason: RevocationReason, at = new Date()): Promise<string[]> {
    const newly: string[] = [];
    for (const s of await this.records.serialsOf(cn)) if (await this.revoke(s, reason, at)) newly.push(s);
    return newly;
  }

  /** Whether the certificate (or serial) is revoked. */
  isRevoked(certOrSerial: x509.X509Certificate | string): Promise<boolean> {
    return this.records.isRevoked(typeof certOrSerial === 'string' ? certOrSerial : certOrSerial.serialNumber);
  }

  /**
   * PEM (`X509 CRL`, as OpenSSL reads it) of a CRL of every revocation so far, signed by the CA key,
   * numbered (CRL number extension), valid from `now` to `now + days` (nextUpdate): a broker with an
   * outdated CRL refuses every client, so a fresh one must be published before then.
   */
  async crl(options: { now?: Date; days?: number } = {}): Promise<string> {
    const now = options.now ?? new Date();
    const days = options.days ?? DEFAULT_CRL_DAYS;
    if (!(days > 0)) throw new KioskError('E_USAGE', 'the CRL validity must be a positive number of days', { subject: 'crl' });
    const crl = await x509.X509CrlGenerator.create(
      {
        issuer: this.certificate.subject,
        thisUpdate: new Date(now.getTime() - 60_000),
        nextUpdate: new Date(now.getTime() + days * 86_400_000),
        entries: (await this.records.revoked()).map((e) => ({
          serialNumber: derSerial(e.serial),
          revocationDate: e.revokedAt,
          reason: CRL_REASON[e.reason],
        })),
        extensions: [
          await x509.AuthorityKeyIdentifierExtension.create(this.certificate, false, storeCrypto(this.key)),
          new x509.Extension('2.5.29.20', false, derInteger(await this.records.nextCrlNumber())),
        ],
        signingKey: (await storeKeys(this.key)).privateKey,
        signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      },
      storeCrypto(this.key),
    );
    return x509.PemConverter.encode(crl.rawData, 'X509 CRL');
  }

  async stop(): Promise<void> {
    if (this.ownsRecords) await this.records.stop();
    await this.key.stop();
  }
}

const CRL_REASON: Record<RevocationReason, x509.X509CrlReason> = {
  unspecified: x509.X509CrlReason.unspecified,
  keyCompromise: x509.X509CrlReason.keyCompromise,
  affiliationChanged: x509.X509CrlReason.affiliationChanged,
  superseded: x509.X509CrlReason.superseded,
  cessationOfOperation: x509.X509CrlReason.cessationOfOperation,
};

/** A stored serial as the DER INTEGER content in hex (even length, positive). */
function derSerial(serial: string): string {
  const even = serial.length % 2 ? `0${serial}` : serial;
  return /^[89a-f]/.test(even) ? `00${even}` : even;
}

/** DER of a small non-negative INTEGER (the CRL number). */
function derInteger(n: number): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(Buffer.from(`02${(derSerial(n.toString(16)).length / 2).toString(16).padStart(2, '0')}${derSerial(n.toString(16))}`, 'hex'));
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}
