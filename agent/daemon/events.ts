/**
 * The daemon's typed events: emitted locally (tests, the metrics) and published to the carrier on
 * `<prefix><device>/events` (QoS 1). Payloads are ids, codes and counts, never images or scores of a
 * face. Each is stored in an EventQueue (event-queue.ts; `<stateDir>/events.db` in the daemon) before
 * it is published and removed only after its PUBACK, so events raised while the broker is unreachable
 * survive a crash or power loss and go out, in order, once it is back. Bounded: the oldest are dropped
 * and counted. Results never go this way, they go through the outbox.
 */
import { randomUUID } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { systemClock, within, type Clock, type TimerHandle } from '../../base/clock.js';
import { isKioskError, toKioskError } from '../../base/errors.js';
import type { Logger } from '../../base/log.js';
import { fullJitterDelay, type BackoffOptions } from '../../base/backoff.js';
import type { CancelReason, NonceSource, ReasonCode, Verdict } from '../session/types.js';
import type { EventQueue, QueuedEvent } from './event-queue.js';
import type { UpdateReport } from '../../protocol/update.js';

/** Event name -> payload. */
export interface DaemonEvents {
  arrived: [Record<string, never>];
  left: [Record<string, never>];
  session_started: [{ sessionId: string; trigger: 'presence' | 'command'; nonceSource: NonceSource; steps: number }];
  session_finished: [{ sessionId: string; jti: string | null; verdict: Verdict; reasons: ReasonCode[]; cancelReason: CancelReason | null }];
  dispense_started: [{ jti: string }];
  dispensed: [{ jti: string; confirmMs: number }];
  dispense_failed: [{ jti: string; code: string; message: string }];
  /** The enclosure was opened (alarm) or closed again. */
  tamper: [{ open: boolean }];
  out_of_service: [{ reason: string }];
  in_service: [Record<string, never>];
  key_destroyed: [{ path: string }];
  camera: [{ state: 'started' | 'exited' | 'restarting' | 'stalled' | 'unplugged' | 'replugged' | 'failed' | 'ended'; reason?: string }];
  cassette: [{ empty: boolean }];
  jam: [{ active: boolean }];
  /** Remote assistance: a call to an operator opened (`reason`: command, quality, customer_button). */
  assist_started: [{ assistId: string; reason: string; failedChecks: string[] }];
  /** An operator's verified decision became a device-signed result (`jti`, recorded in the ledger). */
  assist_decided: [{ assistId: string; jti: string; decision: 'approve' | 'reject'; operatorId: string; sessionId?: string }];
  assist_ended: [{ assistId: string; outcome: string; reason?: string; framesSent: number }];
  /** The operator's peer connected (media flows). */
  assist_connected: [{ assistId: string }];
  /** Call audio (`assist.audio`): a device went live, could not open (`code`, `reason`; the call goes on without it) or stopped. */
  assist_audio: [
    { assistId: string; direction: 'capture' | 'playback'; state: 'live' | 'unavailable' | 'stopped'; code?: string; reason?: string; frames?: number },
  ];
  /** The device certificate was renewed and installed; the broker connection is remade with it. */
  certificate_renewed: [{ serial: string; notAfter: string }];
  /** A renewal attempt failed (`code`: E_TRANSPORT, E_CERTIFICATE, …); retried after `retryInMs`. */
  certificate_renewal_failed: [{ attempt: number; code: string; message: string; retryInMs: number }];
  /** An update job changed state (protocol/update.ts): queued .. committed, rolled_back or failed with a coded reason. */
  update: [UpdateReport];
}

export type DaemonEventName = keyof DaemonEvents;

/** What the publisher needs of the transport. */
export interface EventTransport {
  readonly online: boolean;
  readonly topics: { events: string };
  publish(topic: string, payload: string, options?: { qos?: 0 | 1; requireSubscriber?: boolean }): Promise<void>;
  readonly events: { on(e: 'online', fn: () => void): unknown; off(e: 'online', fn: () => void): unknown };
}

