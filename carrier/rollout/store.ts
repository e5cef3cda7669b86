/**
 * The rollout's durable state in SQLite: the rollout (release token, its kind, version and sha256,
 * the targets in order, the rules, the abort), and per kiosk its job id, wave, last state, reason and
 * times. A restarted `carrier rollout` opens the same rollout id and goes on from here without sending
 * a job again to a kiosk that has one. Reports arrive at least once and in any order: a state never
 * moves backwards (see {@link STATE_RANK}); a final report from the kiosk is terminal, except over the
 * carrier's own `timeout` verdict, which a late report from the kiosk replaces (the kiosk knows better).
 */
import type Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { KioskError } from '../../base/errors.js';
import { openSqlite } from '../../base/sqlite.js';
import { ROLLOUT_MIGRATIONS } from '../store/migrations/sqlite.js';
import { migrateSqlite } from '../store/sqlite/migrate.js';
import type { UpdateState } from '../../protocol/update.js';
import type { KioskRolloutState, KioskStatus, RolloutRules } from './plan.js';

/** The order states are reached in; a report ranked below the recorded state is stale. */
export const STATE_RANK: Readonly<Record<KioskRolloutState, number>> = {
  pending: 0,
  sent: 1,
  queued: 2,
  downloading: 3,
  verifying: 4,
  installing: 5,
  trial: 6,
  committed: 7,
  rolled_back: 7,
  failed: 7,
};

/** The release a rollout ships, as read from its token. */
export interface RolloutRelease {
  token: string;
  sha256: string;
  kind: 'agent' | 'models';
  version: number;
}

/** One rollout as stored. */
export interface RolloutRecord {
  id: string;
  release: RolloutRelease;
  targets: string[];
  rules: RolloutRules;
  createdAt: number;
  aborted?: { reason: string; wave: number };
}

/** What a report did: moved the state, changed nothing (duplicate, stale, after final), or named no job of this rollout. */
export type ReportOutcome = 'applied' | 'ignored' | 'unknown_job';

/** The job id of `kioskId` in rollout `rolloutId`: stable, so a resent job is the same job ([A-Za-z0-9_-]{32}). */
export function jobIdFor(rolloutId: string, kioskId: string): string {
  return createHash('sha256').update(`${rolloutId}-${kioskId}`).digest('base64url').slice(0, 32);
}

/** A kiosk's row as stored (both backends map their rows to it). */
export interface KioskRow {
  kiosk: string;
  wave: number | null;
  state: KioskRolloutState;
  reason: string | null;
  sent_at: number | null;
  updated_at: number | null;
}

/** A kiosk's status from its row. */
export function kioskStatusOf(r: KioskRow): KioskStatus {
  return {
    state: r.state,
    ...(r.wave !== null ? { wave: r.wave } : {}),
    ...(r.sent_at !== null ? { sentAt: r.sent_at } : {}),
    ...(r.updated_at !== null ? { updatedAt: r.updated_at } : {}),
    ...(r.reason !== null ? { reason: r.reason } : {}),
  };
}

/** Whether a report of `state` moves a job recorded as `row` forward (see the file's comment); every store applies the same. */
export function reportMovesForward(row: { state: KioskRolloutState; reason: string | null }, state: UpdateState): boolean {
  const carrierTimeout = row.state === 'failed' && row.reason === 'timeout';
  const final = STATE_RANK[row.state] === STATE_RANK.committed;
  return !(carrierTimeout ? STATE_RANK[state] < STATE_RANK.committed : final || STATE_RANK[state] <= STATE_RANK[row.state]);
}

/**
 * Rollouts in one SQLite file (one host); carrier/store/postgres/ has the store for many hosts. It is a
 * RolloutStoreApi (carrier/store/types.ts; checked in carrier/store/sqlite/open.ts, not imported here: a cycle).
 */
export class RolloutStore {
  private db?: Database.Database;

  constructor(private readonly path: string) {}

  private open(): Database.Database {
    if (this.db) return this.db;
    try {
      const db = openSqlite(this.path, { schema: '' });
      migrateSqlite(db, 'rollout state', this.path, ROLLOUT_MIGRATIONS);
      // WAL with synchronous=NORMAL: a commit survives a crash of the process, not a power loss, and
      // costs no fsync (one per report stalled 100 concurrent jobs by seconds). What a power loss can
      // lose is harmless: a lost `sent` mark means the same job id is sent again (the kiosk runs it
      // once); a lost report is superseded by the kiosk's next one, or counted by the kiosk timeout.
      db.pragma('synchronous = NORMAL');
      this.db = db;
      return db;
    } catch (err) {
      if (err instanceof KioskError) throw err;
      throw new KioskError('E_STORAGE', `cannot open the rollout state: ${(err as Error).message}`, { subject: this.path, cause: err });
    }
  }

