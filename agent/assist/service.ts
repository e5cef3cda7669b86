/**
 * Remote assistance as a daemon extension: `request()` (a failed session, the customer button) or
 * the carrier command `assist_start` opens one call at a time; an operator's verified decision
 * becomes a result signed by the device key and stored in the outbox like every session result,
 * saying that an operator decided, which operator, and which automatic checks had failed.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { FrameSource } from '../../device/camera/frame-source.js';
import type { Logger } from '../../base/log.js';
import type { AssistStart, CommandOutcome } from '../transport/commands.js';
import type { AudioDevices } from './audio/audio-device.js';
import { AssistCall, assistError, DEFAULT_ASSIST_OPTIONS, type AssistOptions, type CallOutcome } from './call.js';
import type { AudioStatus } from './call-audio.js';
import { DecisionVerifier, type OperatorDecision, type OperatorKeyConfig } from './decision.js';
import type { AssistSignalling, SignalMessage } from './signalling.js';
import { loadWrtc, type WrtcLike } from './wrtc.js';

/** Why assistance is asked for. */
export interface AssistRequest {
  /** The carrier nonce of the session being decided (hex), signed into the result. */
  nonce: string;
  sessionId?: string;
  /** Automatic checks that failed (reason codes of the session), shown to the operator and put in the result. */
  failedChecks?: string[];
  /** Free text for the operator: `quality`, `customer_button`, ... */
  reason?: string;
}

export interface AssistServiceDeps {
  kioskId: string;
  camera: FrameSource;
  signalling: AssistSignalling;
  /** The device's result signer (provisioning/result-signer.ts). */
  /** Signs the operator's decision (the device's result signer; the result type is checked for biometric fields there). */
  signer: { sign(nonce: string, result: OperatorResult): Promise<{ token: string; jti: string }> };
  /** The result outbox; the relay publishes it like any session result. */
  outbox: { put(m: { jti: string; topic: string; payload: Buffer }): Promise<unknown> };
  resultTopic: string;
  /** Operators whose signed decisions are trusted. */
  operators: OperatorKeyConfig[];
  options?: AssistOptions;
  /**
   * Microphone and speaker for two-way audio with the operator (`assist.audio`); without them calls
   * are video only. They are opened when a call connects and closed when it ends.
   */
  audio?: AudioDevices;
  /** Largest age of a decision's iat, seconds (default 120). */
  decisionMaxAgeSec?: number;
  logger: Logger;
  loadWrtc?: () => Promise<WrtcLike>;
  clock?: () => number;
}

export interface AssistEvents {
  started: [{ assistId: string; failedChecks: string[] }];
  /** The operator's peer is connected: media flows. */
  connected: [{ assistId: string }];
  /** The call's audio went live, is unavailable (with a code; the call goes on) or stopped. */
  audio: [AudioStatus & { assistId: string }];
  /** A result was signed and stored for an operator decision. */
  decided: [{ assistId: string; jti: string; decision: 'approve' | 'reject'; operatorId: string; sessionId?: string }];
  ended: [{ assistId: string; outcome: CallOutcome['kind']; reason?: string; framesSent: number }];
}

/** One call at a time; `stop()` hangs up. */
export class AssistService {
  readonly events = new EventEmitter<AssistEvents>();
  private readonly decisions: DecisionVerifier;
  private call?: { id: string; call: AssistCall; abort: AbortController; done: Promise<void> };
  /** The signalling connection is to be remade once the open call ends. */
  private reconnectAfterCall = false;
  private reconnecting?: Promise<void>;
  /** The signalling connection is being remade: no call can be offered meanwhile. */
  private restarting = false;
  private stopped = false;
  private readonly onSignal = (m: SignalMessage): void => {
    void this.call?.call.signal(m);
  };

  constructor(private readonly deps: AssistServiceDeps) {
    this.decisions = new DecisionVerifier({ operators: deps.operators, clock: deps.clock, maxAgeSec: deps.decisionMaxAgeSec });
  }

  async start(): Promise<void> {
    this.stopped = false;
    await this.decisions.start();
    this.deps.signalling.events.on('message', this.onSignal);
    await this.deps.signalling.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const c = this.call;
    c?.abort.abort();
    await c?.done;
    await this.reconnecting;
    this.deps.signalling.events.off('message', this.onSignal);
    await this.deps.signalling.stop();
  }

  /**
   * Remakes the signalling connection (after a certificate renewal: the new one connects with the
   * renewed certificate). At once when no call is open; an open call keeps the connection it was set
   * up on, and the connection is remade when it ends. Failures are logged, not thrown.
   */
  async reconnect(): Promise<void> {
    if (this.call) {
      this.reconnectAfterCall = true;
      return;
    }
    await this.restartSignalling();
  }

  /** True while a call is open. */
  get busy(): boolean {
    return this.call !== undefined;
  }

