/**
 * The part of `@roamhq/wrtc` the assist call uses, typed here (its own types need the DOM lib).
 * Loaded lazily: a process that created an RTCVideoSource or RTCAudioSource segfaults on natural exit (see
 * docs/assist.md), so nothing loads it until a call starts.
 */
import { KioskError } from '../../base/errors.js';
export interface IceCandidateInit {
  candidate: string;
  sdpMid?: string | null;
  sdpMLineIndex?: number | null;
}
export interface SessionDescriptionInit {
  type: 'offer' | 'answer';
  sdp?: string;
}

export interface DataChannelLike {
  readonly readyState: string;
  onopen: (() => void) | null;
  onclose: (() => void) | null;
  onmessage: ((e: { data: unknown }) => void) | null;
  send(data: string): void;
  close(): void;
}

export interface TrackLike {
  stop(): void;
}

/** A track the peer hands over (`ontrack`); `kind` is `audio` or `video`. */
export interface RemoteTrackLike extends TrackLike {
  readonly kind: string;
}

export interface PeerConnectionLike {
  readonly connectionState: string;
  onicecandidate: ((e: { candidate: IceCandidateInit | null }) => void) | null;
  onconnectionstatechange: (() => void) | null;
  ontrack: ((e: { track: RemoteTrackLike }) => void) | null;
  createOffer(): Promise<SessionDescriptionInit>;
  setLocalDescription(d: SessionDescriptionInit): Promise<void>;
  setRemoteDescription(d: SessionDescriptionInit): Promise<void>;
  addIceCandidate(c: IceCandidateInit): Promise<void>;
  addTrack(track: TrackLike): unknown;
  createDataChannel(label: string, init?: { ordered?: boolean }): DataChannelLike;
  close(): void;
}

/** ICE server entry (STUN or the carrier's TURN). */
export interface IceServer {
  urls: string | string[];
  username?: string;
  credential?: string;
}

/** RTCPeerConnection settings the agent sets; nothing here can turn DTLS-SRTP off (no `certificates`, no insecure flags). */
export interface PeerConfig {
  iceServers: IceServer[];
  iceTransportPolicy: 'all' | 'relay';
  bundlePolicy: 'max-bundle';
  rtcpMuxPolicy: 'require';
}

export interface VideoSourceLike {
  createTrack(): TrackLike;
  onFrame(frame: { width: number; height: number; data: Uint8ClampedArray }): void;
}

/** 16-bit PCM as `RTCAudioSource.onData` takes it (10 ms per call) and `RTCAudioSink` hands it out. */
export interface AudioDataLike {
  samples: Int16Array;
  sampleRate: number;
  bitsPerSample?: number;
  channelCount?: number;
  numberOfFrames?: number;
}

export interface AudioSourceLike {
  createTrack(): TrackLike;
  onData(data: AudioDataLike): void;
}

export interface AudioSinkLike {
  ondata: ((data: AudioDataLike) => void) | null;
  stop(): void;
}

export interface WrtcLike {
  RTCPeerConnection: new (config: PeerConfig) => PeerConnectionLike;
  nonstandard: {
    RTCVideoSource: new (init?: { isScreencast?: boolean }) => VideoSourceLike;
    RTCAudioSource: new () => AudioSourceLike;
    RTCAudioSink: new (track: RemoteTrackLike) => AudioSinkLike;
  };
}

/** Loads `@roamhq/wrtc` (a CommonJS module: its exports may sit on `default`). */
export async function loadWrtc(): Promise<WrtcLike> {
  const mod: Record<string, unknown> = await import('@roamhq/wrtc');
  const lib = 'default' in mod ? mod.default : mod;
  if (!isWrtc(lib))
    throw new KioskError('E_RUNTIME_UNAVAILABLE', '@roamhq/wrtc does not export RTCPeerConnection and nonstandard', { subject: '@roamhq/wrtc' });
  return lib;
}

function isWrtc(m: unknown): m is WrtcLike {
  return typeof m === 'object' && m !== null && 'RTCPeerConnection' in m && typeof m.RTCPeerConnection === 'function' && 'nonstandard' in m;
}
