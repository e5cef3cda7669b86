/**
 * The carrier's state behind one interface per store, so that the services run the same on one host
 * (SQLite files, the embedded default) and on many (one PostgreSQL database shared by every host).
 * Every method that changes state is one transaction on either backend; see README.md for the
 * isolation each one uses and why.
 */
import type { ConsumeAt, NonceCheck, NonceStore } from '../nonce-store.js';
import type { DeviceRecord, EnrolCheck, RenewCheck, RenewContext } from '../enrol/registry.js';
import type { RevocationReason, RevokedEntry } from '../revocation.js';
import type { KioskStatus, RolloutRules } from '../rollout/plan.js';
import type { ReportOutcome, RolloutRecord, RolloutRelease } from '../rollout/store.js';
import type { UpdateState } from '../../protocol/update.js';

export type {
  ConsumeAt,
  DeviceRecord,
  EnrolCheck,
  NonceCheck,
  RenewCheck,
  RenewContext,
  RevocationReason,
  RevokedEntry,
  ReportOutcome,
  RolloutRecord,
  RolloutRelease,
};

/** Session nonces (carrier/nonce-store.ts), plus issuing many in one transaction (fleet tools). */
export interface NonceStoreApi extends NonceStore {
  /** Issues one nonce per entry of `deviceIds` in a single transaction, in the same order. */
  issueMany(deviceIds: string[], now: Date, ttlMs?: number): Promise<string[]>;
}

/** The enrolment registry: who may enrol, which key each device holds, its certificates, renewals, revocations. */
export interface RegistryStore {
  /** Lets these device ids enrol with the claim certificate alone (no token). */
  allow(deviceIds: string[]): Promise<void>;
  /** A fresh one-time enrolment token for `deviceId` (only its hash is kept); replaces an unused one. */
  issueToken(deviceId: string): Promise<string>;
  /** Decides an enrolment of `deviceId` with key `spki` and records the key when allowed (one transaction). */
  claim(deviceId: string, spki: Uint8Array, token?: string): Promise<EnrolCheck>;
  /** Decides a renewal and records the (possibly new) key and the time (one transaction). */
  renew(deviceId: string, spki: Uint8Array, ctx?: RenewContext): Promise<RenewCheck>;
  /** Records the certificate issued to `deviceId` (its latest, and in its history). */
  issued(deviceId: string, serial: string, notAfter: Date): Promise<void>;
  /** Serials of every certificate issued to `deviceId` through the registry, oldest first. */
  serials(deviceId: string): Promise<string[]>;
  /** Refuses every later enrolment or renewal of `deviceId`. */
  revoke(deviceId: string): Promise<void>;
  /** The record of `deviceId`, if any. */
  device(deviceId: string): Promise<DeviceRecord | undefined>;
  stop(): Promise<void>;
}

/** What the CA records of a certificate it issued (an x509.X509Certificate fits). */
export interface IssuedCertificate {
  serialNumber: string;
  notAfter: Date;
}

/** The CA's record: certificates issued, certificates revoked, the CRL number. */
export interface RevocationStore {
  /** Records a certificate the CA issued (again: no change). */
  recordIssued(cert: IssuedCertificate, cn: string, profile: string, at: Date): Promise<void>;
  /** Serials of every certificate issued to `cn`, oldest first. */
  serialsOf(cn: string): Promise<string[]>;
  /** Revokes `serial`; true when it was not revoked before (the first time and reason are kept). */
  revoke(serial: string, reason: RevocationReason, at: Date): Promise<boolean>;
  /** Why `serial` was revoked, or undefined when it is not. */
  reasonOf(serial: string): Promise<RevocationReason | undefined>;
  /** True when `serial` is revoked. */
  isRevoked(serial: string): Promise<boolean>;
  /** Every revoked certificate, oldest revocation first. */
  revoked(): Promise<RevokedEntry[]>;
  /** The next CRL number (1, 2, ...), unique across processes and hosts. */
  nextCrlNumber(): Promise<number>;
  stop(): Promise<void>;
}

/** Rollout state (carrier/rollout/store.ts): the rollout, and per kiosk its job and last state. */
export interface RolloutStoreApi {
  /** The rollout `id`: created with `targets` when new, else the stored one; E_USAGE when it ships another release. */
  begin(id: string, release: RolloutRelease, targets: readonly string[], rules: RolloutRules, now: number): Promise<RolloutRecord>;
  /** The stored rollout `id`, or undefined. */
  get(id: string): Promise<RolloutRecord | undefined>;
  /** Every target's status. */
  kiosks(id: string): Promise<Map<string, KioskStatus>>;
  /** The kiosk of job `jobId` in rollout `id`, or undefined when it is not one of its jobs. */
  jobKiosk(id: string, jobId: string): Promise<string | undefined>;
  /** Marks `kioskId`'s job sent in `wave` (only from pending); false when it already had a job. */
  markSent(id: string, kioskId: string, wave: number, now: number): Promise<boolean>;
  /** Takes back markSent when the publish failed. */
  unmarkSent(id: string, kioskId: string): Promise<void>;
  /** Applies a kiosk's report of `jobId`, forward only. */
  report(id: string, jobId: string, state: UpdateState, reason: string | undefined, now: number): Promise<ReportOutcome>;
  /** Marks jobs that never reported a final state failed `timeout`. */
  markTimedOut(id: string, kioskIds: readonly string[], now: number): Promise<void>;
  /** Records the abort (the first one stays). */
  abort(id: string, reason: string, wave: number): Promise<void>;
  stop(): Promise<void>;
}

/** Where the carrier's state lives: SQLite files in `dir` (one host), or one PostgreSQL database (many hosts). */
export type StoreSpec = { kind: 'sqlite'; dir: string } | { kind: 'postgres'; url: string };

/** The carrier's stores on one backend. */
export interface CarrierStores {
  nonces: NonceStoreApi;
  registry: RegistryStore;
  revocations: RevocationStore;
  rollouts: RolloutStoreApi;
  /** Which backend, for logs (a PostgreSQL URL without its password). */
  describe: string;
  /** Closes every store (and the PostgreSQL pool). */
  close(): Promise<void>;
}
