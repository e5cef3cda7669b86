/**
 * Certificate renewal in the daemon (`renewal.enabled` with a broker): the RenewalScheduler built by
 * build.ts renews and installs the certificate when it is due; here its outcomes become daemon
 * events (`certificate_renewed`, `certificate_renewal_failed`: logged and published to the
 * carrier), the daemon is told the new certificate (result signer, health) and the broker
 * connection is remade so that it presents the renewed certificate. A destroyed device key
 * (tamper) ends renewal: there is nothing left to renew.
 */
import type { EventEmitter } from 'node:events';
import type { RenewalScheduler } from '../../provisioning/enrol/renewal.js';
import type { x509 } from '../../base/keys/x509.js';
import { toKioskError } from '../../base/errors.js';
import type { Logger } from '../../base/log.js';
import type { DaemonEvents } from './events.js';

/** What the daemon uses of the RenewalScheduler. */
export type RenewalLike = Pick<RenewalScheduler, 'events' | 'start' | 'stop' | 'dueAt'>;

/** Renewal as build.ts provides it. */
export interface CertificateRenewal {
  scheduler: RenewalLike;
  /** The installed device certificate (the renewed one once `renewed` was emitted). */
  certificate: () => x509.X509Certificate;
}

export interface RenewalWiringDeps {
  renewal: CertificateRenewal;
  /** The broker connection: it reads its TLS identity at each start (build.ts), so a restart picks up the new certificate. */
  transport?: { start(): Promise<void>; stop(): Promise<void> };
  bus: EventEmitter<DaemonEvents>;
  /** Called with the renewed certificate before the connection is remade. */
  onRenewed: (certificate: x509.X509Certificate) => void;
  logger: Logger;
}

/** Runs the scheduler between `start()` and `stop()` and acts on its outcomes. */
export class RenewalWiring {
  private running = false;
  private reconnecting?: Promise<void>;
  private unregister?: () => void;

  constructor(private readonly deps: RenewalWiringDeps) {}

  async start(): Promise<void> {
    const { scheduler } = this.deps.renewal;
    const renewed = () => this.renewed();
    const failed = (e: { attempt: number; error: Error; retryInMs: number }) => {
      const err = toKioskError(e.error);
      this.deps.bus.emit('certificate_renewal_failed', { attempt: e.attempt, code: err.code, message: err.message, retryInMs: e.retryInMs });
    };
    const keyDestroyed = () => {
      this.deps.logger.warn('the device key was destroyed: certificate renewal stops');
      void scheduler.stop();
    };
    scheduler.events.on('renewed', renewed);
    scheduler.events.on('failed', failed);
    this.deps.bus.on('key_destroyed', keyDestroyed);
    this.unregister = () => {
      scheduler.events.off('renewed', renewed);
      scheduler.events.off('failed', failed);
      this.deps.bus.off('key_destroyed', keyDestroyed);
    };
    this.running = true;
    await scheduler.start();
    this.deps.logger.info(
      { renewAt: scheduler.dueAt.toISOString(), notAfter: this.deps.renewal.certificate().notAfter.toISOString() },
      'certificate renewal scheduled',
    );
  }

  /** Stops the scheduler (waiting for an attempt in flight) and a reconnection in progress. */
  async stop(): Promise<void> {
    this.running = false;
    await this.deps.renewal.scheduler.stop();
    this.unregister?.();
    this.unregister = undefined;
    await this.reconnecting;
  }

  private renewed(): void {
    const certificate = this.deps.renewal.certificate();
    this.deps.onRenewed(certificate);
    this.deps.bus.emit('certificate_renewed', { serial: certificate.serialNumber, notAfter: certificate.notAfter.toISOString() });
    const transport = this.deps.transport;
    if (!transport || !this.running) return;
    const previous = this.reconnecting ?? Promise.resolve();
    this.reconnecting = previous
      .then(async () => {
        this.deps.logger.info('reconnecting to the broker with the renewed certificate');
        await transport.stop();
        if (this.running) await transport.start();
      })
      .catch((err) => this.deps.logger.error({ err: toKioskError(err).toJSON() }, 'could not reconnect with the renewed certificate'));
  }
}
