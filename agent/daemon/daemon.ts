/**
 * The daemon: owns the lifecycle of the components `composeDaemon` (compose.ts) built, and offers
 * the few handles the CLI and the tests use. It builds nothing itself: `start()` starts the
 * components in order, `stop()` stops them in reverse, each within `health.stopTimeoutMs`, whatever
 * the others do, and logs what failed.
 *
 * The parts live beside it: health figures, STATUS/WATCHDOG and telemetry (health-snapshot.ts);
 * presence and camera inputs (kiosk-wiring.ts); out of service after tamper (tamper.ts); the
 * customer screen (screen-wiring.ts, `screen.enabled`); remote assistance (assist-wiring.ts,
 * `assist.enabled`: `deps.assist` builds the AssistService, which alone loads `@roamhq/wrtc`, so a
 * daemon without it never loads the module); certificate renewal (renewal-wiring.ts,
 * `renewal.enabled` with a broker).
 */
import type { EventEmitter } from 'node:events';
import type { Logger } from '../../base/log.js';
import type { KioskHardware } from '../../device/kiosk/kiosk.js';
import type { PageMessage } from '../screen/protocol.js';
import type { CustomerScreen } from '../screen/server.js';
import type { CommandHandlers, CommandOutcome } from '../transport/commands.js';
import type { AssistLike } from './assist-wiring.js';
import type { CurrentSigner } from './current-signer.js';
import type { DaemonEvents } from './events.js';
import type { HealthSnapshot } from './health.js';
import { Lifecycle, type Component, type StopOutcome } from './lifecycle.js';
import type { SessionController, SessionHooks } from './session-controller.js';

export type { AssistLike } from './assist-wiring.js';

/** What composeDaemon hands the daemon: its components in start order and the handles it offers. */
export interface DaemonParts {
  components: readonly Component[];
  logger: Logger;
  /** Longest wait for one component's stop, ms. */
  stopTimeoutMs: number;
  events: EventEmitter<DaemonEvents>;
  kiosk: KioskHardware;
  sessions: SessionController;
  screen?: CustomerScreen;
  /** Signs with the current device certificate (the renewed one after a renewal). */
  signer: Pick<CurrentSigner, 'sign' | 'certificate'>;
  /** The carrier commands handled now (`assist_start` only with remote assistance). */
  commands: () => CommandHandlers;
  useAssist: (assist: AssistLike) => void;
  snapshot: () => Promise<HealthSnapshot>;
  httpPort: () => number | undefined;
  inService: () => boolean;
  /** What the session controller and the screen call back (tests drive them directly). */
  wiring: { sessionFinished: NonNullable<SessionHooks['finished']>; screenAction: (m: PageMessage) => void };
  /** Logged once running. */
  summary: () => Record<string, unknown>;
}

export class KioskDaemon {
  private readonly lifecycle: Lifecycle;

  constructor(private readonly parts: DaemonParts) {
    this.lifecycle = new Lifecycle(parts.components, { logger: parts.logger, stopTimeoutMs: parts.stopTimeoutMs });
  }

  /** Starts every component in order; when one fails, those started are stopped and the error is thrown. */
  async start(): Promise<void> {
    await this.lifecycle.start();
    this.parts.logger.info(this.parts.summary(), 'kiosk agent running');
  }

  /** Stops the components in reverse order, each bounded in time; never throws. */
  async stop(): Promise<StopOutcome[]> {
    return this.lifecycle.stop();
  }

  /** Daemon events (sessions, dispensing, tamper, camera, assistance, renewal). */
  get events(): EventEmitter<DaemonEvents> {
    return this.parts.events;
  }

  get kiosk(): KioskHardware {
    return this.parts.kiosk;
  }

  get sessions(): SessionController {
    return this.parts.sessions;
  }

  /** The customer screen (`screen.enabled`). */
  get screen(): CustomerScreen | undefined {
    return this.parts.screen;
  }

  /** Port of the local HTTP server (health, metrics, simulator). */
  get httpPort(): number | undefined {
    return this.parts.httpPort();
  }

  get inService(): boolean {
    return this.parts.inService();
  }

  /** Signs results with the current device certificate, as sessions do. */
  get signer(): DaemonParts['signer'] {
    return this.parts.signer;
  }

  /** What the session controller and the screen call back. */
  get wiring(): DaemonParts['wiring'] {
    return this.parts.wiring;
  }

  /** The carrier commands this daemon handles now. */
  commandHandlers(): CommandHandlers {
    return this.parts.commands();
  }

  /** A carrier `start_session`, as if it came over MQTT. */
  async startSession(c: Parameters<CommandHandlers['start_session']>[0]): Promise<CommandOutcome> {
    return this.parts.commands().start_session(c);
  }

  /** Attaches a remote-assistance service (`start()` does it with the factory's; tests with a fake). */
  useAssist(assist: AssistLike): void {
    this.parts.useAssist(assist);
  }

  /** Everything /health, /metrics and telemetry report. */
  async snapshot(): Promise<HealthSnapshot> {
    return this.parts.snapshot();
  }
}