  /**
   * The rollout `id`: created with `targets` (in rollout order) when new, else the stored one (its
   * targets and rules win). E_USAGE when the stored rollout ships another release.
   */
  async begin(id: string, release: RolloutRelease, targets: readonly string[], rules: RolloutRules, now: number): Promise<RolloutRecord> {
    const db = this.open();
    return db.transaction(() => {
      const row = db.prepare('SELECT release_sha256 FROM rollouts WHERE id = ?').get(id) as { release_sha256: string } | undefined;
      if (row && row.release_sha256 !== release.sha256)
        throw new KioskError('E_USAGE', 'this rollout id was used for another release', { subject: id, details: { stored: row.release_sha256 } });
      if (!row) {
        db.prepare('INSERT INTO rollouts (id, release, release_sha256, kind, version, rules, created) VALUES (?, ?, ?, ?, ?, ?, ?)').run(
          id,
          release.token,
          release.sha256,
          release.kind,
          release.version,
          JSON.stringify(rules),
          now,
        );
        const ins = db.prepare("INSERT INTO kiosks (rollout, kiosk, ord, job_id, state) VALUES (?, ?, ?, ?, 'pending')");
        targets.forEach((k, i) => ins.run(id, k, i, jobIdFor(id, k)));
      }
      return this.read(id)!;
    })();
  }

  /** The stored rollout `id`, or undefined. */
  async get(id: string): Promise<RolloutRecord | undefined> {
    return this.read(id);
  }

  private read(id: string): RolloutRecord | undefined {
    const db = this.open();
    const r = db.prepare('SELECT * FROM rollouts WHERE id = ?').get(id) as
      | {
          release: string;
          release_sha256: string;
          kind: 'agent' | 'models';
          version: number;
          rules: string;
          created: number;
          aborted: string | null;
          aborted_wave: number | null;
        }
      | undefined;
    if (!r) return undefined;
    const targets = (db.prepare('SELECT kiosk FROM kiosks WHERE rollout = ? ORDER BY ord').all(id) as { kiosk: string }[]).map((k) => k.kiosk);
    return {
      id,
      release: { token: r.release, sha256: r.release_sha256, kind: r.kind, version: r.version },
      targets,
      rules: JSON.parse(r.rules) as RolloutRules,
      createdAt: r.created,
      ...(r.aborted !== null ? { aborted: { reason: r.aborted, wave: r.aborted_wave ?? 0 } } : {}),
    };
  }

  /** Every target's status. */
  async kiosks(id: string): Promise<Map<string, KioskStatus>> {
    const rows = this.open().prepare('SELECT kiosk, wave, state, reason, sent_at, updated_at FROM kiosks WHERE rollout = ?').all(id) as KioskRow[];
    return new Map(rows.map((r) => [r.kiosk, kioskStatusOf(r)]));
  }

  /** The job of `jobId` in rollout `id`: its kiosk, or undefined when it is not one of this rollout's jobs. */
  async jobKiosk(id: string, jobId: string): Promise<string | undefined> {
    return (this.open().prepare('SELECT kiosk FROM kiosks WHERE rollout = ? AND job_id = ?').get(id, jobId) as { kiosk: string } | undefined)?.kiosk;
  }

  /**
   * Records that `kioskId`'s job is being sent in `wave`, before it is published (a restart never
   * sends it again); a second call changes nothing. False when it already had a job.
   */
  async markSent(id: string, kioskId: string, wave: number, now: number): Promise<boolean> {
    const r = this.open()
      .prepare("UPDATE kiosks SET state = 'sent', wave = ?, sent_at = ?, updated_at = ? WHERE rollout = ? AND kiosk = ? AND state = 'pending'")
      .run(wave, now, now, id, kioskId);
    return r.changes === 1;
  }

  /** Takes back {@link markSent} when the publish failed (the kiosk is pending again). */
  async unmarkSent(id: string, kioskId: string): Promise<void> {
    this.open()
      .prepare("UPDATE kiosks SET state = 'pending', wave = NULL, sent_at = NULL, updated_at = NULL WHERE rollout = ? AND kiosk = ? AND state = 'sent'")
      .run(id, kioskId);
  }

  /** Applies a kiosk's report of `jobId`: moves forward only (see the file's comment). */
  async report(id: string, jobId: string, state: UpdateState, reason: string | undefined, now: number): Promise<ReportOutcome> {
    const db = this.open();
    return db.transaction((): ReportOutcome => {
      const row = db.prepare('SELECT state, reason FROM kiosks WHERE rollout = ? AND job_id = ?').get(id, jobId) as
        | { state: KioskRolloutState; reason: string | null }
        | undefined;
      if (!row) return 'unknown_job';
      if (!reportMovesForward(row, state)) return 'ignored';
      // A report for a job whose publish seemed to fail: the kiosk has it all the same; its timeout runs from now.
      db.prepare('UPDATE kiosks SET state = ?, reason = ?, updated_at = ?, sent_at = COALESCE(sent_at, ?) WHERE rollout = ? AND job_id = ?').run(
        state,
        reason ?? null,
        now,
        now,
        id,
        jobId,
      );
      return 'applied';
    })();
  }

  /** Records the carrier's verdict on jobs that never reported a final state: failed `timeout`. */
  async markTimedOut(id: string, kioskIds: readonly string[], now: number): Promise<void> {
    const db = this.open();
    const upd = db.prepare(
      "UPDATE kiosks SET state = 'failed', reason = 'timeout', updated_at = ? WHERE rollout = ? AND kiosk = ? AND state NOT IN ('pending', 'committed', 'rolled_back', 'failed')",
    );
    db.transaction(() => {
      for (const k of kioskIds) upd.run(now, id, k);
    })();
  }

  /** Records the abort (the first one stays). */
  async abort(id: string, reason: string, wave: number): Promise<void> {
    this.open().prepare('UPDATE rollouts SET aborted = ?, aborted_wave = ? WHERE id = ? AND aborted IS NULL').run(reason, wave, id);
  }

  async stop(): Promise<void> {
    this.db?.close();
    this.db = undefined;
  }
}
