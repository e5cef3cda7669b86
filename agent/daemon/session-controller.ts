/**
 * One verification session at a time. A session starts from a carrier `start_session` (its nonce)
 * or from a customer's arrival (after `flow.carrierNonceWaitMs` without a command: the device draws
 * the nonce and says so). It runs on the camera with the ID portrait, and its result is signed and
 * recorded (ledger, then outbox) before anything is published. Cancellable at once (tamper,
 * customer left, timeout, shutdown) through one AbortController.
 */
import { randomUUID } from 'node:crypto';
import { resolve, sep } from 'node:path';
import type { EventEmitter } from 'node:events';
import type { FaceEngine } from '../../models/engine.js';
import type { FrameSource } from '../../device/camera/frame-source.js';
import type { KioskHardware } from '../../device/kiosk/kiosk.js';
import { toKioskError } from '../../base/errors.js';
import type { Logger } from '../../base/log.js';
import type { Outbox } from '../outbox/outbox.js';
import { buildReference, type ReferencePortrait } from '../reference/portrait.js';
import { loadStill, parseStillSpec } from '../reference/source.js';
import type { AbuseLimiter } from '../session/abuse-limiter.js';
import { derivePlan, drawNonce } from '../../protocol/plan.js';
import { PAGE_REFERENCE, type ReferenceClaims } from '../../protocol/reference.js';
import { resultWithoutSession, runSession } from '../session/runner.js';
import { signedResult } from '../session/signed-result.js';
import type { CancelReason, SessionResult } from '../session/types.js';
import type { CommandOutcome } from '../transport/commands.js';
import type { ResultSigner } from '../../provisioning/result-signer.js';
import type { KioskConfig } from '../config/types.js';
import type { NextStep } from '../screen/protocol.js';
import { bridgeSession, type ScreenSink, type SessionBridge } from '../screen/session-bridge.js';
import type { CameraFrame } from '../../device/camera/frame-source.js';
import { documentStep, type DocumentStepDeps } from './document-step.js';
import type { DaemonEvents } from './events.js';
import type { Ledger } from './ledger.js';

export interface SessionControllerDeps {
  config: KioskConfig;
  engine: Pick<FaceEngine, 'analyze' | 'decide' | 'info'>;
  camera: FrameSource;
  kiosk: KioskHardware;
  /** Signs with the device's current certificate. */
  signer: Pick<ResultSigner, 'sign'>;
  outbox: Outbox;
  ledger: Ledger;
  resultTopic: string;
  abuse: AbuseLimiter;
  bus: EventEmitter<DaemonEvents>;
  logger: Logger;
  /** False while the kiosk is out of service. */
  inService: () => boolean;
  /** The customer screen (prompts, progress, preview, verdict); absent: no screen. */
  screen?: ScreenSink;
  /** The identity-document reader: the reference is read from the chip when the command names no file. */
  document?: DocumentStepDeps;
}

/** A session's reference: the template (zeroed after the session) and what the signed result says about it. */
interface SessionReference {
  portrait: ReferencePortrait;
  claims: ReferenceClaims;
}

/** What other parts of the daemon add to every session (remote assistance, health figures), through `addHooks`. */
export interface SessionHooks {
  /** A reason no session may start now (e.g. a remote-assistance call holds the camera). */
  blocked?(): string | undefined;
  /**
   * A finished session's result; may return what the customer screen says happens next (the first
   * hook that answers wins; default: from the verdict).
   */
  finished?(result: SessionResult, jti: string | null, session: { sessionId: string; nonce: string }): NextStep | undefined;
}

/** What starts a session. */
export interface SessionRequest {
  trigger: 'presence' | 'command';
  /** The carrier's nonce; absent: the device draws one. */
  nonce?: string;
  /** Portrait path from the command (checked against `reference.allowedDirs`). */
  reference?: string;
  sessionId?: string;
}

interface Running {
  id: string;
  abort: AbortController;
  done: Promise<void>;
}

export class SessionController {
  private current?: Running;
  private starting = false;
  private stopping = false;
  private readonly hooks: SessionHooks[] = [];
  private failedDecisions = 0;

  constructor(private readonly deps: SessionControllerDeps) {}

  /** Adds hooks that every later session consults (see {@link SessionHooks}). */
  addHooks(hooks: SessionHooks): void {
    this.hooks.push(hooks);
  }

  /** Sessions may start (they may also before: stop() is what closes the door). */
  start(): void {
    this.stopping = false;
  }