export interface EventPublisherDeps {
  bus: EventEmitter<DaemonEvents>;
  /** Absent: no broker configured; events are only logged. */
  transport?: EventTransport;
  /** Where events wait for their PUBACK. */
  queue: EventQueue;
  logger: Logger;
  /** The events' `at` (wall time), the retry timer and the bound of `stop()` (default the system clock). */
  clock?: Clock;
  /**
   * How long `stop()` waits for a publish in flight, ms (default 3000): over a connection that died
   * without closing the PUBACK never comes; the event stays queued for the next start.
   */
  stopWaitMs?: number;
  /** Retry delays while online but refused for now (PUBACK 0x10, no subscriber); default 1 s base, 60 s cap. */
  backoff?: BackoffOptions;
  random?: () => number;
}

/**
 * Events the carrier must not lose to the queue's bound: the enclosure alarm, service state, the key's
 * destruction and dispense outcomes. At the bound, every other event is dropped before these.
 */
export const ALARM_EVENTS: ReadonlySet<DaemonEventName> = new Set([
  'tamper',
  'out_of_service',
  'in_service',
  'key_destroyed',
  'dispensed',
  'dispense_failed',
  'jam',
  'cassette',
  // A rollout waits for these: a lost `rolled_back` would leave the carrier's canary waiting.
  'update',
]);

// A record, not a list: the compiler refuses a DaemonEvents entry that is not published here.
const PUBLISHED: Record<DaemonEventName, true> = {
  arrived: true,
  left: true,
  session_started: true,
  session_finished: true,
  dispense_started: true,
  dispensed: true,
  dispense_failed: true,
  tamper: true,
  out_of_service: true,
  in_service: true,
  key_destroyed: true,
  camera: true,
  cassette: true,
  jam: true,
  assist_started: true,
  assist_connected: true,
  assist_audio: true,
  assist_decided: true,
  assist_ended: true,
  certificate_renewed: true,
  certificate_renewal_failed: true,
  update: true,
};
const EVENT_NAMES = Object.keys(PUBLISHED) as DaemonEventName[];

/**
 * Publishes daemon events to the carrier: store, publish (QoS 1), remove on PUBACK, one at a time so
 * the order holds. PUBACK reasons are treated as the outbox relay treats them: a transient failure
 * (offline, 0x10 no subscriber) keeps the event at the head of the queue (retried on `online`, or
 * with backoff while online); a permanent refusal (0x87 and the like) drops it, logged and counted,
 * instead of blocking every later event.
 */
export class EventPublisher {
  private running = false;
  private flushing?: Promise<void>;
  private again = false;
  private retryTimer?: TimerHandle;
  private failures = 0;
  private readonly onOnline = (): void => {
    this.cancelRetry();
    void this.flush();
  };
  private readonly listeners: Array<[DaemonEventName, (...a: unknown[]) => void]> = [];

  constructor(private readonly deps: EventPublisherDeps) {}

  /** Listens to the bus; publishes what an earlier run left in the queue once the broker is there. */
  start(): void {
    const left = this.deps.transport ? this.deps.queue.size : 0;
    this.running = true;
    for (const name of EVENT_NAMES) {
      const fn = (payload: unknown) => this.push(name, payload as Record<string, unknown>);
      (this.deps.bus as EventEmitter).on(name, fn);
      this.listeners.push([name, fn as (...a: unknown[]) => void]);
    }
    if (!this.deps.transport) return;
    this.deps.transport.events.on('online', this.onOnline);
    if (left > 0) this.deps.logger.info({ queued: left }, 'events stored before this start go out first');
    void this.flush();
  }

