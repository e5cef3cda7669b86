/**
 * Certificate renewal before expiry: when it is due (less than `window` of the validity left), how a
 * renewed certificate is installed so that a power cut never leaves a key without its certificate,
 * and a scheduler that renews on time with an injected clock (tests never sleep).
 *
 * State directory layout: `device.key`, `device.crt`, `ca.crt`; during a new-key renewal also
 * `device.key.next` (the new key) and `device.crt.next` (its certificate, once issued).
 */
import { EventEmitter } from 'node:events';
import { constants } from 'node:fs';
import { access, open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { KioskError } from '../../base/errors.js';
import { systemClock, type Clock, type TimerHandle } from '../../base/clock.js';
import type { Logger } from '../../base/log.js';
import { fullJitterDelay, type BackoffOptions } from '../../base/backoff.js';
import { writeFileAtomic } from '../../base/keys/file-key-store.js';
import type { x509 } from '../../base/keys/x509.js';

/** File names in the agent's state directory. */
export const STATE_FILES = {
  key: 'device.key',
  cert: 'device.crt',
  ca: 'ca.crt',
  csr: 'device.csr',
  nextKey: 'device.key.next',
  nextCert: 'device.crt.next',
} as const;

/** Default renewal window: renew when less than 20% of the validity remains. */
export const DEFAULT_RENEWAL_WINDOW = 0.2;

/** When renewal of `cert` becomes due: `window` (0..1) of its validity before notAfter. */
export function renewalTime(cert: x509.X509Certificate, window = DEFAULT_RENEWAL_WINDOW): Date {
  if (!(window > 0 && window < 1)) throw new KioskError('E_CONFIG_INVALID', 'renewal window must be a fraction between 0 and 1', { subject: 'renewal.window' });
  const lifetime = cert.notAfter.getTime() - cert.notBefore.getTime();
  return new Date(cert.notAfter.getTime() - lifetime * window);
}

/** True when `cert` should be renewed at `now`. */
export function renewalDue(cert: x509.X509Certificate, now: Date, window = DEFAULT_RENEWAL_WINDOW): boolean {
  return now.getTime() >= renewalTime(cert, window).getTime();
}

/** Installs a certificate for the current key (`device.crt`, atomic replace). */
export async function installCertificate(stateDir: string, certPem: string): Promise<void> {
  await writeFileAtomic(join(stateDir, STATE_FILES.cert), certPem);
}

/**
 * Installs a certificate issued for the pending new key (`device.key.next`): writes
 * `device.crt.next`, then renames the key and the certificate into place. The `.next` certificate is
 * the journal: {@link completePendingRenewal} finishes the job after a crash between the renames.
 */
export async function installWithNewKey(stateDir: string, certPem: string): Promise<void> {
  await writeFileAtomic(join(stateDir, STATE_FILES.nextCert), certPem);
  await completePendingRenewal(stateDir);
}

/**
 * Finishes a new-key installation that a crash interrupted; call before reading key and
 * certificate. Returns whether there was one. A lone `device.key.next` (no certificate yet) is a
 * renewal still in flight and is left alone.
 */
export async function completePendingRenewal(stateDir: string): Promise<boolean> {
  const p = (f: string) => join(stateDir, f);
  if (!(await exists(p(STATE_FILES.nextCert)))) return false;
  try {
    if (await exists(p(STATE_FILES.nextKey))) await rename(p(STATE_FILES.nextKey), p(STATE_FILES.key));
    await rename(p(STATE_FILES.nextCert), p(STATE_FILES.cert));
    const dh = await open(stateDir, constants.O_RDONLY);
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  } catch (err) {
    throw new KioskError('E_STORAGE', `could not install the renewed key and certificate: ${(err as Error).message}`, { subject: stateDir, cause: err });
  }
  return true;
}

export interface RenewalSchedulerOptions {
  /** Fraction of the validity left when renewal starts (default 0.2). */
  window?: number;
  /** Retry delays after a failed attempt (default 60 s base, 1 h cap, full jitter). */
  retry?: BackoffOptions;
  /** Longest single wait, ms (default 6 h): timers cannot span a year, and clocks get corrected. */
  maxSleepMs?: number;
}

export interface RenewalSchedulerDeps {
  /** The installed certificate (read again after each renewal). */
  certificate: () => x509.X509Certificate;
  /** Renews and installs; resolves with the new certificate. */
  renew: () => Promise<x509.X509Certificate>;
  logger: Logger;
  /** Wall time (`wallNow`) decides when renewal is due; default the system clock. */
  clock?: Clock;
  random?: () => number;
  options?: RenewalSchedulerOptions;
}

export interface RenewalEvents {
  renewed: [{ notAfter: Date; serial: string }];
  failed: [{ attempt: number; error: Error; retryInMs: number }];
}

/** Renews the device certificate when it becomes due, retrying failures with backoff. */
export class RenewalScheduler {
  readonly events = new EventEmitter<RenewalEvents>();
  private timer?: TimerHandle;
  private failures = 0;
  private running = false;
  private inFlight?: Promise<void>;

  constructor(private readonly deps: RenewalSchedulerDeps) {}

  async start(): Promise<void> {
    this.running = true;
    renewalTime(this.deps.certificate(), this.deps.options?.window); // validates the window at start
    this.schedule();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    await this.inFlight;
  }

  /** When the next attempt is due, for status output. */
  get dueAt(): Date {
    return renewalTime(this.deps.certificate(), this.deps.options?.window);
  }

  private get clock(): Clock {
    return this.deps.clock ?? systemClock;
  }

  private schedule(): void {
    if (!this.running) return;
    const wait = this.dueAt.getTime() - this.clock.wallNow();
    if (wait <= 0) {
      this.inFlight = this.attempt();
      return;
    }
    this.timer = this.clock.setTimeout(
      () => {
        this.timer = undefined;
        this.schedule();
      },
      Math.min(wait, this.deps.options?.maxSleepMs ?? 6 * 3600_000),
    );
  }

  private async attempt(): Promise<void> {
    try {
      const cert = await this.deps.renew();
      if (renewalDue(this.deps.certificate(), new Date(this.clock.wallNow()), this.deps.options?.window)) {
        throw new KioskError(
          'E_CERTIFICATE',
          'the installed certificate is still due for renewal after renewing (is the carrier issuing short certificates?)',
          { subject: cert.serialNumber },
        );
      }
      this.failures = 0;
      this.deps.logger.info({ notAfter: cert.notAfter.toISOString() }, 'device certificate renewed');
      this.events.emit('renewed', { notAfter: cert.notAfter, serial: cert.serialNumber });
      this.schedule();
    } catch (err) {
      const retryInMs = fullJitterDelay(this.failures, this.deps.options?.retry ?? { baseMs: 60_000, capMs: 3600_000 }, this.deps.random);
      this.failures += 1;
      this.deps.logger.warn({ err: { message: (err as Error).message }, retryInMs }, 'certificate renewal failed; will retry');
      this.events.emit('failed', { attempt: this.failures, error: err as Error, retryInMs });
      if (this.running)
        this.timer = this.clock.setTimeout(() => {
          this.timer = undefined;
          this.inFlight = this.attempt();
        }, retryInMs);
    }
  }
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}
