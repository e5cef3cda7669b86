/**
 * Where daemon events wait for the broker's PUBACK: appended before they are published, removed only
 * after it. Bounded by a count: past it the oldest are dropped and counted, so a kiosk offline for
 * weeks keeps its newest events and says how many it lost. The SQLite queue (sqlite-event-queue.ts)
 * keeps them and the drop count across restarts and power loss; this file's memory queue is for tests
 * and for daemons without a state directory.
 *
 * The calls are synchronous on purpose (better-sqlite3 is): an event is stored by the time
 * `bus.emit` returns, so a tamper alarm raised just before the power goes is on disk.
 */
import { KioskError } from '../../base/errors.js';

/** One stored event: its JSON text and its place in the queue. */
export interface QueuedEvent {
  /** Increases with every append (never reused, also across restarts), so it orders the queue. */
  id: number;
  payload: string;
}

/** Which stored rows to drop to get back to `max`: rows not kept first (oldest first), then the oldest kept. */
export function rowsToDrop<T extends { id: number; keep: boolean }>(rows: readonly T[], max: number): number[] {
  const over = rows.length - max;
  if (over <= 0) return [];
  const byAge = [...rows].sort((a, b) => a.id - b.id);
  const plain = byAge.filter((r) => !r.keep).slice(0, over);
  const kept = byAge.filter((r) => r.keep).slice(0, over - plain.length);
  return [...plain, ...kept].map((r) => r.id).sort((a, b) => a - b);
}

/**
 * A bounded FIFO of serialised events. At the bound, events appended as `keep` (alarms: tamper,
 * out of service, dispense outcomes) are dropped only after every other event has gone: a camera that
 * keeps restarting through a long outage must not push the enclosure alarm out of the queue.
 */
export interface EventQueue {
  /** Opens the storage; E_STORAGE naming the file when it cannot. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /**
   * Stores an event after the others; past the limit the oldest are dropped and counted, those not
   * marked `keep` first. E_STORAGE when the disk fails.
   */
  append(payload: string, options?: { keep?: boolean }): { id: number; dropped: number };
  /** The oldest `limit` events, oldest first. */
  peek(limit: number): QueuedEvent[];
  /** Removes an event (its PUBACK arrived); an id no longer there is ignored. */
  remove(id: number): void;
  /** Removes an event that will never be sent (the broker refused it for good) and counts it as dropped. */
  discard(id: number): void;
  /** Events waiting. */
  readonly size: number;
  /** Events dropped (bound reached, or refused by the broker) since the queue was first created. */
  readonly dropped: number;
}

/** Most events kept while the broker is unreachable. */
export const DEFAULT_MAX_EVENTS = 1000;

/** The count limit, checked at construction. */
export function resolveMaxEvents(max: number = DEFAULT_MAX_EVENTS): number {
  if (!Number.isInteger(max) || max <= 0)
    throw new KioskError('E_CONFIG_INVALID', 'the event queue limit must be a positive integer', { subject: 'maxEvents' });
  return max;
}

/** The queue in memory: same contract, nothing survives the process. */
export class MemoryEventQueue implements EventQueue {
  private rows: Array<QueuedEvent & { keep: boolean }> = [];
  private nextId = 1;
  private droppedCount = 0;
  private readonly max: number;

  constructor(options: { maxEvents?: number } = {}) {
    this.max = resolveMaxEvents(options.maxEvents);
  }

  async start(): Promise<void> {}
  async stop(): Promise<void> {}

  append(payload: string, options: { keep?: boolean } = {}): { id: number; dropped: number } {
    const id = this.nextId++;
    this.rows.push({ id, payload, keep: options.keep === true });
    const drop = new Set(rowsToDrop(this.rows, this.max));
    this.rows = this.rows.filter((r) => !drop.has(r.id));
    this.droppedCount += drop.size;
    return { id, dropped: drop.size };
  }

  peek(limit: number): QueuedEvent[] {
    return this.rows.slice(0, limit).map(({ id, payload }) => ({ id, payload }));
  }

  remove(id: number): void {
    this.rows = this.rows.filter((r) => r.id !== id);
  }

  discard(id: number): void {
    const before = this.rows.length;
    this.remove(id);
    this.droppedCount += before - this.rows.length;
  }

  get size(): number {
    return this.rows.length;
  }

  get dropped(): number {
    return this.droppedCount;
  }
}
