/**
 * The kiosk's inputs and the camera's state as daemon behaviour and events: a customer arriving
 * starts a session after `flow.carrierNonceWaitMs` unless the carrier's `start_session` came first,
 * leaving resets the screen and (with `flow.cancelOnLeave`) cancels the session; cassette, jam and
 * camera states become daemon events. The tamper input is the TamperAlarm's (tamper.ts).
 */
import type { EventEmitter } from 'node:events';
import type { FrameSource } from '../../device/camera/frame-source.js';
import type { KioskEvents, KioskHardware } from '../../device/kiosk/kiosk.js';
import type { KioskConfig } from '../config/types.js';
import { toKioskError } from '../../base/errors.js';
import type { Logger } from '../../base/log.js';
import type { CustomerScreen } from '../screen/server.js';
import type { DaemonEvents } from './events.js';
import type { SessionController } from './session-controller.js';

export interface KioskWiringDeps {
  config: Pick<KioskConfig, 'flow'>;
  kiosk: Pick<KioskHardware, 'events' | 'present'>;
  camera: Pick<FrameSource, 'events'>;
  sessions: Pick<SessionController, 'busy' | 'request' | 'abort'>;
  screen?: Pick<CustomerScreen, 'show'>;
  bus: EventEmitter<DaemonEvents>;
  inService: () => boolean;
  logger: Logger;
}

const CAMERA_STATES = ['started', 'exited', 'restarting', 'stalled', 'unplugged', 'replugged', 'failed', 'ended'] as const;

/** Listens to the kiosk hardware and the camera between `start()` and `stop()`. */
export class KioskWiring {
  private presenceTimer?: NodeJS.Timeout;
  private undo: Array<() => void> = [];

  constructor(private readonly deps: KioskWiringDeps) {}

  start(): void {
    this.wireKiosk();
    this.wireCamera();
  }

  /** Unregisters every listener and cancels a pending presence start. */
  stop(): void {
    this.cancelPresence();
    for (const u of this.undo.splice(0).reverse()) u();
  }

  /** Cancels a session that a customer's arrival would start (a carrier command came, tamper, shutdown). */
  cancelPresence(): void {
    clearTimeout(this.presenceTimer);
  }

  private wireKiosk(): void {
    const { config, kiosk, sessions, bus, logger } = this.deps;
    const k = kiosk.events;
    const on = (e: keyof KioskEvents, fn: (...a: never[]) => void) => {
      const listener = fn as (...a: unknown[]) => void;
      (k as EventEmitter).on(e, listener);
      this.undo.push(() => (k as EventEmitter).off(e, listener));
    };
    on('arrived', () => {
      bus.emit('arrived', {});
      if (!config.flow.presenceStartsSession || sessions.busy || !this.deps.inService()) return;
      clearTimeout(this.presenceTimer);
      this.presenceTimer = setTimeout(() => {
        if (!kiosk.present || sessions.busy) return;
        void sessions.request({ trigger: 'presence' }).then((o) => {
          if (!o.ok) logger.warn({ reason: o.reason, detail: o.detail }, 'customer arrived but no session could start');
        });
      }, config.flow.carrierNonceWaitMs);
    });
    on('left', () => {
      clearTimeout(this.presenceTimer);
      bus.emit('left', {});
      if (!sessions.busy) this.deps.screen?.show({ type: 'reset' });
      if (config.flow.cancelOnLeave) sessions.abort('customer_left');
    });
    on('cassette', (e: { empty: boolean }) => bus.emit('cassette', { empty: e.empty }));
    on('jam', (e: { active: boolean }) => bus.emit('jam', { active: e.active }));
    on('fault', (e: { error: Error }) => logger.warn({ err: toKioskError(e.error).toJSON() }, 'kiosk output fault'));
  }

  private wireCamera(): void {
    const ev = this.deps.camera.events;
    for (const state of CAMERA_STATES) {
      const fn = (p?: { reason?: string; error?: Error }) => {
        const reason = p?.reason ?? p?.error?.message;
        if (state !== 'started') this.deps.logger.warn({ state, reason }, `camera ${state}`);
        this.deps.bus.emit('camera', { state, ...(reason ? { reason } : {}) });
      };
      (ev as EventEmitter).on(state, fn);
      this.undo.push(() => (ev as EventEmitter).off(state, fn));
    }
  }
}
