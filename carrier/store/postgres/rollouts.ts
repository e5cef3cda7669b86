/**
 * Rollout state in PostgreSQL. `begin` runs under the rollout's advisory lock (two runners starting
 * the same rollout create it once); `markSent`, `unmarkSent`, `markTimedOut` and `abort` are single
 * conditional UPDATEs (the condition decides, so two hosts cannot both send a job); `report` reads the
 * job's row FOR UPDATE and writes it in one READ COMMITTED transaction, so reports of one job apply
 * one at a time against the latest committed state (forward only, as in the SQLite store).
 */
import { KioskError } from '../../../base/errors.js';
import type { UpdateState } from '../../../protocol/update.js';
import type { KioskRolloutState, KioskStatus, RolloutRules } from '../../rollout/plan.js';
import {
  type KioskRow,
  type ReportOutcome,
  type RolloutRecord,
  type RolloutRelease,
  jobIdFor,
  kioskStatusOf,
  reportMovesForward,
} from '../../rollout/store.js';
import type { RolloutStoreApi } from '../types.js';
import { LOCK_NS, type PgContext, type Sql, type TransactionSql, num, optNum } from './pool.js';

/** Rollouts in one PostgreSQL database. */
export class PgRolloutStore implements RolloutStoreApi {
  constructor(private readonly ctx: PgContext) {}

  async begin(id: string, release: RolloutRelease, targets: readonly string[], rules: RolloutRules, now: number): Promise<RolloutRecord> {
    return this.ctx.locked('begin', LOCK_NS.rollout, id, async (tx) => {
      const [row] = await tx`SELECT release_sha256 FROM rollouts WHERE id = ${id}`;
      if (row && row.release_sha256 !== release.sha256)
        throw new KioskError('E_USAGE', 'this rollout id was used for another release', {
          subject: id,
          details: { stored: row.release_sha256 },
        });
      if (!row) {
        await tx`INSERT INTO rollouts (id, release, release_sha256, kind, version, rules, created)
          VALUES (${id}, ${release.token}, ${release.sha256}, ${release.kind}, ${release.version}, ${JSON.stringify(rules)}, ${now})`;
        const kiosks = [...targets];
        const jobs = kiosks.map((k) => jobIdFor(id, k));
        if (kiosks.length)
          await tx`INSERT INTO rollout_kiosks (rollout, kiosk, ord, job_id, state)
            SELECT ${id}, k, (o - 1)::int, j, 'pending' FROM unnest(${kiosks}::text[], ${jobs}::text[]) WITH ORDINALITY AS u(k, j, o)`;
      }
      return (await this.read(tx, id))!;
    });
  }

  async get(id: string): Promise<RolloutRecord | undefined> {
    return this.ctx.run('read rollout', (sql) => this.read(sql, id));
  }

  private async read(sql: Sql | TransactionSql, id: string): Promise<RolloutRecord | undefined> {
    const [r] = await sql`SELECT release, release_sha256, kind, version, rules, created, aborted, aborted_wave FROM rollouts WHERE id = ${id}`;
    if (!r) return undefined;
    const targets = (await sql`SELECT kiosk FROM rollout_kiosks WHERE rollout = ${id} ORDER BY ord`).map((k) => k.kiosk as string);
    return {
      id,
      release: { token: r.release, sha256: r.release_sha256, kind: r.kind, version: Number(r.version) },
      targets,
      rules: JSON.parse(r.rules as string) as RolloutRules,
      createdAt: num(r.created),
      ...(r.aborted !== null ? { aborted: { reason: r.aborted as string, wave: Number(r.aborted_wave ?? 0) } } : {}),
    };
  }

  async kiosks(id: string): Promise<Map<string, KioskStatus>> {
    const rows = await this.ctx.run(
      'read kiosks',
      (sql) => sql`SELECT kiosk, wave, state, reason, sent_at, updated_at FROM rollout_kiosks WHERE rollout = ${id}`,
    );
    return new Map(
      rows.map((r) => {
        const row: KioskRow = {
          kiosk: r.kiosk,
          wave: r.wave ?? null,
          state: r.state as KioskRolloutState,
          reason: r.reason ?? null,
          sent_at: optNum(r.sent_at) ?? null,
          updated_at: optNum(r.updated_at) ?? null,
        };
        return [row.kiosk, kioskStatusOf(row)];
      }),
    );
  }

  async jobKiosk(id: string, jobId: string): Promise<string | undefined> {
    const [r] = await this.ctx.run('read job', (sql) => sql`SELECT kiosk FROM rollout_kiosks WHERE rollout = ${id} AND job_id = ${jobId}`);
    return r?.kiosk as string | undefined;
  }

  async markSent(id: string, kioskId: string, wave: number, now: number): Promise<boolean> {
    const rows = await this.ctx.run(
      'mark sent',
      (sql) => sql`UPDATE rollout_kiosks SET state = 'sent', wave = ${wave}, sent_at = ${now}, updated_at = ${now}
        WHERE rollout = ${id} AND kiosk = ${kioskId} AND state = 'pending' RETURNING kiosk`,
    );
    return rows.length === 1;
  }

  async unmarkSent(id: string, kioskId: string): Promise<void> {
    await this.ctx.run(
      'unmark sent',
      (sql) => sql`UPDATE rollout_kiosks SET state = 'pending', wave = NULL, sent_at = NULL, updated_at = NULL
        WHERE rollout = ${id} AND kiosk = ${kioskId} AND state = 'sent'`,
    );
  }

  async report(id: string, jobId: string, state: UpdateState, reason: string | undefined, now: number): Promise<ReportOutcome> {
    return this.ctx.run(
      'report',
      (sql) =>
        sql.begin(async (tx): Promise<ReportOutcome> => {
          const [row] = await tx`SELECT state, reason FROM rollout_kiosks WHERE rollout = ${id} AND job_id = ${jobId} FOR UPDATE`;
          if (!row) return 'unknown_job';
          if (!reportMovesForward({ state: row.state as KioskRolloutState, reason: row.reason ?? null }, state)) return 'ignored';
          // A report for a job whose publish seemed to fail: the kiosk has it all the same; its timeout runs from now.
          await tx`UPDATE rollout_kiosks SET state = ${state}, reason = ${reason ?? null}, updated_at = ${now}, sent_at = COALESCE(sent_at, ${now})
          WHERE rollout = ${id} AND job_id = ${jobId}`;
          return 'applied';
        }) as Promise<ReportOutcome>,
    );
  }

  async markTimedOut(id: string, kioskIds: readonly string[], now: number): Promise<void> {
    if (!kioskIds.length) return;
    await this.ctx.run(
      'mark timed out',
      (sql) => sql`UPDATE rollout_kiosks SET state = 'failed', reason = 'timeout', updated_at = ${now}
        WHERE rollout = ${id} AND kiosk = ANY(${[...kioskIds]}::text[]) AND state NOT IN ('pending', 'committed', 'rolled_back', 'failed')`,
    );
  }

  async abort(id: string, reason: string, wave: number): Promise<void> {
    await this.ctx.run('abort', (sql) => sql`UPDATE rollouts SET aborted = ${reason}, aborted_wave = ${wave} WHERE id = ${id} AND aborted IS NULL`);
  }

  /** The pool belongs to the set of stores; CarrierStores.close() ends it. */
  async stop(): Promise<void> {}
}
