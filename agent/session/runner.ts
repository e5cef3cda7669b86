/**
 * The thin runner: feeds frames through the face engine into the pure session machine and
 * executes its effects. Embeddings live here only, for the length of one session: the machine
 * gets similarities, the result gets neither.
 *
 * Delivery:
 * - `every` (default; replay as fast as possible): every frame of the source, in order; the source
 *   waits for the engine (backpressure).
 * - `latest` (a live camera, or a replay paced at its frame rate): a bounded slot of one frame.
 *   A frame that arrives while the engine is still busy replaces the one waiting, which is
 *   dropped and counted (`timings.framesDropped`): frames are dropped, never queued, so the
 *   session never lags behind the customer.
 */
import type { FaceEngine } from '../../models/engine.js';
import { cosineSimilarity } from '../../models/engine.js';
import type { RgbImage } from '../../base/rgb-image.js';
import type { FrameSignals } from '../../models/types.js';
import { deadline } from '../../base/clock.js';
import { toKioskError, type KioskError } from '../../base/errors.js';
import type { AbuseLimiter } from './abuse-limiter.js';
import { resolveSessionConfig, type SessionConfig } from './config.js';
import { createSession, step } from './machine.js';
import { finish } from './result.js';
import { median } from './stats.js';
import type { SessionState } from './state.js';
import { Transition } from './transition.js';
import type { CancelReason, ChallengePlan, ReasonCode, SessionEffect, SessionEvent, SessionResult, Verdict } from './types.js';

export interface RunnerFrame {
  index: number;
  timeMs: number;
  image: RgbImage;
}

export type FrameDelivery = 'every' | 'latest';

export interface RunnerDeps {
  engine: Pick<FaceEngine, 'analyze' | 'decide' | 'info'>;
  /** Frames in order (a `FrameSource.frames()` generator, a paced replay, a camera). */
  frames: AsyncIterable<RunnerFrame>;
  /** The reference template (L2-normalised embedding of the ID portrait). Never copied out. */
  reference: Float32Array;
  /** Identifier of the reference for the abuse limit (see `ReferencePortrait.templateId`). */
  referenceId?: string;
  /** Failed attempts per reference; when given with `referenceId`, a blocked reference is refused. */
  abuse?: AbuseLimiter;
  /** Called with every prompt and progress effect, for the customer screen. */
  onEffect?: (effect: SessionEffect) => void;
  /** Aborting cancels the session; a `CancelReason` string as the abort reason is kept, anything else is `operator`. */
  signal?: AbortSignal;
  /** Wall clock for the timings, ms. */
  now?: () => number;
  /**
   * A decision-path call failed or did not answer within `decisionTimeoutMs` (the session goes on
   * without it); called once per failure with the error, so the caller can log and count it.
   */
  onDecisionFailed?: (error: KioskError) => void;
}

export interface RunOptions {
  plan: ChallengePlan;
  config?: Partial<SessionConfig>;
  /** See the module doc; default `every`. */
  delivery?: FrameDelivery;
}

const CANCEL_REASONS: readonly CancelReason[] = ['tamper', 'customer_left', 'operator', 'timeout', 'shutdown'];

/** A one-frame mailbox: `put` replaces (and counts a drop), `take` waits. */
class LatestSlot<T> {
  private item: T | null = null;
  private ended = false;
  private error: unknown = null;
  private waiter: (() => void) | null = null;
  received = 0;
  dropped = 0;

  /** Once closed, late frames are ignored (not counted as received or dropped). */
  closed = false;

  get pending(): number {
    return this.item === null ? 0 : 1;
  }

  put(x: T): void {
    if (this.closed) return;
    this.received++;
    if (this.item !== null) this.dropped++;
    this.item = x;
    this.wake();
  }

  end(error?: unknown): void {
    this.ended = true;
    if (error !== undefined) this.error = error;
    this.wake();
  }

  wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  /** The latest frame, or null at the end of the source (or once `stop()` says so). */
  async take(stop: () => boolean): Promise<T | null> {
    for (;;) {
      if (stop()) return null;
      if (this.item !== null) {
        const x = this.item;
        this.item = null;
        return x;
      }
      if (this.error !== null) throw this.error;
      if (this.ended) return null;
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
      });
    }
  }
}

/** Frames of `source` through a latest-frame slot, read by a pump that never waits for the engine. */
function latestOf(source: AsyncIterable<RunnerFrame>, aborted: () => boolean, signal?: AbortSignal) {
  const slot = new LatestSlot<RunnerFrame>();
  const it = source[Symbol.asyncIterator]();
  let stopped = false;
  const onAbort = () => slot.wake();
  signal?.addEventListener('abort', onAbort, { once: true });
  const pump = (async () => {
    try {
      for (;;) {
        const n = await it.next();
        if (n.done) break;
        if (stopped) return;
        slot.put(n.value);
      }
      slot.end();
    } catch (err) {
      slot.end(err);
    }
  })();
  return {
    slot,
    async *frames(): AsyncGenerator<RunnerFrame> {
      for (;;) {
        const f = await slot.take(aborted);
        if (!f) return;
        yield f;
      }
    },
    async close(): Promise<void> {
      stopped = true;
      slot.closed = true;
      signal?.removeEventListener('abort', onAbort);
      // The pump may be waiting for the next camera frame: give it one frame time, then let it go.
      await Promise.race([pump, new Promise((r) => setTimeout(r, 200))]);
      await Promise.race([Promise.resolve(it.return?.()).catch(() => undefined), new Promise((r) => setTimeout(r, 200))]);
    },
  };
}

function summary(xs: number[]): { median: number; p95: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  const r = (x: number) => Math.round(x * 10) / 10;
  return { median: r(median(s) ?? 0), p95: r(s[Math.min(s.length - 1, Math.floor(0.95 * s.length))] ?? 0), max: r(s[s.length - 1] ?? 0) };
}

/** The result of a session that was not run (the abuse limit, a document that failed its step): the plan, no step done. */
export function resultWithoutSession(options: Pick<RunOptions, 'plan' | 'config'>, verdict: Verdict, reasons: ReasonCode[]): SessionResult {
  return finish(new Transition(createSession({ plan: options.plan, config: options.config, startMs: 0 })), verdict, reasons).state.result!;
}

/**
 * Runs one session to its result. When the frames end before a verdict, the machine is told
 * (`end`): a recording that stops mid-challenge is a `challenge_timeout`, never an accept.
 */
