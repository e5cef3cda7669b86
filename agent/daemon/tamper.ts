/**
 * Out of service after tamper: the enclosure opening aborts the session, puts the kiosk out of
 * service (persisted in the ledger, so a restart does not clear it) and, with
 * `tamper.destroyFileKey`, destroys the file device key. The carrier's `clear_alarm` puts it back
 * in service once the enclosure is closed.
 */
import type { EventEmitter } from 'node:events';
import { open, unlink } from 'node:fs/promises';
import type { KioskEvents, KioskHardware } from '../../device/kiosk/kiosk.js';
import type { KeyStore } from '../../base/keys/key-store.js';
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
  sessions: { abort(reason: CancelReason): void };
  keyStore: Pick<KeyStore, 'stop'>;
  /** The file behind a file key store (destroyed on tamper when `destroyFileKey`). */
  keyFile?: string;
  destroyFileKey: boolean;
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
    if (this.deps.destroyFileKey && this.deps.keyFile && !this.keyDestroyed) await this.destroyKey(this.deps.keyFile);
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

  /** Overwrites (best effort: flash and journals may keep copies) and deletes the file key. */
  private async destroyKey(path: string): Promise<void> {
    const log = this.deps.logger;
    try {
      const fh = await open(path, 'r+');
      try {
        const { size } = await fh.stat();
        await fh.write(Buffer.alloc(size), 0, size, 0);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await unlink(path);
      await this.deps.keyStore.stop();
      this.keyDestroyed = true;
      log.error({ path }, 'tamper: the device key file was destroyed; the kiosk must be provisioned again');
      this.deps.bus.emit('key_destroyed', { path });
    } catch (err) {
      log.error({ err: toKioskError(err, 'E_KEY_STORE', path).toJSON() }, 'tamper: could not destroy the key file');
    }
  }
}
