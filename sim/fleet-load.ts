/**
 * The run phase of a fleet simulation: the kiosks hand their signed results to their outboxes, and
 * while the verifier hosts work through them a controller ticking every 100 ms SIGKILLs one host once
 * a share of the results is verified (and starts it again later) and releases the replayer's captured
 * tokens in step with the progress, half captured in flight (not yet verified: the copies race the
 * kiosk's own publish and each other) and half captured after verification.
 */
import type { SimKiosk } from './fleet-kiosks.js';
import type { SentResult } from './fleet-store.js';
import type { FleetTally } from './fleet-tally.js';
import { TokenReplayer, type CapturedToken, type ReplayReport } from './replayer.js';
import type { VerifierPool } from './verifier-pool.js';

/** What happened to the host that was SIGKILLed. */
export interface KillReport {
  /** 0-based slot; its client id is `verifier-<slot+1>`. */
  slot: number;
  /** Run time at the SIGKILL, and results verified by then (all hosts). */
  atMs: number;
  verifiedBefore: number;
  /** From the SIGKILL until the new process was subscribed again; of which the new process's start (fork to subscribed). */
  downMs: number;
  startMs: number;
  /** Results the restarted process accepted (from its persistent session, then its share). */
  acceptedAfterRestart: number;
  /** Whether the new process reported itself subscribed in time (else downMs is when the run gave up waiting). */
  subscribed: boolean;
  /** Why the kill or the restart failed, if it did. */
  error?: string;
}

/** Options of {@link runFleetLoad}. */
export interface FleetLoadOptions {
  sims: SimKiosk[];
  /** Every signed result, `kiosk` indexing `sims`. */
  sent: (SentResult & { token: string; topic: string; kiosk: number })[];
  tally: FleetTally;
  pool: VerifierPool;
  expected: number;
  stallMs: number;
  killAt?: number;
  restartAfterMs: number;
  replays: number;
}

/** Runs until every result was handled (or nothing moved for `stallMs`), then lets the kill and the replays finish. */
export async function runFleetLoad(o: FleetLoadOptions): Promise<{ runMs: number; samples: number[]; kill?: KillReport; replays?: ReplayReport }> {
  const { tally, pool } = o;
  const replayer = o.replays > 0 ? new TokenReplayer({ pool, onOutcome: (t, out) => record(t, out.status) }) : undefined;
  const record = (t: CapturedToken, status: string) => {
    if (status === 'accepted') tally.accept(t.jti, 'replay');
    else if (status === 'duplicate') tally.duplicate(t.jti, 'replay');
  };
  // Captures in a shuffled order, so that they spread over kiosks and over the run.
  const order = o.sent.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const captured = new Set<number>();
  const cursors = { inFlight: 0, verified: 0, any: 0 };
  // The wanted kind (in flight or verified) first; when none is left, any result not captured yet.
  const capture = (inFlight: boolean): CapturedToken | undefined => {
    const take = (key: keyof typeof cursors, fits: (i: number) => boolean): CapturedToken | undefined => {
      while (cursors[key] < order.length) {
        const i = order[cursors[key]++];
        if (captured.has(i) || !fits(i)) continue;
        captured.add(i);
        return { jti: o.sent[i].jti, token: o.sent[i].token, inFlight: !tally.isHandled(o.sent[i].jti) };
      }
      return undefined;
    };
    return take(inFlight ? 'inFlight' : 'verified', (i) => tally.isHandled(o.sent[i].jti) !== inFlight) ?? take('any', () => true);
  };
  let released = 0;
  const release = (n: number) => {
    for (; released < n; released++) {
      // No host up (the only one is restarting): the next tick tries again.
      if (!replayer?.ready()) return;
      const t = capture(released % 2 === 0);
      if (!t) return;
      tally.replay(t.jti);
      replayer.replay(t);
    }
  };

  const start = Date.now();
  for (const r of o.sent) await o.sims[r.kiosk].outbox.put({ jti: r.jti, topic: r.topic, payload: Buffer.from(r.token) });

  let kill: KillReport | undefined;
  let restartBase: number | undefined;
  let killTask: Promise<void> | undefined;
  const samples: number[] = [];
  let last = 0;
  let lastProgress = Date.now();
  for (let tick = 1; tally.handledCount < o.expected; tick++) {
    await new Promise((r) => setTimeout(r, 100));
    const handled = tally.handledCount;
    if (o.killAt !== undefined && !killTask && handled >= o.killAt * o.expected) {
      const k: KillReport = { slot: 0, atMs: Date.now() - start, verifiedBefore: handled, downMs: 0, startMs: 0, acceptedAfterRestart: 0, subscribed: false };
      kill = k;
      killTask = (async () => {
        const t0 = Date.now();
        await pool.kill(k.slot);
        await new Promise((r) => setTimeout(r, o.restartAfterMs));
        // Counted once the run is over: everything the new process accepts.
        restartBase = tally.acceptedBy(k.slot);
        const t1 = Date.now();
        k.subscribed = await pool.restart(k.slot);
        k.startMs = Date.now() - t1;
        k.downMs = Date.now() - t0;
      })().catch((err: Error) => {
        k.error = err.message;
      });
    }
    if (replayer) release(Math.min(o.replays, Math.ceil((o.replays * handled) / (0.8 * o.expected))));
    if (handled > last) lastProgress = Date.now();
    if (tick % 10 === 0) {
      samples.push(handled - last);
      last = handled;
    }
    if (Date.now() - lastProgress > o.stallMs) break;
  }
  const runMs = Date.now() - start;
  if (samples.length === 0 || last < tally.handledCount) samples.push(tally.handledCount - last);
  await killTask;
  // Whatever was not released yet goes now (captured after verification).
  release(o.replays);
  await replayer?.settle();
  if (kill && restartBase !== undefined) kill.acceptedAfterRestart = tally.acceptedBy(kill.slot) - restartBase;
  return { runMs, samples, ...(kill ? { kill } : {}), ...(replayer ? { replays: replayer.report() } : {}) };
}
