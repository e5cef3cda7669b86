/**
 * The durable outbox: a result is stored before it is published and removed only after its PUBACK.
 * Limits never drop anything silently: a full outbox refuses new messages (E_OUTBOX_FULL and a
 * `full` event), a message past its age limit is set aside as `expired` (kept, with an event), a
 * message the broker refuses is `parked` (kept, with an event) instead of being retried forever.
 */
import type { EventEmitter } from 'node:events';
import { KioskError } from '../../base/errors.js';

/** One stored message. */
export interface OutboxMessage {
  id: number;
  /** Unique result id; putting the same jti twice stores it once. */
  jti: string;
  topic: string;
  payload: Buffer;
  /** Epoch ms when stored. */
  createdAt: number;
  attempts: number;
  state: 'pending' | 'parked' | 'expired';
  /** Why it was parked or expired. */
  reason?: string;
}

/** Counts per state and bytes of pending messages. */
export interface OutboxStats {
  pending: number;
  parked: number;
  expired: number;
  pendingBytes: number;
}

/** Limits of an outbox. */
export interface OutboxLimits {
  /** Most pending messages (default 10000). */
  maxMessages?: number;
  /** Most pending payload bytes (default 64 MiB). */
  maxBytes?: number;
  /** Age after which a pending message is set aside as expired, in ms (default 7 days). */
  maxAgeMs?: number;
}

/** Events an outbox emits; payloads carry ids and reasons, never message contents. */
export interface OutboxEvents {
  full: [{ pending: number; pendingBytes: number; limit: 'messages' | 'bytes' }];
  expired: [{ ids: number[]; jtis: string[] }];
  parked: [{ id: number; jti: string; reason: string }];
  stored: [{ id: number; jti: string }];
}

/** A durable queue of messages waiting for their PUBACK. */
export interface Outbox {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Stores a message (idempotent by jti); throws E_OUTBOX_FULL at a limit, E_STORAGE when the disk fails. */
  put(message: { jti: string; topic: string; payload: Buffer }): Promise<{ id: number; inserted: boolean }>;
  /** Pending messages, oldest first. */
  pending(limit: number): Promise<OutboxMessage[]>;
  /** Counts a publish attempt. */
  attempted(id: number): Promise<void>;
  /** Removes a message whose PUBACK arrived. */
  ack(id: number): Promise<void>;
  /** Sets a message aside (kept, not retried) with the broker's reason. */
  park(id: number, reason: string): Promise<void>;
  /** Sets aside pending messages older than the age limit; returns them. */
  expireOld(now: number): Promise<OutboxMessage[]>;
  /** Messages in a state (for operators: parked and expired ones are listed, never lost). */
  list(state: OutboxMessage['state']): Promise<OutboxMessage[]>;
  stats(): Promise<OutboxStats>;
  readonly events: EventEmitter<OutboxEvents>;
}

/** Resolved limits with defaults. */
export function resolveLimits(l: OutboxLimits = {}): Required<OutboxLimits> {
  const r = { maxMessages: l.maxMessages ?? 10_000, maxBytes: l.maxBytes ?? 64 * 1024 * 1024, maxAgeMs: l.maxAgeMs ?? 7 * 86_400_000 };
  for (const [k, v] of Object.entries(r)) {
    if (!Number.isFinite(v) || v <= 0) throw new KioskError('E_CONFIG_INVALID', `outbox limit must be a positive number`, { subject: k });
  }
  return r;
}

/** Throws E_OUTBOX_FULL (after emitting `full`) when one more message of `bytes` would pass a limit. */
export function checkRoom(stats: OutboxStats, bytes: number, limits: Required<OutboxLimits>, events: EventEmitter<OutboxEvents>): void {
  const limit = stats.pending + 1 > limits.maxMessages ? 'messages' : stats.pendingBytes + bytes > limits.maxBytes ? 'bytes' : undefined;
  if (!limit) return;
  events.emit('full', { pending: stats.pending, pendingBytes: stats.pendingBytes, limit });
  throw new KioskError('E_OUTBOX_FULL', `outbox is full (${limit} limit); the result was not stored`, {
    details: { pending: stats.pending, pendingBytes: stats.pendingBytes },
  });
}
