/**
 * One remote-assistance call: the kiosk offers a peer connection with the camera as a video track
 * (reduced size and rate), optionally two-way audio (call-audio.ts) and a data channel `assist`; an
 * operator answers through signalling; the operator's signed decision arrives over the data channel
 * and is verified before anything else happens. Nothing is recorded.
 */
import type { FrameSource } from '../../device/camera/frame-source.js';
import type { AudioDevices } from './audio/audio-device.js';
import { CallAudio, type AudioStatus } from './call-audio.js';
import { isKioskError, KioskError } from '../../base/errors.js';
import type { Logger } from '../../base/log.js';
import type { DecisionVerifier, OperatorDecision } from './decision.js';
import { rgbToI420 } from './i420.js';
import type { SignalMessage } from './signalling.js';
import type { DataChannelLike, IceCandidateInit, IceServer, PeerConnectionLike, TrackLike, WrtcLike } from './wrtc.js';

/** Settings of calls (see docs/assist.md). */
export interface AssistOptions {
  /** STUN/TURN servers; default none: host candidates only (same network or loopback). */
  iceServers?: IceServer[];
  /** `relay` forces all media through the carrier's TURN (default `all`). */
  iceTransportPolicy?: 'all' | 'relay';
  /** Widest video sent, in pixels (default 640; the camera picture is scaled down, aspect kept). */
  maxWidth?: number;
  /** Most video frames per second sent (default 10). */
  fps?: number;
  /** How long an offer waits for an operator's answer, ms (default 120000). */
  answerTimeoutMs?: number;
  /** Longest call, ms (default 600000): without a decision by then the call ends. */
  callTimeoutMs?: number;
}

export const DEFAULT_ASSIST_OPTIONS: Required<AssistOptions> = {
  iceServers: [],
  iceTransportPolicy: 'all',
  maxWidth: 640,
  fps: 10,
  answerTimeoutMs: 120_000,
  callTimeoutMs: 600_000,
};

/** How a call ended. */
export type CallOutcome =
  | { kind: 'decided'; decision: OperatorDecision; framesSent: number }
  | { kind: 'ended'; reason: 'no_answer' | 'hangup' | 'failed' | 'timeout' | 'aborted'; framesSent: number };

export interface AssistCallDeps {
  wrtc: WrtcLike;
  camera: FrameSource;
  send(message: SignalMessage): Promise<void>;
  decisions: DecisionVerifier;
  kioskId: string;
  assistId: string;
  /** Random per call; the operator signs it, so a decision cannot be replayed into another call. */
  challenge: string;
  failedChecks: string[];
  reason?: string;
  /** Called with a verified decision; its answer is sent back to the operator in the ack. */
  onDecision(decision: OperatorDecision): Promise<Record<string, unknown>>;
  options: Required<AssistOptions>;
  logger: Logger;
  /** Microphone and speaker: with them the call has two-way audio while it is connected. */
  audio?: AudioDevices;
  /** What happened to the audio (live, unavailable with a code, stopped). */
  onAudio?(status: AudioStatus): void;
  /** The peer is connected (ICE and DTLS up): media flows from now on. */
  onConnected?(): void;
}

/** A call; `run()` once, feed it signalling with `signal()`. */
export class AssistCall {
  private pc?: PeerConnectionLike;
  private track?: TrackLike;
  private channel?: DataChannelLike;
  private audio?: CallAudio;
  private connected = false;
  private answered = false;
  private readonly pending: IceCandidateInit[] = [];
  private framesSent = 0;
  private finish?: (o: CallOutcome) => void;
  private readonly pump = new AbortController();
  private deciding = false;

  constructor(private readonly deps: AssistCallDeps) {}

