/**
 * A replaying attacker in the fleet simulation: it holds copies of real signed results captured from
 * the run and hands each one to several verifier hosts at the same moment. Only the shared store can
 * stop a token that reaches two hosts at once: every host's stateless checks (chain, signature,
 * claims, policy) pass for a genuine token, so the nonce consumption must accept it exactly once.
 *
 * How the copies reach the hosts: through the hosts' test hook (sim/verifier-main.ts `replay`), i.e.
 * straight into the same `ResultVerifier` and store connection the host's MQTT consumer uses, sent to
 * every host in one synchronous loop so the copies meet at the store within microseconds. Not through
 * the broker, because there an outsider cannot publish under the victim kiosk's topic (its ACL, tested
 * by sim/attacker.ts's `foreign_result`), and copies published under the attacker's own topic would
 * arrive one by one in the shared group's round robin rather than at once. The hook stands for the
 * ways the same token really does reach several hosts together: an at-least-once redelivery to
 * another group member after a host dies (this run's SIGKILL), a kiosk re-publishing after a lost
 * PUBACK, a clustered broker redispatching a shared-group message, or a second ingest path (an HTTP
 * fallback, a bridge) that an attacker with a captured token can reach.
 */
import type { VerifierPool } from './verifier-pool.js';
import type { SimOutcome } from './verifier-main.js';

/** A signed result the attacker captured, and whether the carrier had already verified it then. */
export interface CapturedToken {
  jti: string;
  token: string;
  /** Captured before any verifier had consumed its nonce (the copies race the kiosk's own publish). */
  inFlight: boolean;
}

/** What the replays came to, by copy. */
export interface ReplayReport {
  /** Captured tokens replayed. */
  tokens: number;
  /** Of them, captured in flight. */
  inFlight: number;
  /** Copies handed to hosts. */
  copies: number;
  /**
   * Outcome of every copy: `accepted`, `duplicate` (the store had the nonce consumed by this very result),
   * `rejected:<reason>`, `no_answer` (handed to a host that was SIGKILLed before it answered).
   */
  outcomes: Record<string, number>;
}

/** Hands captured tokens to several live hosts at once and counts the outcomes. */
export class TokenReplayer {
  private readonly report_: ReplayReport = { tokens: 0, inFlight: 0, copies: 0, outcomes: {} };
  private readonly inProgress = new Set<Promise<void>>();
  private turn = 0;

  constructor(
    private readonly deps: {
      pool: VerifierPool;
      /** Copies per token (default: one per host, at least 2); spread over distinct live hosts where there are enough. */
      copies?: number;
      /** Told of every copy's outcome (the fleet counts acceptances over every path). */
      onOutcome: (t: CapturedToken, o: SimOutcome) => void;
    },
  ) {}

  /** Whether any host is up to take a copy now (none while the only host is restarting). */
  ready(): boolean {
    return this.live().length > 0;
  }

  /** Sends `t` to its copies' hosts now (call only when {@link ready}); the outcomes arrive later (see {@link settle}). */
  replay(t: CapturedToken): void {
    const { pool } = this.deps;
    const live = this.live();
    if (live.length === 0) throw new Error('no verifier host is up to replay to');
    const copies = this.deps.copies ?? Math.max(2, pool.size);
    this.report_.tokens++;
    if (t.inFlight) this.report_.inFlight++;
    const start = this.turn++;
    // Every copy is handed over before any answer can come back: they meet at the store together.
    const answers = Array.from({ length: copies }, (_, k) => pool.replay(live[(start + k) % live.length], t.token));
    this.report_.copies += copies;
    const done = Promise.all(answers).then((outcomes) => {
      for (const o of outcomes) {
        const key = o.status !== 'rejected' ? o.status : o.reason === 'no_answer' ? 'no_answer' : `rejected:${o.reason}`;
        this.report_.outcomes[key] = (this.report_.outcomes[key] ?? 0) + 1;
        this.deps.onOutcome(t, o);
      }
    });
    this.inProgress.add(done);
    void done.finally(() => this.inProgress.delete(done));
  }

  /** Resolves once every copy sent so far has its outcome. */
  async settle(): Promise<void> {
    while (this.inProgress.size > 0) await Promise.all([...this.inProgress]);
  }

  private live(): number[] {
    const { pool } = this.deps;
    return Array.from({ length: pool.size }, (_, i) => i).filter((i) => pool.isUp(i));
  }

  report(): ReplayReport {
    return { ...this.report_, outcomes: { ...this.report_.outcomes } };
  }
}
