/**
 * The PostgreSQL side's plumbing: one `postgres()` pool per opened set of stores (the composition
 * root opens the stores once per process), every call wrapped so that a driver or server failure is
 * an E_STORAGE error naming the store, and transactions that take a per-subject advisory lock.
 */
import postgres, { type Sql, type TransactionSql } from 'postgres';
import { type StoreName, redactUrl, storageError } from '../errors.js';

export type { Sql, TransactionSql };

/**
 * Options of the pool; the URL carries the rest (sslmode=verify-full, sslrootcert, ...). A URL without a
 * password lets the client read PGPASSWORD or ~/.pgpass, as libpq does (keeps the secret out of argv).
 */
export interface PoolOptions {
  /** Most connections at a time (default 10). */
  max?: number;
  /** Seconds to connect before failing (default 10). */
  connectTimeoutSec?: number;
}

/** A pool for `url`; connects lazily, on the first query. */
export function createPool(url: string, options: PoolOptions = {}): Sql {
  return postgres(url, {
    max: options.max ?? 10,
    connect_timeout: options.connectTimeoutSec ?? 10,
    idle_timeout: 60,
    onnotice: false,
    connection: { application_name: 'kiosk-carrier' },
  });
}

/** Server and driver codes that mean the server is gone or refused us (details.reason of the E_STORAGE error). */
function reasonOf(err: unknown): string {
  const code = (err as { code?: string })?.code ?? '';
  if (code === '28P01' || code === '28000') return 'auth_failed';
  if (code === '3D000') return 'no_database';
  if (/^(57P0[123]|08\w{3}|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|CONNECTION_\w+|CONNECT_TIMEOUT)$/.test(code)) return 'unavailable';
  if (code === '40001' || code === '40P01') return 'conflict';
  return code || 'error';
}

/** The context every store method runs in: which store, on which database (named without its password). */
export class PgContext {
  readonly subject: string;

  constructor(
    readonly sql: Sql,
    readonly store: StoreName,
    url: string,
  ) {
    this.subject = redactUrl(url);
  }

  /** Runs `fn`, turning any failure that is not already a KioskError into E_STORAGE naming the store and `op`. */
  async run<T>(op: string, fn: (sql: Sql) => Promise<T>): Promise<T> {
    try {
      return await fn(this.sql);
    } catch (err) {
      throw storageError(this.store, op, this.subject, err, { reason: reasonOf(err), code: (err as { code?: string })?.code });
    }
  }

  /**
   * One READ COMMITTED transaction holding a transaction-scoped advisory lock on (`ns`, hash of `key`):
   * decisions that read and then write the rows of one device (or one rollout) run one at a time,
   * as SQLite's immediate transactions do, with no serialization failures to retry. A hash collision
   * only makes two unrelated keys wait for each other.
   */
  locked<T>(op: string, ns: LockNamespace, key: string, fn: (tx: TransactionSql) => Promise<T>): Promise<T> {
    return this.run(
      op,
      (sql) =>
        sql.begin(async (tx) => {
          await tx`SELECT pg_advisory_xact_lock(${ns}::int, hashtext(${key}))`;
          return fn(tx);
        }) as Promise<T>,
    );
  }
}

/** First keys of the two-key advisory locks, one per kind of subject (the migration lock uses the one-key form). */
export const LOCK_NS = { device: 0x4b01, rollout: 0x4b02 } as const;
export type LockNamespace = (typeof LOCK_NS)[keyof typeof LOCK_NS];

/** An int8 column as a number (the driver gives strings; epoch milliseconds fit a double exactly). */
export function num(v: unknown): number {
  return typeof v === 'number' ? v : Number(v);
}

/** A nullable int8 column as a number or undefined. */
export function optNum(v: unknown): number | undefined {
  return v === null || v === undefined ? undefined : num(v);
}
