/**
 * Moves messages from the outbox to the broker: publish QoS 1, delete on PUBACK. A transient failure
 * (offline, broker gone) leaves the message pending until the next `online`; a permanent refusal
 * (PUBACK 0x87 not authorised and the like) parks it with the reason and raises it to the operator,
 * instead of retrying forever.
 */
import { EventEmitter } from 'node:events';
import { systemClock, within, type Clock, type TimerHandle } from '../../base/clock.js';
import { isKioskError } from '../../base/errors.js';
import type { Logger } from '../../base/log.js';
import type { Outbox, OutboxMessage } from './outbox.js';
import { fullJitterDelay, type BackoffOptions } from '../../base/backoff.js';

/** The part of the transport the relay uses. */
export interface RelayTransport {
  readonly online: boolean;
  publish(topic: string, payload: Buffer, options?: { requireSubscriber?: boolean }): Promise<void>;
  readonly events: { on(event: 'online', fn: () => void): unknown; off(event: 'online', fn: () => void): unknown };
}

/** Events of the relay. */
export interface RelayEvents {
  delivered: [{ id: number; jti: string }];
  parked: [{ id: number; jti: string; reason: string; code: string }];
}

export interface OutboxRelayDeps {
  outbox: Outbox;
  transport: RelayTransport;
  logger: Logger;
  /** Messages in flight at once (default 16). */
  window?: number;
  clock?: () => number;
  /** Retry delays after a transient failure while still online (default 1 s base, 30 s cap). */
  backoff?: BackoffOptions;
  random?: () => number;
  /** The retry timer and the bound of `stop()` (default the system clock). */
  timers?: Pick<Clock, 'setTimeout' | 'clearTimeout'>;
  /**
   * How long `stop()` waits for a publish in flight, ms (default 3000). Over a connection that died
   * without closing the PUBACK never comes; the message stays in the outbox and goes after the next
   * start, so abandoning the wait loses nothing (systemd's TimeoutStopSec is 20 s).
   */
  stopWaitMs?: number;
}

export class OutboxRelay {
  readonly events = new EventEmitter<RelayEvents>();
  private running = false;
  private again = false;
  private draining?: Promise<void>;
  private retryTimer?: TimerHandle;
  private failures = 0;
  /** jtis published and waiting for their PUBACK. */
  private readonly inFlight = new Set<string>();
  private readonly kick = (): void => {
    void this.drain();
  };

  constructor(private readonly deps: OutboxRelayDeps) {}

  async start(): Promise<void> {
    this.running = true;
    this.deps.transport.events.on('online', this.kick);
    this.deps.outbox.events.on('stored', this.kick);
    this.kick();
  }

  /** Stops relaying; waits for a publish in flight at most `stopWaitMs`, then leaves it in the outbox. */
  async stop(): Promise<void> {
    this.running = false;
    this.deps.transport.events.off('online', this.kick);
    this.deps.outbox.events.off('stored', this.kick);
    this.timers.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const draining = this.draining;
    if (!draining) return;
    const waitMs = this.deps.stopWaitMs ?? 3000;
    if (
      await within(
        this.timers,
        waitMs,
        draining.then(() => true),
        false,
      )
    )
      return;
    this.deps.logger.warn(
      { waitedMs: waitMs, jtis: [...this.inFlight] },
      'no PUBACK in time (broker connection dead?): publish abandoned, the result stays in the outbox for the next start',
    );
  }

  /** Resolves when the current drain pass (if any) is over; for tests and orderly shutdown. */
  async idle(): Promise<void> {
    while (this.draining) await this.draining;
  }

  private drain(): Promise<void> {
    if (this.draining) {
      this.again = true;
      return this.draining;
    }
    this.draining = this.loop().finally(() => {
      this.draining = undefined;
      if (this.again && this.running) {
        this.again = false;
        void this.drain();
      }
    });
    return this.draining;
  }

  private async loop(): Promise<void> {
    const { outbox, transport, logger } = this.deps;
    try {
      await outbox.expireOld(this.deps.clock?.() ?? Date.now());
      while (this.running && transport.online) {
        this.again = false;
        const batch = await outbox.pending(this.deps.window ?? 16);
        if (batch.length === 0) return;
        const results = await Promise.all(batch.map((m) => this.send(m)));
        if (results.includes('transient')) {
          // Offline: the next `online` kicks. Online but refused for now (no subscriber): retry later.
          if (transport.online) this.scheduleRetry();
          return;
        }
        this.failures = 0;
      }
    } catch (err) {
      logger.error({ err: { message: (err as Error).message, code: (err as { code?: string }).code } }, 'outbox relay failed; messages stay stored');
    }
  }

  private get timers(): Pick<Clock, 'setTimeout' | 'clearTimeout'> {
    return this.deps.timers ?? systemClock;
  }

  private scheduleRetry(): void {
    if (this.retryTimer || !this.running) return;
    const delay = fullJitterDelay(this.failures++, this.deps.backoff, this.deps.random);
    this.retryTimer = this.timers.setTimeout(() => {
      this.retryTimer = undefined;
      this.kick();
    }, delay);
  }

  private async send(m: OutboxMessage): Promise<'ok' | 'parked' | 'transient'> {
    const { outbox, transport, logger } = this.deps;
    await outbox.attempted(m.id);
    this.inFlight.add(m.jti);
    try {
      await transport.publish(m.topic, m.payload, { requireSubscriber: true });
    } catch (err) {
      const permanent = isKioskError(err) && (err.code === 'E_NOT_AUTHORIZED' || err.details?.permanent === true);
      if (!permanent) return 'transient';
      const code = isKioskError(err) ? err.code : 'E_TRANSPORT';
      const reason = (err as Error).message;
      await outbox.park(m.id, reason);
      logger.error({ jti: m.jti, topic: m.topic, code, reason }, 'broker refused a result; parked in the outbox for the operator');
      this.events.emit('parked', { id: m.id, jti: m.jti, reason, code });
      return 'parked';
    } finally {
      this.inFlight.delete(m.jti);
    }
    await outbox.ack(m.id);
    this.events.emit('delivered', { id: m.id, jti: m.jti });
    return 'ok';
  }
}
