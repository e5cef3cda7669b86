/**
 * The daemon's durable record (SQLite, `<stateDir>/results.db`): each signed result's verdict and
 * what happened to its dispense, and whether the kiosk is out of service. A dispense is claimed in
 * one transaction, so a result dispenses at most once, across restarts too.
 */
import type Database from 'better-sqlite3';
import { KioskError } from '../../base/errors.js';
import { openSqlite } from '../../base/sqlite.js';

/** Why an authorisation cannot dispense. */
export type ClaimRefusal = 'unknown_result' | 'not_accepted' | 'expired' | 'already_used';

export class Ledger {
  private db?: Database.Database;

  constructor(private readonly options: { path: string; now?: () => number }) {}

  async start(): Promise<void> {
    try {
      const db = openSqlite(this.options.path, {
        createDir: true,
        durable: true,
        schema: `CREATE TABLE IF NOT EXISTS results (jti TEXT PRIMARY KEY, verdict TEXT NOT NULL, created_at INTEGER NOT NULL,
        dispense TEXT, dispense_at INTEGER, dispense_code TEXT);
        CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS used_commands (jti TEXT PRIMARY KEY, expires_at INTEGER NOT NULL)`,
      });
      this.db = db;
    } catch (err) {
      throw new KioskError('E_STORAGE', `cannot open the results ledger: ${(err as Error).message}`, { subject: this.options.path, cause: err });
    }
  }

  async stop(): Promise<void> {
    this.db?.close();
    this.db = undefined;
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  private open(): Database.Database {
    if (!this.db) throw new KioskError('E_STORAGE', 'ledger not started', { subject: this.options.path });
    return this.db;
  }

  /** Records a signed result (before it is stored in the outbox, so an authorisation never outruns it). */
  record(jti: string, verdict: string): void {
    this.open().prepare('INSERT OR IGNORE INTO results (jti, verdict, created_at) VALUES (?, ?, ?)').run(jti, verdict, this.now());
  }

  verdict(jti: string): string | undefined {
    return (this.open().prepare('SELECT verdict FROM results WHERE jti = ?').get(jti) as { verdict: string } | undefined)?.verdict;
  }

  /** Claims the dispense of `jti` if it is an accepted result younger than `withinMs` that never dispensed. */
  claim(jti: string, withinMs: number): { ok: true } | { ok: false; reason: ClaimRefusal; detail: string } {
    const db = this.open();
    return db
      .transaction(() => {
        const row = db.prepare('SELECT verdict, created_at, dispense FROM results WHERE jti = ?').get(jti) as
          | { verdict: string; created_at: number; dispense: string | null }
          | undefined;
        if (!row) return { ok: false as const, reason: 'unknown_result' as const, detail: 'no result of this device has this jti' };
        if (row.verdict !== 'accept') return { ok: false as const, reason: 'not_accepted' as const, detail: `the result's verdict is ${row.verdict}` };
        if (row.dispense !== null)
          return { ok: false as const, reason: 'already_used' as const, detail: `this result already authorised a dispense (${row.dispense})` };
        const age = this.now() - row.created_at;
        if (age > withinMs)
          return {
            ok: false as const,
            reason: 'expired' as const,
            detail: `the authorisation came ${Math.round(age / 1000)} s after the result, limit ${Math.round(withinMs / 1000)} s`,
          };
        db.prepare("UPDATE results SET dispense = 'claimed', dispense_at = ? WHERE jti = ?").run(this.now(), jti);
        return { ok: true as const };
      })
      .immediate();
  }

  /** The outcome of a claimed dispense. */
  finish(jti: string, outcome: 'dispensed' | 'failed', code?: string): void {
    this.open()
      .prepare('UPDATE results SET dispense = ?, dispense_at = ?, dispense_code = ? WHERE jti = ?')
      .run(outcome, this.now(), code ?? null, jti);
  }

  /**
   * Records a carrier command's `jti` as used until `expiresAtMs` (after which its token is refused
   * as expired anyway, so the row is dropped); false when it was used before. One transaction.
   */
  useCommand(jti: string, expiresAtMs: number): boolean {
    const db = this.open();
    return db
      .transaction(() => {
        db.prepare('DELETE FROM used_commands WHERE expires_at < ?').run(this.now());
        return db.prepare('INSERT OR IGNORE INTO used_commands (jti, expires_at) VALUES (?, ?)').run(jti, expiresAtMs).changes === 1;
      })
      .immediate();
  }

  /** A persisted flag (out of service survives a restart). */
  getState(key: string): string | undefined {
    return (this.open().prepare('SELECT value FROM state WHERE key = ?').get(key) as { value: string } | undefined)?.value;
  }

  setState(key: string, value: string | undefined): void {
    if (value === undefined) this.open().prepare('DELETE FROM state WHERE key = ?').run(key);
    else this.open().prepare('INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value);
  }
}
