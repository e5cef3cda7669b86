/**
 * Remote assistance in the daemon (`assist.enabled`): the service's events become daemon events and
 * an operator's decision is recorded in the ledger (so `authorize_dispense` accepts an
 * operator-approved result); calls come from `assist_start`, a quality retry or the customer's Help
 * button. One call at a time, never during a session; with `camera.capture: "session"` the camera
 * runs for the call. The AssistService itself (and `@roamhq/wrtc`) is built by `deps.assist` in
 * build.ts; without it nothing here loads the module.
 */
import type { EventEmitter } from 'node:events';
import type { FrameSource } from '../../device/camera/frame-source.js';
import type { AssistRequest, AssistService } from '../assist/service.js';
import type { KioskConfig } from '../config/types.js';
import { toKioskError } from '../../base/errors.js';
import type { Logger } from '../../base/log.js';
import type { AssistState, NextStep } from '../screen/protocol.js';
import type { ScreenSink } from '../screen/session-bridge.js';
import { drawNonce } from '../../protocol/plan.js';
import type { SessionResult } from '../session/types.js';
import type { AssistStart, CommandOutcome } from '../transport/commands.js';
import type { DaemonEvents } from './events.js';
import type { Ledger } from './ledger.js';
import type { SessionController } from './session-controller.js';

/** What the daemon uses of the AssistService (a fake in tests). */
export type AssistLike = Pick<AssistService, 'events' | 'busy' | 'start' | 'stop' | 'reconnect' | 'request' | 'assistStart'>;

export interface AssistWiringDeps {
  config: Pick<KioskConfig, 'camera'>;
  camera: Pick<FrameSource, 'start' | 'stop' | 'stats'>;
  /** The session controller (which asks this wiring, through its hooks, whether a call blocks a session). */
  sessions: Pick<SessionController, 'busy' | 'abort' | 'idle'>;
  ledger: Pick<Ledger, 'record'>;
  bus: EventEmitter<DaemonEvents>;
  inService: () => boolean;
  logger: Logger;
  /** The customer screen (none without `screen.enabled`): told when an operator is joining, connected, gone. */
  screen?: Pick<ScreenSink, 'show'>;
}

/** Remote assistance attached to the daemon; inert until `use()` gives it a service. */
export class AssistWiring {
  private assist?: AssistLike;
  private started?: Promise<void>;
  private unregister?: () => void;
  /** A call is being opened (camera starting); no session may start meanwhile. */
  private callOpening = false;
  /** The camera was started for a call (capture: session) and is stopped when it ends. */
  private cameraForCall = false;
  /** The customer pressed Help during a session: call an operator once it has ended. */
  private helpAfterSession = false;

  constructor(private readonly deps: AssistWiringDeps) {}

  /** True once a service is attached (and it has not failed to start). */
  get enabled(): boolean {
    return this.assist !== undefined;
  }

  /** Why no session may start now, or undefined. */
  blocksSession(): string | undefined {
    return this.assist?.busy || this.callOpening ? 'a remote-assistance call is using the camera' : undefined;
  }

  /** Attaches the service: its `started`, `connected`, `decided` and `ended` events are handled until `stop()`. */
  use(assist: AssistLike): void {
    this.unregister?.();
    this.assist = assist;
    const show = (state: AssistState) => this.deps.screen?.show({ type: 'assist', state });
    const started = () => show('joining');
    const connected = (e: { assistId: string }) => {
      show('connected');
      this.deps.bus.emit('assist_connected', { assistId: e.assistId });
    };
    // Status only: the device, its state and a code; never samples.
    const audio = (e: {
      assistId: string;
      direction: 'capture' | 'playback';
      state: 'live' | 'unavailable' | 'stopped';
      code?: string;
      reason?: string;
      frames?: number;
    }) => {
      this.deps.bus.emit('assist_audio', {
        assistId: e.assistId,
        direction: e.direction,
        state: e.state,
        ...(e.code ? { code: e.code } : {}),
        ...(e.reason ? { reason: e.reason } : {}),
        ...(e.frames !== undefined ? { frames: e.frames } : {}),
      });
    };
    const decided = (e: DaemonEvents['assist_decided'][0]) => {
      this.deps.ledger.record(e.jti, e.decision === 'approve' ? 'accept' : 'reject');
      this.deps.bus.emit('assist_decided', e);
    };
    const ended = (e: DaemonEvents['assist_ended'][0]) => {
      show('ended');
      this.deps.bus.emit('assist_ended', e);
      if (this.cameraForCall && !this.deps.sessions.busy) {
        this.cameraForCall = false;
        void this.deps.camera.stop().catch(() => undefined);
      }
    };
    assist.events.on('started', started);
    assist.events.on('connected', connected);
    assist.events.on('audio', audio);
    assist.events.on('decided', decided);
    assist.events.on('ended', ended);
    this.unregister = () => {
      assist.events.off('started', started);
      assist.events.off('connected', connected);
      assist.events.off('audio', audio);
      assist.events.off('decided', decided);
      assist.events.off('ended', ended);
    };
  }

