import { EventEmitter } from 'node:events';
import { checkRoom, resolveLimits, type Outbox, type OutboxEvents, type OutboxLimits, type OutboxMessage, type OutboxStats } from './outbox.js';

/** The outbox in memory: same contract, no durability. For tests and for telemetry-only setups. */
export class MemoryOutbox implements Outbox {
  readonly events = new EventEmitter<OutboxEvents>();
  private readonly rows = new Map<number, OutboxMessage>();
  private nextId = 1;
  private readonly limits: Required<OutboxLimits>;

  constructor(private readonly options: { limits?: OutboxLimits; clock?: () => number } = {}) {
    this.limits = resolveLimits(options.limits);
  }

  async start(): Promise<void> {}
  async stop(): Promise<void> {}

  async put(m: { jti: string; topic: string; payload: Buffer }): Promise<{ id: number; inserted: boolean }> {
    const existing = [...this.rows.values()].find((r) => r.jti === m.jti);
    if (existing) return { id: existing.id, inserted: false };
    checkRoom(await this.stats(), m.payload.length, this.limits, this.events);
    const id = this.nextId++;
    this.rows.set(id, {
      id,
      jti: m.jti,
      topic: m.topic,
      payload: Buffer.from(m.payload),
      createdAt: this.options.clock?.() ?? Date.now(),
      attempts: 0,
      state: 'pending',
    });
    this.events.emit('stored', { id, jti: m.jti });
    return { id, inserted: true };
  }

  async pending(limit: number): Promise<OutboxMessage[]> {
    return (await this.list('pending')).slice(0, limit);
  }

  async attempted(id: number): Promise<void> {
    const r = this.rows.get(id);
    if (r) r.attempts += 1;
  }

  async ack(id: number): Promise<void> {
    this.rows.delete(id);
  }

  async park(id: number, reason: string): Promise<void> {
    const r = this.rows.get(id);
    if (!r) return;
    Object.assign(r, { state: 'parked', reason });
    this.events.emit('parked', { id, jti: r.jti, reason });
  }

  async expireOld(now: number): Promise<OutboxMessage[]> {
    const old = [...this.rows.values()].filter((r) => r.state === 'pending' && r.createdAt < now - this.limits.maxAgeMs);
    for (const r of old) Object.assign(r, { state: 'expired', reason: 'age limit' });
    if (old.length > 0) this.events.emit('expired', { ids: old.map((r) => r.id), jtis: old.map((r) => r.jti) });
    return old.map((r) => ({ ...r }));
  }

  async list(state: OutboxMessage['state']): Promise<OutboxMessage[]> {
    return [...this.rows.values()]
      .filter((r) => r.state === state)
      .sort((a, b) => a.id - b.id)
      .map((r) => ({ ...r }));
  }

  async stats(): Promise<OutboxStats> {
    const all = [...this.rows.values()];
    const pending = all.filter((r) => r.state === 'pending');
    return {
      pending: pending.length,
      parked: all.filter((r) => r.state === 'parked').length,
      expired: all.filter((r) => r.state === 'expired').length,
      pendingBytes: pending.reduce((n, r) => n + r.payload.length, 0),
    };
  }
}