export async function runSession(deps: RunnerDeps, options: RunOptions): Promise<SessionResult> {
  const now = deps.now ?? (() => performance.now());
  const wallStart = now();
  const cfg = resolveSessionConfig(options.config);
  const models = () => deps.engine.info().models.map((m) => ({ ...m }));

  if (deps.abuse && deps.referenceId !== undefined) {
    const check = deps.abuse.check(deps.referenceId);
    if (!check.allowed) return { ...resultWithoutSession(options, 'reject', ['attempts_exceeded']), models: models(), retryAfterMs: check.retryAfterMs };
  }

  let state: SessionState | null = null;
  let anchor: Float32Array | null = null;
  let lastMs = 0;
  const analyzeMs: number[] = [];
  const decideMs: number[] = [];
  // Wall time at which the runner took the frame being processed (before its analysis).
  let frameWall = 0;
  let lastStepWall: number | null = null;
  let doneWall: number | null = null;

  const feed = async (event: SessionEvent, image?: RgbImage, signals?: FrameSignals): Promise<void> => {
    const before = state!;
    const out = step(before, event);
    state = out.state;
    if (before.challengeDoneMs === null && state.challengeDoneMs !== null) lastStepWall = frameWall;
    for (const effect of out.effects) {
      if (effect.type === 'done') doneWall = now();
      if (effect.type === 'prompt' || effect.type === 'progress') deps.onEffect?.(effect);
      if (effect.type !== 'capture_for_decision' || !image || !signals) continue;
      let answer: SessionEvent;
      try {
        const t0 = now();
        const d = await deadline(deps.engine.decide(image, signals.faces[effect.faceIndex]), cfg.decisionTimeoutMs, 'the decision path (engine.decide)');
        decideMs.push(now() - t0);
        if (effect.purpose === 'anchor') anchor = d.embedding;
        answer = {
          type: 'decision',
          tMs: event.tMs,
          frameIndex: effect.frameIndex,
          attackScore: d.attackScore,
          referenceSimilarity: cosineSimilarity(d.embedding, deps.reference),
          anchorSimilarity: effect.purpose === 'anchor' || !anchor ? null : cosineSimilarity(d.embedding, anchor),
        };
      } catch (err) {
        // The machine decides what a missing answer means (retry or reject); the caller logs and counts the cause.
        deps.onDecisionFailed?.(toKioskError(err, 'E_INTERNAL', 'engine.decide'));
        answer = { type: 'decision_failed', tMs: event.tMs, frameIndex: effect.frameIndex };
      }
      await feed(answer);
    }
  };

  const cancelReason = (): CancelReason => {
    const r = deps.signal?.reason;
    return typeof r === 'string' && (CANCEL_REASONS as readonly string[]).includes(r) ? (r as CancelReason) : 'operator';
  };
  const aborted = () => deps.signal?.aborted === true;

  const delivery = options.delivery ?? 'every';
  const latest = delivery === 'latest' ? latestOf(deps.frames, aborted, deps.signal) : null;
  const frames = latest ? latest.frames() : deps.frames;
  let received = 0;

  try {
    for await (const frame of frames) {
      received++;
      if (!state) state = createSession({ plan: options.plan, config: options.config, startMs: frame.timeMs });
      lastMs = Math.max(lastMs, frame.timeMs);
      if (aborted()) {
        await feed({ type: 'cancel', tMs: frame.timeMs, reason: cancelReason() });
        break;
      }
      const t0 = now();
      frameWall = t0;
      // A hung engine must not hold the session (and the kiosk) forever: the frame's analysis has a limit.
      const signals = await deadline(deps.engine.analyze(frame.image), cfg.analyzeTimeoutMs, 'face analysis of one frame (engine.analyze)');
      analyzeMs.push(now() - t0);
      await feed({ type: 'frame', tMs: frame.timeMs, index: frame.index, signals }, frame.image, signals);
      if ((state as SessionState).phase === 'done') break;
    }
    if (!state) state = createSession({ plan: options.plan, config: options.config, startMs: 0 });
    if (aborted() && (state as SessionState).phase !== 'done') await feed({ type: 'cancel', tMs: lastMs, reason: cancelReason() });
    if ((state as SessionState).phase !== 'done') await feed({ type: 'end', tMs: lastMs });
  } catch (err) {
    if (!aborted()) throw toKioskError(err, 'E_INTERNAL', 'session');
    // The source stopped because of the abort: that is a cancellation, not an error.
    if (!state) state = createSession({ plan: options.plan, config: options.config, startMs: 0 });
    if ((state as SessionState).phase !== 'done') await feed({ type: 'cancel', tMs: lastMs, reason: cancelReason() });
  } finally {
    anchor = null;
    await latest?.close();
  }
  const result = (state as SessionState).result!;
  const end = doneWall ?? now();
  if (deps.abuse && deps.referenceId !== undefined) deps.abuse.record(deps.referenceId, result);
  return {
    ...result,
    timings: {
      ...result.timings,
      // Received = analysed + dropped (+ the one frame still waiting when the session ended, if any).
      framesReceived: latest ? latest.slot.received : received,
      framesDropped: latest ? latest.slot.dropped : 0,
      analyzeMs: summary(analyzeMs),
      decideMs: decideMs.length ? (({ median: m, max }) => ({ median: m, max }))(summary(decideMs)) : null,
      lastStepToVerdictWallMs: lastStepWall === null ? null : Math.round((end - lastStepWall) * 10) / 10,
      wallMs: Math.round((end - wallStart) * 10) / 10,
    },
    models: models(),
  };
}
