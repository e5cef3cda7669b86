/**
 * The thin runner: feeds frames through the face engine into the pure session machine and
 * executes its effects. Embeddings live here only, for the length of one session: the machine
 * gets similarities, the result gets neither. Frames are processed in order, one at a time (a
 * live camera source should drop frames it cannot hand over, rather than queue them).
 */
import type { FaceEngine } from '../../models/engine.js';
import { cosineSimilarity } from '../../models/engine.js';
import type { RgbImage } from '../../models/image/rgb-image.js';
import type { FrameSignals } from '../../models/types.js';
import { toKioskError } from '../errors.js';
import type { SessionConfig } from './config.js';
import { createSession, step } from './machine.js';
import type { SessionState } from './state.js';
import type { CancelReason, ChallengePlan, SessionEffect, SessionEvent, SessionResult } from './types.js';

export interface RunnerFrame {
  index: number;
  timeMs: number;
  image: RgbImage;
}

export interface RunnerDeps {
  engine: Pick<FaceEngine, 'analyze' | 'decide' | 'info'>;
  /** Frames in order (a `FrameSource.frames()` generator, a camera). */
  frames: AsyncIterable<RunnerFrame>;
  /** The reference template (L2-normalised embedding of the ID portrait). */
  reference: Float32Array;
  /** Called with every prompt and progress effect, for the customer screen. */
  onEffect?: (effect: SessionEffect) => void;
  /** Aborting cancels the session; a `CancelReason` string as the abort reason is kept, anything else is `operator`. */
  signal?: AbortSignal;
}

export interface RunOptions {
  plan: ChallengePlan;
  config?: Partial<SessionConfig>;
}

const CANCEL_REASONS: readonly CancelReason[] = ['tamper', 'customer_left', 'operator', 'timeout', 'shutdown'];

/**
 * Runs one session to its result. When the frames end before a verdict, the machine is told
 * (`end`): a recording that stops mid-challenge is a `challenge_timeout`, never an accept.
 */
export async function runSession(deps: RunnerDeps, options: RunOptions): Promise<SessionResult> {
  let state: SessionState | null = null;
  let anchor: Float32Array | null = null;
  let lastMs = 0;

  const feed = async (event: SessionEvent, image?: RgbImage, signals?: FrameSignals): Promise<void> => {
    const out = step(state!, event);
    state = out.state;
    for (const effect of out.effects) {
      if (effect.type === 'prompt' || effect.type === 'progress') deps.onEffect?.(effect);
      if (effect.type !== 'capture_for_decision' || !image || !signals) continue;
      let answer: SessionEvent;
      try {
        const d = await deps.engine.decide(image, signals.faces[effect.faceIndex]);
        if (effect.purpose === 'anchor') anchor = d.embedding;
        answer = {
          type: 'decision',
          tMs: event.tMs,
          frameIndex: effect.frameIndex,
          attackScore: d.attackScore,
          referenceSimilarity: cosineSimilarity(d.embedding, deps.reference),
          anchorSimilarity: effect.purpose === 'anchor' || !anchor ? null : cosineSimilarity(d.embedding, anchor),
        };
      } catch {
        // The machine decides what a missing answer means (retry or reject); the cause is the engine's to log.
        answer = { type: 'decision_failed', tMs: event.tMs, frameIndex: effect.frameIndex };
      }
      await feed(answer);
    }
  };

  const cancelReason = (): CancelReason => {
    const r = deps.signal?.reason;
    return typeof r === 'string' && (CANCEL_REASONS as readonly string[]).includes(r) ? (r as CancelReason) : 'operator';
  };

  try {
    for await (const frame of deps.frames) {
      if (!state) state = createSession({ plan: options.plan, config: options.config, startMs: frame.timeMs });
      lastMs = frame.timeMs;
      if (deps.signal?.aborted) {
        await feed({ type: 'cancel', tMs: frame.timeMs, reason: cancelReason() });
        break;
      }
      const signals = await deps.engine.analyze(frame.image);
      await feed({ type: 'frame', tMs: frame.timeMs, index: frame.index, signals }, frame.image, signals);
      if ((state as SessionState).phase === 'done') break;
    }
    if (!state) state = createSession({ plan: options.plan, config: options.config, startMs: 0 });
    if (deps.signal?.aborted && (state as SessionState).phase !== 'done') await feed({ type: 'cancel', tMs: lastMs, reason: cancelReason() });
    if ((state as SessionState).phase !== 'done') await feed({ type: 'end', tMs: lastMs });
  } catch (err) {
    throw toKioskError(err, 'E_INTERNAL', 'session');
  } finally {
    anchor = null;
  }
  const result = (state as SessionState).result!;
  return { ...result, models: deps.engine.info().models.map((m) => ({ ...m })) };
}