  /** Refuses new sessions, cancels the running one (`shutdown`) and waits until its result is stored. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.abort('shutdown');
    await this.idle();
  }

  /** True while a session is starting or running. */
  get busy(): boolean {
    return this.starting || this.current !== undefined;
  }

  get sessionId(): string | undefined {
    return this.current?.id;
  }

  /** Decision-path calls that failed or timed out since the start (each also logged once). */
  get decisionsFailed(): number {
    return this.failedDecisions;
  }

  /** Resolves when the running session (if any) has finished and its result is stored. */
  async idle(): Promise<void> {
    await this.current?.done;
  }

  /** Cancels the running session with `reason` (kept in its result). */
  abort(reason: CancelReason): void {
    if (this.current && !this.current.abort.signal.aborted) {
      this.deps.logger.warn({ sessionId: this.current.id, reason }, 'session cancelled');
      this.current.abort.abort(reason);
    }
  }

  /**
   * Starts a session; resolves once it runs (the reference is loaded and the plan derived) with the
   * command's reply, or a refusal (busy, out of service, no reference).
   */
  async request(req: SessionRequest): Promise<CommandOutcome> {
    const { logger } = this.deps;
    if (!this.deps.inService()) return { ok: false, reason: 'out_of_service', detail: 'the kiosk is out of service until the carrier clears the alarm' };
    if (this.stopping) return { ok: false, reason: 'busy', detail: 'the agent is stopping' };
    if (this.busy) return { ok: false, reason: 'busy', detail: `a session is running (${this.current?.id ?? 'starting'})` };
    for (const h of this.hooks) {
      const blocked = h.blocked?.();
      if (blocked) return { ok: false, reason: 'busy', detail: blocked };
    }
    this.starting = true;
    try {
      // With a document reader the reference comes from the chip, read once the session runs.
      const fromChip = this.deps.document !== undefined && req.reference === undefined;
      const spec = fromChip ? undefined : this.referenceSpec(req.reference);
      if (spec && 'reason' in spec) return { ok: false, ...spec };
      const nonceSource = req.nonce ? 'carrier' : 'device';
      const nonce = req.nonce ?? drawNonce();
      if (!req.nonce)
        logger.warn(
          { trigger: req.trigger },
          'no carrier nonce: the device drew its own (nonceSource "device"); the carrier must accept device nonces for this result to count',
        );
      const plan = derivePlan(nonce, { nonceSource });
      let reference: SessionReference | undefined;
      if (spec) {
        try {
          reference = { portrait: await buildReference(this.deps.engine, await loadStill(spec.path), { subject: spec.path }), claims: PAGE_REFERENCE };
        } catch (err) {
          const e = toKioskError(err, 'E_INPUT_UNREADABLE', spec.path);
          return { ok: false, reason: 'no_reference', detail: `${e.code}: ${e.message}` };
        }
      }
      const id = req.sessionId ?? randomUUID();
      const abort = new AbortController();
      const running: Running = { id, abort, done: Promise.resolve() };
      running.done = this.run(running, nonce, plan, reference).finally(() => {
        if (this.current === running) this.current = undefined;
      });
      this.current = running;
      this.deps.bus.emit('session_started', { sessionId: id, trigger: req.trigger, nonceSource, steps: plan.steps.length });
      return { ok: true, body: { session_id: id, nonce_source: nonceSource, ...(nonceSource === 'device' ? { nonce } : {}), steps: plan.steps.length } };
    } finally {
      this.starting = false;
    }
  }

  private referenceSpec(fromCommand?: string): { path: string } | { reason: 'no_reference'; detail: string } {
    const { reference } = this.deps.config;
    if (fromCommand !== undefined) {
      const file = resolve(parseStillSpec(fromCommand).path);
      const allowed = reference.allowedDirs.some((d) => file.startsWith(resolve(d) + sep));
      if (!allowed) return { reason: 'no_reference', detail: 'the reference path is not inside reference.allowedDirs' };
      return { path: fromCommand };
    }
    if (!reference.source) return { reason: 'no_reference', detail: 'no ID portrait: give `reference` in start_session or set reference.source' };
    return { path: reference.source };
  }