  /**
   * Stops listening and retrying (at once), then waits for a publish in flight at most `stopWaitMs`;
   * an event without its PUBACK stays stored and goes after the next start.
   */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    for (const [name, fn] of this.listeners) (this.deps.bus as EventEmitter).off(name, fn);
    this.listeners.length = 0;
    this.deps.transport?.events.off('online', this.onOnline);
    this.cancelRetry();
    const flushing = this.flushing;
    if (!flushing) return;
    const waitMs = this.deps.stopWaitMs ?? 3000;
    if (
      await within(
        this.deps.clock ?? systemClock,
        waitMs,
        flushing.then(() => true),
        false,
      )
    )
      return;
    this.deps.logger.warn(
      { waitedMs: waitMs, queued: this.deps.queue.size },
      'no PUBACK in time (broker connection dead?): event publish abandoned, the event stays queued for the next start',
    );
  }

  /** Resolves when no publish is in flight (tests; unbounded, unlike `stop()`). */
  async idle(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  /** Events waiting for the broker. */
  get queued(): number {
    return this.deps.queue.size;
  }

  /** Events dropped at the queue's bound or refused by the broker, over the queue's lifetime. */
  get dropped(): number {
    return this.deps.queue.dropped;
  }

  private push(type: DaemonEventName, payload: Record<string, unknown>): void {
    const { logger, transport, queue } = this.deps;
    logger.info({ event: type, ...payload }, `event ${type}`);
    if (!transport) return;
    // eventId: delivery is at least once (a PUBACK lost in a crash means a second copy); the carrier drops repeats by it.
    const text = JSON.stringify({ type, eventId: randomUUID(), at: new Date((this.deps.clock ?? systemClock).wallNow()).toISOString(), ...payload });
    try {
      const { dropped } = queue.append(text, { keep: ALARM_EVENTS.has(type) });
      if (dropped > 0) logger.warn({ dropped, droppedTotal: queue.dropped }, 'event queue full: the oldest events were dropped');
    } catch (err) {
      // Not stored (disk full or failing): still sent if the broker is there, out of order and without a retry.
      logger.error({ err: toKioskError(err, 'E_STORAGE').toJSON(), event: type }, 'event not stored; published once if online, else lost');
      if (transport.online)
        void transport
          .publish(transport.topics.events, text, { qos: 1 })
          .catch((e) => logger.error({ err: toKioskError(e).toJSON(), event: type }, 'unstored event not published; lost'));
      return;
    }
    if (!this.retryTimer) void this.flush();
  }

  private flush(): Promise<void> {
    if (this.flushing) {
      this.again = true;
      return this.flushing;
    }
    this.flushing = this.loop().finally(() => {
      this.flushing = undefined;
      if (this.again && this.running && !this.retryTimer) {
        this.again = false;
        void this.flush();
      }
    });
    return this.flushing;
  }

  private async loop(): Promise<void> {
    const t = this.deps.transport;
    if (!t) return;
    try {
      while (this.running && t.online) {
        this.again = false;
        const [next] = this.deps.queue.peek(1);
        if (!next) return;
        if ((await this.send(t, next)) === 'transient') {
          if (t.online) this.scheduleRetry();
          return;
        }
      }
    } catch (err) {
      this.deps.logger.error({ err: toKioskError(err, 'E_STORAGE').toJSON() }, 'event queue failed; events stay stored');
    }
  }

  private async send(t: EventTransport, e: QueuedEvent): Promise<'ok' | 'dropped' | 'transient'> {
    const { logger, queue } = this.deps;
    try {
      // requireSubscriber: PUBACK 0x10 means the broker dropped it (nobody listening): keep and retry, like results.
      await t.publish(t.topics.events, e.payload, { qos: 1, requireSubscriber: true });
    } catch (err) {
      const permanent = isKioskError(err) && (err.code === 'E_NOT_AUTHORIZED' || err.details?.permanent === true);
      const type = (JSON.parse(e.payload) as { type: string }).type;
      if (!permanent) {
        logger[this.failures === 0 ? 'warn' : 'debug'](
          { err: toKioskError(err, 'E_TRANSPORT').toJSON(), event: type, queued: queue.size },
          'event not published; kept for a retry',
        );
        return 'transient';
      }
      queue.discard(e.id);
      logger.error(
        { err: toKioskError(err, 'E_TRANSPORT').toJSON(), event: type, droppedTotal: queue.dropped },
        'broker refused an event for good; dropped and counted',
      );
      return 'dropped';
    }
    queue.remove(e.id);
    this.failures = 0;
    return 'ok';
  }

  private scheduleRetry(): void {
    if (this.retryTimer || !this.running) return;
    const delay = fullJitterDelay(this.failures++, this.deps.backoff, this.deps.random);
    this.retryTimer = (this.deps.clock ?? systemClock).setTimeout(() => {
      this.retryTimer = undefined;
      void this.flush();
    }, delay);
  }

  private cancelRetry(): void {
    (this.deps.clock ?? systemClock).clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }
}
