/**
 * The audio of one call: the kiosk microphone into the peer (wrtc's nonstandard `RTCAudioSource`,
 * 10 ms frames of 16-bit PCM) and the operator's audio out of it (`RTCAudioSink`) to the speaker.
 * The devices open only once the peer is connected and close when the call ends; nothing is
 * recorded, stored or logged (levels and counts only). A device that fails is reported with a code
 * and the call goes on without it: audio never breaks the video call.
 */
import { toKioskError, type ErrorCode } from '../../base/errors.js';
import type { Logger } from '../../base/log.js';
import { audioFailureOf, type AudioCapture, type AudioDevices, type AudioFailure, type AudioPlayback } from './audio/audio-device.js';
import { toMonoAt } from './audio/pcm.js';
import type { AudioSinkLike, AudioSourceLike, PeerConnectionLike, RemoteTrackLike, TrackLike, WrtcLike } from './wrtc.js';

/** What happened to one direction of a call's audio. */
export interface AudioStatus {
  direction: 'capture' | 'playback';
  /** `live`: the device is open; `unavailable`: it could not open or failed (the call goes on); `stopped`: closed at the call's end. */
  state: 'live' | 'unavailable' | 'stopped';
  /** With `unavailable`: the error code (`E_DEVICE`, `E_DECODER_MISSING`) and why. */
  code?: ErrorCode;
  reason?: AudioFailure;
  message?: string;
  /** With `stopped`: frames that went through during the call. */
  frames?: number;
  /** With `live`: the device's child process, if it has one. */
  pid?: number;
}

export interface CallAudioDeps {
  wrtc: WrtcLike;
  devices: AudioDevices;
  assistId: string;
  logger: Logger;
  onStatus(status: AudioStatus): void;
}

type Direction = AudioStatus['direction'];

/** One call's audio; `stop()` releases everything it took. */
export class CallAudio {
  private source?: AudioSourceLike;
  private track?: TrackLike;
  private sink?: AudioSinkLike;
  private opened?: Promise<void>;
  private stopped?: Promise<void>;
  private readonly live: Record<Direction, boolean> = { capture: false, playback: false };
  private readonly wasLive: Record<Direction, boolean> = { capture: false, playback: false };
  private readonly unregister: Array<() => void> = [];

  constructor(private readonly deps: CallAudioDeps) {}

  /** Adds the kiosk's audio track to the peer: before the offer, so that it has a send-receive audio line. */
  addTo(pc: PeerConnectionLike): void {
    this.source = new this.deps.wrtc.nonstandard.RTCAudioSource();
    this.track = this.source.createTrack();
    pc.addTrack(this.track);
  }

  /** The operator's audio track: its samples go to the speaker while the speaker is open. */
  receive(track: RemoteTrackLike): void {
    if (this.sink || this.stopped) return;
    const playback = this.deps.devices.playback;
    const sink = new this.deps.wrtc.nonstandard.RTCAudioSink(track);
    this.sink = sink;
    sink.ondata = (d) => {
      if (this.live.playback) playback.write(toMonoAt(d, playback.sampleRate));
    };
  }

  /** Media can flow: opens the microphone and the speaker (once). Never rejects. */
  open(): Promise<void> {
    this.opened ??= Promise.all([this.openCapture(), this.openPlayback()]).then(() => undefined);
    return this.opened;
  }

  /** Detaches from the peer at once (sink, track), then closes both devices and waits for their children. */
  stop(): Promise<void> {
    this.stopped ??= this.release();
    return this.stopped;
  }

  private async openCapture(): Promise<void> {
    const { capture } = this.deps.devices;
    this.watch('capture', capture);
    const source = this.source;
    try {
      await capture.start((f) => {
        if (!this.stopped) source?.onData({ samples: f.samples, sampleRate: f.sampleRate });
      });
      this.opens('capture', capture);
    } catch (err) {
      this.unavailable('capture', err);
    }
  }

  private async openPlayback(): Promise<void> {
    const { playback } = this.deps.devices;
    this.watch('playback', playback);
    try {
      await playback.start();
      this.opens('playback', playback);
    } catch (err) {
      this.unavailable('playback', err);
    }
  }

  private opens(direction: Direction, device: AudioCapture | AudioPlayback): void {
    if (this.stopped) return;
    this.live[direction] = this.wasLive[direction] = true;
    const pid = device.stats().pid;
    this.deps.logger.info({ assistId: this.deps.assistId, direction, ...(pid ? { pid } : {}) }, 'assist audio live');
    this.deps.onStatus({ direction, state: 'live', ...(pid ? { pid } : {}) });
  }

  private watch(direction: Direction, device: AudioCapture | AudioPlayback): void {
    const onFailed = ({ error }: { error: unknown }) => this.unavailable(direction, error);
    device.events.on('failed', onFailed);
    this.unregister.push(() => device.events.off('failed', onFailed));
  }

  private unavailable(direction: Direction, err: unknown): void {
    if (this.stopped) return;
    this.live[direction] = false;
    const e = toKioskError(err, 'E_DEVICE');
    const reason = audioFailureOf(e);
    this.deps.logger.warn(
      { assistId: this.deps.assistId, direction, code: e.code, reason, err: { message: e.message } },
      'assist audio unavailable: the call goes on without it',
    );
    this.deps.onStatus({ direction, state: 'unavailable', code: e.code, reason, message: e.message });
  }

  private async release(): Promise<void> {
    this.live.capture = this.live.playback = false;
    try {
      this.sink?.stop();
    } catch {
      /* already stopped */
    }
    try {
      this.track?.stop();
    } catch {
      /* already stopped */
    }
    this.sink = this.track = this.source = undefined;
    const { capture, playback } = this.deps.devices;
    const quietly = (p: Promise<void>, direction: Direction) =>
      p.catch((err: Error) => this.deps.logger.warn({ assistId: this.deps.assistId, direction, err: { message: err.message } }, 'assist audio stop failed'));
    await Promise.all([quietly(capture.stop(), 'capture'), quietly(playback.stop(), 'playback')]);
    await this.opened; // a start overtaken by the stop has killed its own child by now
    for (const u of this.unregister.splice(0)) u();
    for (const [direction, device] of [
      ['capture', capture],
      ['playback', playback],
    ] as const) {
      if (!this.wasLive[direction]) continue;
      const frames = device.stats().frames;
      this.deps.logger.info({ assistId: this.deps.assistId, direction, frames }, 'assist audio stopped');
      this.deps.onStatus({ direction, state: 'stopped', frames });
    }
  }
}