  /** Opens a call (returns at once with its id); E_ASSIST `busy` while another one is open. */
  async request(req: AssistRequest): Promise<{ assistId: string }> {
    if (this.call) throw assistError('a remote-assistance call is already open', 'busy');
    if (this.restarting) throw assistError('the assist signalling connection is being remade', 'busy');
    if (!/^[0-9a-f]{32,128}$/.test(req.nonce)) throw assistError('nonce must be 32..128 lower-case hex characters', 'bad_nonce');
    const assistId = randomUUID();
    const failedChecks = [...(req.failedChecks ?? [])];
    const abort = new AbortController();
    const wrtc = await (this.deps.loadWrtc ?? loadWrtc)();
    const call = new AssistCall({
      wrtc,
      camera: this.deps.camera,
      decisions: this.decisions,
      send: (m) => this.deps.signalling.send(m),
      kioskId: this.deps.kioskId,
      assistId,
      challenge: randomBytes(16).toString('hex'),
      failedChecks,
      reason: req.reason,
      onDecision: (d) => this.record(req, assistId, failedChecks, d),
      options: { ...DEFAULT_ASSIST_OPTIONS, ...this.deps.options },
      logger: this.deps.logger,
      audio: this.deps.audio,
      onAudio: (s) => this.events.emit('audio', { assistId, ...s }),
      onConnected: () => this.events.emit('connected', { assistId }),
    });
    const done = call.run(abort.signal).then((outcome) => {
      this.call = undefined;
      this.deps.logger.info({ assistId, outcome: outcome.kind, framesSent: outcome.framesSent }, 'assist call ended');
      this.events.emit('ended', {
        assistId,
        outcome: outcome.kind,
        ...(outcome.kind === 'ended' ? { reason: outcome.reason } : {}),
        framesSent: outcome.framesSent,
      });
      if (this.reconnectAfterCall) void this.restartSignalling();
    });
    this.call = { id: assistId, call, abort, done };
    this.events.emit('started', { assistId, failedChecks });
    return { assistId };
  }

  /** The `assist_start` command handler for the command router. */
  async assistStart(cmd: AssistStart): Promise<CommandOutcome> {
    if (this.call) return { ok: false, reason: 'busy', detail: 'a remote-assistance call is already open' };
    if (this.restarting) return { ok: false, reason: 'busy', detail: 'the assist signalling connection is being remade' };
    const { assistId } = await this.request({ nonce: cmd.nonce, sessionId: cmd.session_id, failedChecks: cmd.failed_checks, reason: cmd.reason });
    return { ok: true, body: { assist_id: assistId } };
  }

  /** Stops and starts the signalling connection (one restart at a time; none once stopped). */
  private restartSignalling(): Promise<void> {
    this.reconnectAfterCall = false;
    const log = this.deps.logger;
    this.reconnecting = (this.reconnecting ?? Promise.resolve())
      .then(async () => {
        if (this.stopped) return;
        log.info('remaking the assist signalling connection (renewed certificate)');
        this.restarting = true;
        try {
          await this.deps.signalling.stop();
          await this.deps.signalling.start();
        } finally {
          this.restarting = false;
        }
      })
      .catch((err: Error) =>
        log.error(
          { err: { message: err.message, code: (err as { code?: unknown }).code } },
          'assist signalling could not reconnect; calls fail until the next renewal or restart',
        ),
      );
    return this.reconnecting;
  }

  /** Signs and stores the result of an operator decision. */
  private async record(req: AssistRequest, assistId: string, failedChecks: string[], d: OperatorDecision): Promise<Record<string, unknown>> {
    const result: OperatorResult = {
      verdict: d.decision === 'approve' ? 'accept' : 'reject',
      reasons: [d.decision === 'approve' ? 'operator_approved' : 'operator_rejected'],
      decided_by: 'operator',
      operator: { id: d.operatorId, key_thumbprint: d.keyThumbprint, decided_at: d.iat },
      failed_checks: failedChecks,
      assist_id: assistId,
      ...(req.sessionId ? { session_id: req.sessionId } : {}),
      operator_decision: d.token,
    };
    const signed = await this.deps.signer.sign(req.nonce, result);
    await this.deps.outbox.put({ jti: signed.jti, topic: this.deps.resultTopic, payload: Buffer.from(signed.token) });
    this.events.emit('decided', {
      assistId,
      jti: signed.jti,
      decision: d.decision,
      operatorId: d.operatorId,
      ...(req.sessionId ? { sessionId: req.sessionId } : {}),
    });
    return { jti: signed.jti };
  }
}

/** The `result` claim of a token recording an operator's decision after a call. */
export interface OperatorResult {
  verdict: 'accept' | 'reject';
  reasons: ['operator_approved' | 'operator_rejected'];
  decided_by: 'operator';
  operator: { id: string; key_thumbprint: string; decided_at: number };
  failed_checks: string[];
  assist_id: string;
  session_id?: string;
  /** The operator's own signed decision (a JWS), so the carrier can check who decided. */
  operator_decision: string;
}
