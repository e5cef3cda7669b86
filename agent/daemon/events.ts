/**
 * The daemon's typed events: emitted locally (tests, the metrics) and published to the carrier on
 * `<prefix><device>/events` (QoS 1). Payloads are ids, codes and counts, never images or scores of a
 * face. While the broker is unreachable they wait in a bounded in-memory queue (oldest dropped and
 * counted); results never go this way, they go through the durable outbox.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from '../log.js';
import type { CancelReason, NonceSource, ReasonCode, Verdict } from '../session/types.js';

/** Event name -> payload. */
export interface DaemonEvents {
  arrived: [{}];
  left: [{}];
  session_started: [{ sessionId: string; trigger: 'presence' | 'command'; nonceSource: NonceSource; steps: number }];
  session_finished: [{ sessionId: string; jti: string | null; verdict: Verdict; reasons: ReasonCode[]; cancelReason: CancelReason | null }];
  dispense_started: [{ jti: string }];
  dispensed: [{ jti: string; confirmMs: number }];
  dispense_failed: [{ jti: string; code: string; message: string }];
  /** The enclosure was opened (alarm) or closed again. */
  tamper: [{ open: boolean }];
  out_of_service: [{ reason: string }];
  in_service: [{}];
  key_destroyed: [{ path: string }];
  camera: [{ state: 'started' | 'exited' | 'restarting' | 'stalled' | 'unplugged' | 'replugged' | 'failed' | 'ended'; reason?: string }];
  cassette: [{ empty: boolean }];
  jam: [{ active: boolean }];
  /** Remote assistance: a call to an operator opened (`reason`: command, quality, customer_button). */
  assist_started: [{ assistId: string; reason: string; failedChecks: string[] }];
  /** An operator's verified decision became a device-signed result (`jti`, recorded in the ledger). */
  assist_decided: [{ assistId: string; jti: string; decision: 'approve' | 'reject'; operatorId: string }];
  assist_ended: [{ assistId: string; outcome: string; reason?: string; framesSent: number }];
  /** The device certificate was renewed and installed; the broker connection is remade with it. */
  certificate_renewed: [{ serial: string; notAfter: string }];
  /** A renewal attempt failed (`code`: E_TRANSPORT, E_CERTIFICATE, …); retried after `retryInMs`. */
  certificate_renewal_failed: [{ attempt: number; code: string; message: string; retryInMs: number }];
}

export type DaemonEventName = keyof DaemonEvents;

/** What the publisher needs of the transport. */
export interface EventTransport {
  readonly online: boolean;
  readonly topics: { events: string };
  publish(topic: string, payload: string, options?: { qos?: 0 | 1 }): Promise<void>;
  readonly events: { on(e: 'online', fn: () => void): unknown; off(e: 'online', fn: () => void): unknown };
}

/** Publishes daemon events to the carrier; queues up to `maxQueued` while offline. */
export class EventPublisher {
  private queue: string[] = [];
  private flushing = false;
  dropped = 0;
  private readonly onOnline = (): void => void this.flush();
  private readonly listeners: Array<[DaemonEventName, (...a: unknown[]) => void]> = [];

  constructor(private readonly deps: { bus: EventEmitter<DaemonEvents>; transport?: EventTransport; logger: Logger; maxQueued?: number; now?: () => number }) {}

  start(): void {
    const names: DaemonEventName[] = ['arrived', 'left', 'session_started', 'session_finished', 'dispense_started', 'dispensed', 'dispense_failed', 'tamper', 'out_of_service', 'in_service', 'key_destroyed', 'camera', 'cassette', 'jam', 'assist_started', 'assist_decided', 'assist_ended', 'certificate_renewed', 'certificate_renewal_failed'];
    for (const name of names) {
      const fn = (payload: unknown) => this.push(name, payload as Record<string, unknown>);
      (this.deps.bus as EventEmitter).on(name, fn);
      this.listeners.push([name, fn as (...a: unknown[]) => void]);
    }
    this.deps.transport?.events.on('online', this.onOnline);
  }

  stop(): void {
    for (const [name, fn] of this.listeners) (this.deps.bus as EventEmitter).off(name, fn);
    this.listeners.length = 0;
    this.deps.transport?.events.off('online', this.onOnline);
  }

  /** Events waiting for the broker. */
  get queued(): number {
    return this.queue.length;
  }

  private push(type: DaemonEventName, payload: Record<string, unknown>): void {
    this.deps.logger.info({ event: type, ...payload }, `event ${type}`);
    if (!this.deps.transport) return;
    this.queue.push(JSON.stringify({ type, at: new Date(this.deps.now?.() ?? Date.now()).toISOString(), ...payload }));
    const max = this.deps.maxQueued ?? 1000;
    while (this.queue.length > max) {
      this.queue.shift();
      this.dropped++;
    }
    void this.flush();
  }

  private async flush(): Promise<void> {
    const t = this.deps.transport;
    if (!t || this.flushing) return;
    this.flushing = true;
    try {
      while (this.queue.length > 0 && t.online) {
        try {
          await t.publish(t.topics.events, this.queue[0], { qos: 1 });
          this.queue.shift();
        } catch (err) {
          this.deps.logger.warn({ err: { message: (err as Error).message } }, 'event not published; kept for the next connection');
          break;
        }
      }
    } finally {
      this.flushing = false;
    }
  }
}