  /** Offers the call and resolves when it is decided or ends; always releases the peer, track and pump. */
  async run(signal?: AbortSignal): Promise<CallOutcome> {
    const d = this.deps;
    const o = d.options;
    const done = new Promise<CallOutcome>((resolve) => {
      this.finish = resolve;
    });
    const end = (reason: Extract<CallOutcome, { kind: 'ended' }>['reason']) => this.finish?.({ kind: 'ended', reason, framesSent: this.framesSent });
    const onAbort = () => end('aborted');
    signal?.addEventListener('abort', onAbort);
    const answerTimer = setTimeout(() => {
      if (!this.answered) end('no_answer');
    }, o.answerTimeoutMs);
    const callTimer = setTimeout(() => end('timeout'), o.callTimeoutMs);
    try {
      const pc = new d.wrtc.RTCPeerConnection({
        iceServers: o.iceServers,
        iceTransportPolicy: o.iceTransportPolicy,
        bundlePolicy: 'max-bundle',
        rtcpMuxPolicy: 'require',
      });
      this.pc = pc;
      const source = new d.wrtc.nonstandard.RTCVideoSource({ isScreencast: false });
      this.track = source.createTrack();
      pc.addTrack(this.track);
      if (d.audio) {
        this.audio = new CallAudio({ wrtc: d.wrtc, devices: d.audio, assistId: d.assistId, logger: d.logger, onStatus: (s) => d.onAudio?.(s) });
        this.audio.addTo(pc);
      }
      pc.ontrack = (e) => {
        if (e.track.kind === 'audio') this.audio?.receive(e.track);
      };
      const ch = pc.createDataChannel('assist', { ordered: true });
      this.channel = ch;
      ch.onopen = () =>
        ch.send(
          JSON.stringify({
            type: 'hello',
            assist_id: d.assistId,
            kiosk: d.kioskId,
            challenge: d.challenge,
            failed_checks: d.failedChecks,
            ...(d.reason ? { reason: d.reason } : {}),
          }),
        );
      ch.onmessage = (e) => void this.onChannelMessage(e.data);
      pc.onicecandidate = (e) => {
        void d
          .send({
            type: 'candidate',
            assist_id: d.assistId,
            candidate: e.candidate ? { candidate: e.candidate.candidate, sdpMid: e.candidate.sdpMid, sdpMLineIndex: e.candidate.sdpMLineIndex } : null,
          })
          .catch((err: Error) => d.logger.warn({ err: { message: err.message } }, 'could not send an ICE candidate'));
      };
      pc.onconnectionstatechange = () => {
        d.logger.info({ assistId: d.assistId, state: pc.connectionState }, 'assist connection state');
        if (pc.connectionState === 'failed') end('failed');
        if (pc.connectionState === 'connected' && !this.connected) {
          // Audio devices open only now: no microphone while waiting for an operator.
          this.connected = true;
          d.onConnected?.();
          void this.audio?.open();
        }
      };
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      await d.send({
        type: 'offer',
        assist_id: d.assistId,
        sdp: offer.sdp,
        kiosk: d.kioskId,
        failed_checks: d.failedChecks,
        ...(d.reason ? { reason: d.reason } : {}),
      });
      void this.pumpVideo(source);
      return await done;
    } catch (err) {
      d.logger.error({ err: { message: (err as Error).message } }, 'assist call failed');
      return { kind: 'ended', reason: 'failed', framesSent: this.framesSent };
    } finally {
      clearTimeout(answerTimer);
      clearTimeout(callTimer);
      signal?.removeEventListener('abort', onAbort);
      await this.close();
      await d.send({ type: 'bye', assist_id: d.assistId }).catch(() => undefined);
    }
  }