  private async run(running: Running, nonce: string, plan: ReturnType<typeof derivePlan>, given: SessionReference | undefined): Promise<void> {
    const { config, camera, kiosk, logger } = this.deps;
    const log = logger.child({ sessionId: running.id });
    const signal = running.abort.signal;
    const timeout = setTimeout(() => this.abort('timeout'), config.flow.maxSessionMs);
    const perSession = config.camera.capture === 'session';
    let result: SessionResult | undefined;
    let reference = given;
    let bridge: SessionBridge | undefined;
    let cameraStarted = false;
    try {
      kiosk.setStatus('busy');
      if (!reference) {
        const doc = await documentStep(this.deps.engine, this.deps.document!, signal);
        if (doc.ok) reference = doc.reference;
        else {
          log.warn({ code: doc.code, step: doc.step, reason: doc.reason }, 'the document step failed: no face session');
          const cancelReason = doc.cancelled ? ((signal.reason as CancelReason | undefined) ?? 'customer_left') : undefined;
          result = {
            ...resultWithoutSession({ plan, config: config.session }, doc.verdict, [doc.reason]),
            models: this.deps.engine.info().models.map((m) => ({ ...m })),
            ...(cancelReason ? { cancelReason } : {}),
          };
        }
      }
      bridge = this.deps.screen ? bridgeSession(this.deps.screen, plan) : undefined;
      if (reference) {
        if (perSession) {
          cameraStarted = true;
          await camera.start();
        }
        result = await this.face(running, plan, reference, bridge);
      }
    } catch (err) {
      log.error({ err: toKioskError(err).toJSON() }, 'session failed before a verdict');
    } finally {
      clearTimeout(timeout);
      reference?.portrait.template.fill(0);
      if (perSession && cameraStarted) await camera.stop().catch(() => undefined);
    }
    let jti: string | null = null;
    if (result) {
      try {
        jti = await this.store(running.id, nonce, result, reference?.claims ?? null);
      } catch (err) {
        log.error({ err: toKioskError(err).toJSON() }, 'the result could not be signed or stored');
      }
      this.deps.bus.emit('session_finished', {
        sessionId: running.id,
        jti,
        verdict: result.verdict,
        reasons: result.reasons,
        cancelReason: result.cancelReason,
      });
      let next: NextStep | undefined;
      for (const h of this.hooks) next ??= h.finished?.(result, jti, { sessionId: running.id, nonce });
      bridge?.finish(result, next);
    } else {
      this.deps.screen?.show({ type: 'reset' });
    }
    if (this.deps.inService()) kiosk.setStatus(result ? 'idle' : 'error');
  }

  /** The face session on the camera against `reference`. */
  private async face(
    running: Running,
    plan: ReturnType<typeof derivePlan>,
    reference: SessionReference,
    bridge: SessionBridge | undefined,
  ): Promise<SessionResult> {
    const { config, camera, kiosk, logger } = this.deps;
    const log = logger.child({ sessionId: running.id });
    const signal = running.abort.signal;
    const frames = bridge ? previewed(camera.frames(signal), (f) => bridge.onImage(f.image)) : camera.frames(signal);
    return await kiosk.withRingLight(() =>
      runSession(
        {
          engine: this.deps.engine,
          frames,
          reference: reference.portrait.template,
          referenceId: reference.portrait.templateId,
          abuse: this.deps.abuse,
          signal,
          onDecisionFailed: (err) => {
            this.failedDecisions++;
            log.warn({ err: err.toJSON() }, 'a decision failed; the session goes on without it');
          },
          onEffect: (e) => {
            if (e.type === 'prompt') log.debug({ prompt: e.id }, 'prompt');
            // The verdict is shown once the result is stored (the daemon may say what happens next).
            if (e.type !== 'done') bridge?.onEffect(e);
          },
        },
        { plan, config: config.session, delivery: config.flow.delivery },
      ),
    );
  }

  /** Signs the result, records it in the ledger, then stores it in the outbox (the relay publishes it). */
  private async store(sessionId: string, nonce: string, result: SessionResult, reference: ReferenceClaims | null): Promise<string> {
    const signed = await this.deps.signer.sign(nonce, signedResult(result, sessionId, this.deps.camera.identity, reference));
    this.deps.ledger.record(signed.jti, result.verdict);
    const stored = await this.deps.outbox.put({ jti: signed.jti, topic: this.deps.resultTopic, payload: Buffer.from(signed.token) });
    this.deps.logger.info(
      { sessionId, jti: signed.jti, verdict: result.verdict, reasons: result.reasons, outboxId: stored.id },
      'result signed and stored in the outbox',
    );
    return signed.jti;
  }
}

/** Passes each frame to `see` (the screen's preview keeps a few per second) on its way to the session. */
async function* previewed(frames: AsyncIterableIterator<CameraFrame>, see: (f: CameraFrame) => void): AsyncIterableIterator<CameraFrame> {
  for await (const f of frames) {
    see(f);
    yield f;
  }
}
