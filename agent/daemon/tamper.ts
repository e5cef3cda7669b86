/**
 * Out of service after tamper: the enclosure opening aborts the session, puts the kiosk out of
 * service (persisted in the ledger, so a restart does not clear it) and, with
 * `tamper.destroyFileKey` (default on), destroys the device identity: the key where it is kept (file
 * overwritten and deleted, or the token's objects destroyed), its copies in memory, and the broker
 * connection made with it, which does not reconnect. The carrier's `clear_alarm` puts a kiosk whose
 * key was kept back in service once the enclosure is closed.
 */
import type { EventEmitter } from 'node:events';
import type { KioskEvents, KioskHardware } from '../../device/kiosk/kiosk.js';
import type { KeyStore } from '../../base/keys/key-store.js';
import { systemClock, within, type Clock } from '../../base/clock.js';
import { toKioskError } from '../../base/errors.js';
import type { Logger } from '../../base/log.js';
import type { CancelReason } from '../session/types.js';
import type { CommandOutcome } from '../transport/commands.js';
import type { DaemonEvents } from './events.js';
import type { Ledger } from './ledger.js';

const OUT_OF_SERVICE = 'out_of_service';

/** In or out of service, persisted in the ledger so that a restart does not clear it. */
export class ServiceState {
  private outOfService: string | null = null;

  constructor(private readonly ledger: Pick<Ledger, 'getState' | 'setState'>) {}

  /** Reads the persisted state (the ledger must have started). */
  start(): void {
    this.outOfService = this.ledger.getState(OUT_OF_SERVICE) ?? null;
  }

  /** Why the kiosk is out of service; null while in service. */
  get reason(): string | null {
    return this.outOfService;
  }

  get inService(): boolean {
    return this.outOfService === null;
  }

  /** Out of service for `reason`; false when it already was. */
  takeOut(reason: string): boolean {
    if (this.outOfService !== null) return false;
    this.outOfService = reason;
    this.ledger.setState(OUT_OF_SERVICE, reason);
    return true;
  }

  /** Back in service. */
  restore(): void {
    this.outOfService = null;
    this.ledger.setState(OUT_OF_SERVICE, undefined);
  }
}

export interface TamperAlarmDeps {
  service: ServiceState;
  kiosk: Pick<KioskHardware, 'tampered' | 'setStatus' | 'events'>;
  /** `idle()`: the aborted session has finished and its (signed reject) result is stored. */
  sessions: { abort(reason: CancelReason): void; idle(): Promise<void> };
  keyStore: Pick<KeyStore, 'destroy'>;
  /** The identity's key in memory (build.ts's DeviceIdentity): wiped, and no new connection made with it. */
  identity?: { destroy(): void };
  /** Live connections made with the identity (the transport): closed for good once the alarm went out. */
  connections: Array<{ dropIdentity(): Promise<void> }>;
  /** `tamper.destroyFileKey`: destroy the device key and identity when the enclosure opens. */
  destroyKey: boolean;
  /** Resolves once the alarm events are published (or cannot be now); the connections close after it. */
  alarmsSent?: () => Promise<void>;
  /**
   * Bound of each wait before the identity goes, ms (default 3000): for the aborted session to store its
   * signed reject (with the key still there), then for the alarm over the live connection.
   */
  alarmWaitMs?: number;
  clock?: Clock;
  bus: EventEmitter<DaemonEvents>;
  /** Cancels a pending presence-started session. */
  cancelPresence: () => void;
  logger: Logger;
}

/** What changes the service state: the tamper input (between start and stop) and clear_alarm. */
export class TamperAlarm {
  private keyDestroyed = false;
  private readonly listener = (e: KioskEvents['tamper'][0]) => void this.onTamper(e.open);

  constructor(private readonly deps: TamperAlarmDeps) {}

  /** Follows the tamper input (before the kiosk hardware starts: it reports an enclosure already open). */
  start(): void {
    this.deps.kiosk.events.on('tamper', this.listener);
  }

  stop(): void {
    this.deps.kiosk.events.off('tamper', this.listener);
  }

  /** The tamper input changed. */
  async onTamper(open: boolean): Promise<void> {
    const { bus, kiosk, service } = this.deps;
    bus.emit('tamper', { open });
    if (!open) return;
    this.deps.sessions.abort('tamper');
    this.deps.cancelPresence();
    if (service.takeOut('tamper')) bus.emit('out_of_service', { reason: 'tamper' });
    kiosk.setStatus('out_of_service');
    if (this.deps.destroyKey && !this.keyDestroyed) await this.destroyIdentity();
  }

  /** The carrier's `clear_alarm`: back in service once the enclosure is closed. */
  async clearAlarm(): Promise<CommandOutcome> {
    if (this.deps.service.inService) return { ok: true, body: { state: 'in_service' } };
    if (this.deps.kiosk.tampered) return { ok: false, reason: 'still_open', detail: 'the enclosure is still open' };
    if (this.keyDestroyed) return { ok: false, reason: 'out_of_service', detail: 'the device key was destroyed: provision the kiosk again' };
    this.deps.service.restore();
    this.deps.kiosk.setStatus('idle');
    this.deps.bus.emit('in_service', {});
    return { ok: true, body: { state: 'in_service' } };
  }

  /**
   * Once the aborted session has signed its reject (bounded), the key (in its store and in memory:
   * signing and new connections fail from then on), then the live connection once the alarm went out
   * over it (a TLS session needs no private key; bounded), closed without reconnecting. Each step runs
   * even when an earlier one failed.
   */
  private async destroyIdentity(): Promise<void> {
    const log = this.deps.logger;
    const clock = this.deps.clock ?? systemClock;
    const waitMs = this.deps.alarmWaitMs ?? 3000;
    this.keyDestroyed = true;
    const settled = this.deps.sessions.idle().then(
      () => true,
      () => false,
    );
    if (!(await within(clock, waitMs, settled, false)))
      log.warn({ waitedMs: waitMs }, 'tamper: the aborted session did not finish in time; its result will not be signed');
    try {
      const where = await this.deps.keyStore.destroy();
      log.error({ key: where }, 'tamper: the device key was destroyed; the kiosk must be provisioned again');
      this.deps.bus.emit('key_destroyed', { path: where });
    } catch (err) {
      log.error({ err: toKioskError(err, 'E_KEY_STORE').toJSON() }, 'tamper: could not destroy the device key');
    }
    this.deps.identity?.destroy();
    const sent = (this.deps.alarmsSent?.() ?? Promise.resolve()).then(
      () => true,
      () => false,
    );
    await within(clock, waitMs, sent, false);
    for (const c of this.deps.connections) {
      await c.dropIdentity().catch((err) => log.error({ err: toKioskError(err, 'E_TRANSPORT').toJSON() }, 'tamper: could not close a broker connection'));
    }
    log.warn('tamper: broker connections made with the device identity are closed and will not reconnect');
  }
}