  /** A signalling message from an operator for this call. */
  async signal(m: SignalMessage): Promise<void> {
    const pc = this.pc;
    if (!pc || m.assist_id !== this.deps.assistId) return;
    try {
      if (m.type === 'answer' && !this.answered && typeof m.sdp === 'string') {
        // The first answer wins; another operator answering the same offer is ignored.
        this.answered = true;
        await pc.setRemoteDescription({ type: 'answer', sdp: m.sdp });
        for (const c of this.pending.splice(0)) await pc.addIceCandidate(c);
      } else if (m.type === 'candidate' && m.candidate && typeof m.candidate.candidate === 'string') {
        const c: IceCandidateInit = { candidate: m.candidate.candidate, sdpMid: m.candidate.sdpMid ?? null, sdpMLineIndex: m.candidate.sdpMLineIndex ?? null };
        if (this.answered) await pc.addIceCandidate(c);
        else this.pending.push(c);
      } else if (m.type === 'bye' && this.answered) {
        this.finish?.({ kind: 'ended', reason: 'hangup', framesSent: this.framesSent });
      }
    } catch (err) {
      this.deps.logger.warn({ err: { message: (err as Error).message }, type: m.type }, 'assist signal not applied');
    }
  }

  private async onChannelMessage(data: unknown): Promise<void> {
    const ch = this.channel;
    if (!ch || typeof data !== 'string' || data.length > 16 * 1024) return;
    let msg: { type?: unknown; token?: unknown };
    try {
      msg = JSON.parse(data) as typeof msg;
    } catch {
      return;
    }
    if (msg.type !== 'decision') return;
    // Claimed before the first await: a second decision arriving while this one is verified or
    // recorded is refused, so one call records one decision. The claim is released when this one
    // is refused (bad signature, stale, wrong call) or could not be recorded, so that the operator
    // can send a good one; it is kept for good once a decision is recorded.
    if (this.deciding) return ch.send(JSON.stringify({ type: 'ack', ok: false, reason: 'already_decided' }));
    this.deciding = true;
    try {
      const decision = await this.deps.decisions.verify(msg.token, {
        assistId: this.deps.assistId,
        kioskId: this.deps.kioskId,
        challenge: this.deps.challenge,
      });
      const body = await this.deps.onDecision(decision);
      ch.send(JSON.stringify({ type: 'ack', ok: true, decision: decision.decision, ...body }));
      // Let the ack leave before the peer closes.
      setTimeout(() => this.finish?.({ kind: 'decided', decision, framesSent: this.framesSent }), 300);
    } catch (err) {
      const reason = isKioskError(err, 'E_ASSIST') ? String(err.details?.reason ?? 'refused') : 'error';
      this.deps.logger.warn({ assistId: this.deps.assistId, reason, err: { message: (err as Error).message } }, 'operator decision refused');
      // Refused, or signing or storing the result failed after a valid decision: say so, keep the call for a retry.
      this.deciding = false;
      ch.send(JSON.stringify({ type: 'ack', ok: false, reason }));
    }
  }

  private async pumpVideo(source: { onFrame(f: { width: number; height: number; data: Uint8ClampedArray }): void }): Promise<void> {
    const minGap = 1000 / this.deps.options.fps;
    let last = -Infinity;
    try {
      for await (const f of this.deps.camera.frames(this.pump.signal)) {
        const now = performance.now();
        if (now - last < minGap) continue;
        last = now;
        source.onFrame(rgbToI420(f.image, this.deps.options.maxWidth));
        this.framesSent += 1;
      }
    } catch (err) {
      if (!this.pump.signal.aborted) this.deps.logger.warn({ err: { message: (err as Error).message } }, 'assist video stopped');
    }
  }

  /** Releases the peer, tracks and pump; resolves once the audio devices' children have exited. */
  private async close(): Promise<void> {
    this.pump.abort();
    // The audio sink and track are detached synchronously here, before the peer closes.
    const audioStopped = this.audio?.stop();
    try {
      this.channel?.close();
    } catch {
      /* already closed */
    }
    try {
      this.track?.stop();
    } catch {
      /* already stopped */
    }
    try {
      this.pc?.close();
    } catch {
      /* already closed */
    }
    this.channel = undefined;
    this.track = undefined;
    this.pc = undefined;
    await audioStopped;
  }
}

/** An E_ASSIST error for the service's refusals. */
export function assistError(message: string, reason: string): KioskError {
  return new KioskError('E_ASSIST', message, { subject: reason, details: { reason } });
}
