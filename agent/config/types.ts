/** The daemon config after validation and defaults (see schema.ts for each key's doc, unit and default). */
import type { PinMap } from '../../device/gpio/gpio-port.js';
import type { SessionConfig } from '../session/config.js';
import type { AbuseConfig } from '../session/abuse.js';
import type { ModelVariant } from '../../models/variants.js';

export interface KioskConfig {
  deviceId: string;
  simulate: boolean;
  stateDir: string;
  camera: {
    kind: 'auto' | 'v4l2' | 'csi' | 'gstreamer' | 'replay' | 'ffmpeg';
    device: string;
    width: number;
    height: number;
    fps: number;
    inputFormat: 'mjpeg' | 'yuyv';
    csiCamera: number;
    pipeline: string;
    path: string;
    pace: 'realtime' | 'asap';
    loop: boolean;
    maxWidth: number;
    capture: 'always' | 'session';
    allowVirtual: boolean;
    stallMs: number;
    restartBaseMs: number;
    restartCapMs: number;
    bufferFrames: number;
    ffmpegPath: string;
  };
  gpio: { driver: 'onoff' | 'gpiod' | 'fake'; sysfsRoot: string; restartBaseMs: number; restartCapMs: number; pins: PinMap };
  kiosk: { arriveMs: number; leaveMs: number; tamperCloseMs: number };
  dispenser: { pulseMs: number; confirmTimeoutMs: number; authorizeWithinMs: number };
  flow: { presenceStartsSession: boolean; carrierNonceWaitMs: number; maxSessionMs: number; cancelOnLeave: boolean; delivery: 'latest' | 'every' };
  session: SessionConfig;
  abuse: AbuseConfig;
  reference: { source: string; allowedDirs: string[] };
  engine: { variant: ModelVariant; threads: number; modelsDir: string };
  keyStore: { kind: 'file' | 'pkcs11'; pkcs11Module: string; token: string; keyLabel: string; pinSource: string; engine: string };
  transport: {
    url: string;
    caFile: string;
    certFile: string;
    keyFile: string;
    topicPrefix: string;
    keepaliveSec: number;
    telemetryExpirySec: number;
    backoffBaseMs: number;
    backoffCapMs: number;
  };
  renewal: { enabled: boolean; window: number };
  outbox: { maxMessages: number; maxBytes: number; maxAgeMs: number };
  tamper: { destroyFileKey: boolean };
  health: { httpPort: number; telemetryIntervalMs: number; watchdog: boolean; frameStallMs: number; transportGraceMs: number; thermalPath: string };
  screen: { enabled: boolean; port: number; previewFps: number; previewWidth: number };
  assist: {
    enabled: boolean;
    operators: Array<{ id: string; publicKey: { kty: 'EC'; crv: 'P-256'; x: string; y: string; [k: string]: unknown } }>;
    iceServers: Array<{ urls: string | string[]; username?: string; credential?: string }>;
    relayOnly: boolean;
    width: number;
    fps: number;
    audio: boolean;
    audioCaptureDevice: string;
    audioPlaybackDevice: string;
    audioSampleRate: number;
  };
  log: { level: string };
  sim: { autoConfirmMs: number; terminal: boolean };
}

/** A config file as written: any subset of the keys. */
export type KioskConfigInput = { [K in keyof KioskConfig]?: KioskConfig[K] extends object ? Partial<KioskConfig[K]> : KioskConfig[K] };