  /**
   * Starts the service's own MQTT connection without waiting for it, so that an unreachable broker
   * does not hold up the daemon; a service that cannot start is dropped (calls are refused).
   */
  startInBackground(): void {
    const assist = this.assist;
    if (!assist) return;
    this.started = assist.start().catch((err) => {
      this.deps.logger.error({ err: toKioskError(err).toJSON() }, 'remote assistance could not start; calls are refused');
      if (this.assist === assist) this.assist = undefined;
    });
  }

  /**
   * The device certificate was renewed: once its start has settled, the service remakes its own MQTT
   * connection, which then presents the new certificate (at once, or when an open call ends).
   */
  reconnect(): void {
    const assist = this.assist;
    if (!assist || !this.started) return;
    this.started = this.started.then(() => (this.assist === assist ? assist.reconnect() : undefined));
  }

  /** Releases the listeners, then stops the service once its start (and a reconnection) has settled. */
  async stop(): Promise<void> {
    this.unregister?.();
    this.unregister = undefined;
    await this.started;
    await this.assist?.stop().catch((err) => this.deps.logger.warn({ err: toKioskError(err).toJSON() }, 'remote assistance stop failed'));
  }

  /** The carrier's `assist_start`. */
  async assistStart(c: AssistStart): Promise<CommandOutcome> {
    const assist = this.assist;
    if (!assist) return { ok: false, reason: 'handler_error', detail: 'remote assistance is not running' };
    const refused = this.callRefusal();
    if (refused) return refused;
    return this.openCall(async () => {
      const o = await assist.assistStart(c);
      if (o.ok)
        this.deps.bus.emit('assist_started', { assistId: String(o.body?.assist_id ?? ''), reason: c.reason ?? 'command', failedChecks: c.failed_checks ?? [] });
      return o;
    });
  }

  /** Asks for an operator (quality failure, the Help button); false when refused. */
  async request(req: AssistRequest): Promise<boolean> {
    const assist = this.assist;
    const refused = this.callRefusal();
    if (!assist || refused) {
      this.deps.logger.warn({ reason: req.reason, refused: refused?.detail ?? 'remote assistance is not running' }, 'remote assistance not requested');
      return false;
    }
    try {
      await this.openCall(async () => {
        const { assistId } = await assist.request(req);
        this.deps.bus.emit('assist_started', { assistId, reason: req.reason ?? 'request', failedChecks: req.failedChecks ?? [] });
      });
      return true;
    } catch (err) {
      this.deps.logger.warn({ err: toKioskError(err).toJSON(), reason: req.reason }, 'remote assistance request failed');
      return false;
    }
  }

  /**
   * A session ended: a quality retry, or Help pressed during it, calls an operator once the session
   * has let go of the camera. Returns `see_staff` for the screen when a call is requested.
   */
  afterSession(r: SessionResult, s: { sessionId: string; nonce: string }): NextStep | undefined {
    const help = this.helpAfterSession;
    this.helpAfterSession = false;
    const quality = r.verdict === 'retry' && r.reasons.includes('quality');
    if (!this.assist || !(help || quality)) return undefined;
    const req: AssistRequest = { nonce: s.nonce, sessionId: s.sessionId, failedChecks: [...r.reasons], reason: help ? 'customer_button' : 'quality' };
    void this.deps.sessions.idle().then(() => this.request(req));
    return 'see_staff';
  }

  /** The customer pressed Help on the screen. */
  customerHelp(): void {
    const log = this.deps.logger;
    const sessions = this.deps.sessions;
    if (!this.assist) {
      log.info('the customer asked for help (remote assistance is not enabled)');
    } else if (sessions.busy) {
      log.info('the customer asked for help: the session ends and an operator is called');
      this.helpAfterSession = true;
      sessions.abort('operator');
    } else {
      log.info('the customer asked for help: calling an operator');
      void this.request({ nonce: drawNonce(), failedChecks: [], reason: 'customer_button' });
    }
  }

  private callRefusal(): (CommandOutcome & { ok: false }) | undefined {
    if (!this.deps.inService()) return { ok: false, reason: 'out_of_service', detail: 'the kiosk is out of service' };
    if (this.assist?.busy || this.callOpening) return { ok: false, reason: 'busy', detail: 'a remote-assistance call is already open' };
    if (this.deps.sessions.busy) return { ok: false, reason: 'busy', detail: 'a session is using the camera' };
    return undefined;
  }

  /** Starts the camera for a call when it only runs during sessions; no session starts meanwhile. */
  private async openCall<T>(open: () => Promise<T>): Promise<T> {
    this.callOpening = true;
    let started = false;
    try {
      if (this.deps.config.camera.capture === 'session' && !this.deps.camera.stats().running) {
        await this.deps.camera.start();
        started = true;
      }
      const out = await open();
      if (started) {
        if (this.assist?.busy) this.cameraForCall = true;
        else await this.deps.camera.stop().catch(() => undefined);
      }
      return out;
    } catch (err) {
      if (started) await this.deps.camera.stop().catch(() => undefined);
      throw err;
    } finally {
      this.callOpening = false;
    }
  }
}
