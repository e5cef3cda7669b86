/**
 * The one config schema of the daemon (JSON Schema, validated with ajv). Every key has a type, a
 * default, a unit and a description; `kiosk-agent config schema` prints it as a table. Defaults
 * owned by a module (session thresholds, abuse limit, kiosk timings, outbox limits) are read from
 * that module, never repeated.
 */
import { DEFAULT_KIOSK_TIMINGS } from '../../device/kiosk/config.js';
import { resolveLimits } from '../outbox/outbox.js';
import { MODEL_VARIANTS } from '../../models/variants.js';
import { DEFAULT_RENEWAL_WINDOW } from '../../provisioning/enrol/renewal.js';
import { abuseSchema, sessionSchema } from './session-keys.js';
import type { JsonSchema } from './schema-types.js';

const p = (type: JsonSchema['type'], def: unknown, unit: string, description: string, extra: Partial<JsonSchema> = {}): JsonSchema => ({
  type,
  default: def,
  unit,
  description,
  ...extra,
});
const ms = (def: number, description: string, min = 0): JsonSchema => p('integer', def, 'ms', description, { minimum: min });
const obj = (description: string, properties: Record<string, JsonSchema>): JsonSchema => ({
  type: 'object',
  additionalProperties: false,
  default: {},
  description,
  properties,
});

/** The suggested Raspberry Pi wiring (docs/device.md, "Pin map"). */
export const DEFAULT_PINS = {
  presence: { line: { bcm: 17 }, direction: 'in', debounceMs: 20 },
  tamper: { line: { bcm: 27 }, direction: 'in', debounceMs: 0 },
  dispense_pulse: { line: { bcm: 22 }, direction: 'out' },
  dispense_confirm: { line: { bcm: 23 }, direction: 'in', activeLow: true, debounceMs: 5 },
  cassette_empty: { line: { bcm: 24 }, direction: 'in', activeLow: true },
  dispenser_jam: { line: { bcm: 25 }, direction: 'in', activeLow: true },
  ring_light: { line: { bcm: 5 }, direction: 'out' },
  status_led: { line: { bcm: 6 }, direction: 'out' },
} as const;

const PIN: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['line', 'direction'],
  properties: {
    line: {
      type: 'object',
      additionalProperties: false,
      properties: {
        bcm: { type: 'integer', minimum: 0, maximum: 27 },
        chip: { type: 'string', minLength: 1 },
        offset: { type: 'integer', minimum: 0 },
        name: { type: 'string', minLength: 1, maxLength: 63 },
      },
    },
    direction: { type: 'string', enum: ['in', 'out'] },
    activeLow: { type: 'boolean' },
    debounceMs: { type: 'number', minimum: 0 },
    initial: { type: 'boolean' },
  },
};

const limits = resolveLimits();

/** Builds the schema (a function so that each ajv instance gets its own copy). */
export function configSchema(): JsonSchema {
  return {
    type: 'object',
    additionalProperties: false,
    description: 'kiosk-agent daemon configuration (JSON)',
    properties: {
      deviceId: p('string', 'kiosk-sim', '-', 'device id; must be the CN of the device certificate when a broker is configured', {
        pattern: '^[a-z0-9][a-z0-9-]{2,62}$',
      }),
      simulate: p(
        'boolean',
        false,
        '-',
        'simulated kiosk: in-memory GPIO driven from the local API and the terminal, a local signing certificate when none is provisioned',
      ),
      stateDir: p(
        'string',
        '/var/lib/kiosk-agent',
        'path',
        'state directory: device.key, device.crt, ca.crt (from `provision`), outbox.db, results.db, events.db',
        { minLength: 1 },
      ),
      camera: obj('the camera (device/camera)', {
        kind: p(
          'string',
          'auto',
          '-',
          'auto (first /dev/video* found), v4l2, csi, gstreamer, replay (a recording through the media decoder) or ffmpeg (any ffmpeg input read as a camera, e.g. a file with -re)',
          { enum: ['auto', 'v4l2', 'csi', 'gstreamer', 'replay', 'ffmpeg'] },
        ),
        device: p('string', '/dev/video0', 'path', 'v4l2: device node; prefer a /dev/v4l/by-id/... link'),
        width: p('integer', 640, 'px', 'capture width (v4l2, csi, gstreamer, ffmpeg)', { minimum: 16, maximum: 4096 }),
        height: p('integer', 480, 'px', 'capture height (v4l2, csi, gstreamer, ffmpeg)', { minimum: 16, maximum: 4096 }),
        fps: p('number', 30, 'frames/s', 'capture rate', { exclusiveMinimum: 0, maximum: 120 }),
        inputFormat: p('string', 'mjpeg', '-', 'v4l2: what the camera sends', { enum: ['mjpeg', 'yuyv'] }),
        csiCamera: p('integer', 0, 'index', 'csi: camera index on boards with two CSI ports', { minimum: 0 }),
        pipeline: p('string', '', '-', 'gstreamer: the source part of the pipeline, ending in raw video'),
        path: p('string', '', 'path', 'replay / ffmpeg: the recording (video, image, folder of images)'),
        pace: p('string', 'realtime', '-', 'replay: realtime (like a camera, frames dropped when slow) or asap (every frame, as fast as the engine goes)', {
          enum: ['realtime', 'asap'],
        }),
        loop: p('boolean', false, '-', 'replay / ffmpeg: start the recording again at its end'),
        maxWidth: p('integer', 0, 'px', 'replay: downscale frames wider than this (0 = keep)', { minimum: 0 }),
        capture: p(
          'string',
          'always',
          '-',
          'always: the camera runs all the time (frame loop watched by the watchdog); session: it runs only during a session, so a replay starts at its beginning for each session',
          { enum: ['always', 'session'] },
        ),
        allowVirtual: p(
          'boolean',
          false,
          '-',
          'accept virtual cameras and recordings (v4l2loopback, OBS, replays); results record the camera identity either way',
        ),
        stallMs: ms(5000, 'no frame for this long kills and restarts the capture process (0 = never)'),
        restartBaseMs: ms(500, 'first restart delay of a capture process; doubles per attempt', 1),
        restartCapMs: ms(10000, 'longest restart delay', 1),
        bufferFrames: p('integer', 1, 'frames', 'frames held for a slow consumer before the oldest is dropped', { minimum: 1, maximum: 64 }),
        ffmpegPath: p('string', 'ffmpeg', 'path', 'ffmpeg executable'),
      }),
      gpio: obj('GPIO lines (device/gpio)', {
        driver: p(
          'string',
          'onoff',
          '-',
          'onoff (sysfs GPIO, Raspberry Pi OS), gpiod (character device through the libgpiod v1 tools, Debian package gpiod; kernels without sysfs GPIO such as JetPack 6) or fake (in memory; the simulated kiosk)',
          { enum: ['onoff', 'gpiod', 'fake'] },
        ),
        sysfsRoot: p('string', '/sys', 'path', 'onoff: root of sysfs for the GPIO chip bases'),
        restartBaseMs: ms(500, 'gpiod: first restart delay of a gpiomon/gpioset that exited on its own; doubles per attempt', 1),
        restartCapMs: ms(10000, 'gpiod: longest restart delay', 1),
        pins: {
          type: 'object',
          default: DEFAULT_PINS,
          unit: '-',
          description: 'pin map: name -> {line: {bcm} | {chip, offset} | {name} (gpiod only), direction, activeLow, debounceMs, initial} (docs/device.md)',
          additionalProperties: PIN,
        },
      }),
      kiosk: obj('presence and tamper hold times (device/kiosk)', {
        arriveMs: ms(DEFAULT_KIOSK_TIMINGS.arriveMs, 'presence must hold this long before a customer counts as arrived'),
        leaveMs: ms(DEFAULT_KIOSK_TIMINGS.leaveMs, 'presence must be gone this long before the customer counts as left'),
        tamperCloseMs: ms(
          DEFAULT_KIOSK_TIMINGS.tamperCloseMs,
          'the enclosure must stay closed this long before the tamper input clears (opening is reported at once)',
        ),
      }),
      dispenser: obj('SIM dispenser', {
        pulseMs: ms(DEFAULT_KIOSK_TIMINGS.pulseMs, 'length of the dispense pulse', 1),
        confirmTimeoutMs: ms(DEFAULT_KIOSK_TIMINGS.confirmTimeoutMs, 'the card-out sensor must fire within this time of the pulse, else dispense_failed', 1),
        authorizeWithinMs: ms(120000, 'an authorize_dispense must arrive within this time of the accepted result being signed', 1),
      }),
      flow: obj('when sessions start and end', {
        presenceStartsSession: p('boolean', true, '-', 'a customer arriving starts a session (after carrierNonceWaitMs without a start_session)'),
        carrierNonceWaitMs: ms(3000, "after an arrival, wait this long for the carrier's start_session before drawing a device nonce"),
        maxSessionMs: ms(120000, 'a session running longer is cancelled (timeout)', 1000),
        cancelOnLeave: p('boolean', true, '-', 'the customer leaving cancels the session in progress'),
        delivery: p('string', 'latest', '-', 'latest: the newest frame (live cameras); every: every frame in order (asap replays)', {
          enum: ['latest', 'every'],
        }),
      }),
      session: sessionSchema(),
      abuse: abuseSchema(),
      reference: obj('the ID portrait (a document scanner or chip reader on a real kiosk; a file here)', {
        source: p('string', '', 'path', 'portrait used when a session gets none: an image, or a video frame as clip.mp4#frame=N (simulated kiosk)'),
        allowedDirs: {
          type: 'array',
          items: { type: 'string', minLength: 1 },
          default: [],
          unit: 'paths',
          description: 'directories a start_session `reference` path must be inside (empty: the command may not name a file)',
        },
      }),
      engine: obj('the face engine (models/)', {
        variant: p('string', 'fp16', '-', 'model weights', { enum: [...MODEL_VARIANTS] }),
        threads: p('integer', 1, 'threads', 'inference threads per model', { minimum: 1, maximum: 16 }),
        modelsDir: p('string', '', 'path', "model files directory (empty: the package's models/)"),
      }),
      keyStore: obj('the device key: signs results and CSRs, authenticates mutual TLS (provisioning/)', {
        kind: p(
          'string',
          'file',
          '-',
          'file: a PEM file (transport.keyFile); pkcs11: a non-extractable key in a PKCS#11 token, the one `provision --pkcs11-module` made',
          { enum: ['file', 'pkcs11'] },
        ),
        pkcs11Module: p(
          'string',
          '',
          'path',
          "pkcs11: the token's PKCS#11 module, as `provision --pkcs11-module` (e.g. /usr/lib/aarch64-linux-gnu/pkcs11/libtpm2_pkcs11.so)",
        ),
        token: p('string', '', '-', 'pkcs11: token label, as `provision --token`'),
        keyLabel: p('string', 'kiosk-device', '-', 'pkcs11: key label, as `provision --key-label`'),
        pinSource: p(
          'string',
          'env:KIOSK_PKCS11_PIN',
          '-',
          'pkcs11: where the user PIN is read, env:NAME or file:/absolute/path (never logged, never given to OpenSSL)',
          { pattern: '^(env:[A-Za-z_][A-Za-z0-9_]*|file:/.+)$' },
        ),
        engine: p(
          'string',
          '',
          'path',
          'pkcs11: OpenSSL pkcs11 engine through which TLS signs with the token key (Debian libengine-pkcs11-openssl); empty: /usr/lib/<multiarch>/engines-3/pkcs11.so',
        ),
      }),
      transport: obj('MQTT 5 over mutual TLS (agent/transport)', {
        url: p('string', '', 'URL', 'broker URL, e.g. mqtts://broker.example:8883; empty: no broker, results stay in the outbox'),
        caFile: p('string', '', 'path', 'carrier CA certificate (empty: <stateDir>/ca.crt)'),
        certFile: p('string', '', 'path', 'device certificate (empty: <stateDir>/device.crt)'),
        keyFile: p('string', '', 'path', 'device key, file key store (empty: <stateDir>/device.key)'),
        topicPrefix: p('string', 'kiosk/v1/', '-', 'topic prefix, levels ending with /', { pattern: '^([A-Za-z0-9_-]+/)+$' }),
        keepaliveSec: p('integer', 30, 's', 'MQTT keepalive', { minimum: 5, maximum: 3600 }),
        telemetryExpirySec: p('integer', 300, 's', 'message expiry of telemetry', { minimum: 1 }),
        backoffBaseMs: ms(1000, 'reconnect delay ceiling of the first retry (full jitter)', 1),
        backoffCapMs: ms(60000, 'largest reconnect delay', 1),
      }),
      renewal: obj('device certificate renewal while the daemon runs (provisioning/enrol/renewal.ts)', {
        enabled: p(
          'boolean',
          true,
          '-',
          'renew the device certificate (same key) over MQTT before it expires and reconnect with the new one; only with a broker (transport.url)',
        ),
        window: p('number', DEFAULT_RENEWAL_WINDOW, 'fraction 0-1', "renew when less than this fraction of the certificate's validity remains", {
          exclusiveMinimum: 0,
          maximum: 0.9,
        }),
      }),
      outbox: obj('the durable outbox of signed results (SQLite)', {
        maxMessages: p('integer', limits.maxMessages, 'messages', 'most pending results; beyond it a result is refused (E_OUTBOX_FULL)', { minimum: 1 }),
        maxBytes: p('integer', limits.maxBytes, 'bytes', 'most pending payload bytes', { minimum: 1 }),
        maxAgeMs: ms(limits.maxAgeMs, 'a pending result older than this is set aside as expired (kept, reported)', 1),
      }),
      tamper: obj('enclosure opened', {
        destroyFileKey: p('boolean', false, '-', 'delete the file device key when the enclosure opens (the kiosk must be provisioned again)'),
      }),
      health: obj('health reporting', {
        httpPort: p('integer', 9464, 'port', 'loopback HTTP server: /metrics, /health, and /sim/* on a simulated kiosk (0 = off)', {
          minimum: 0,
          maximum: 65535,
        }),
        telemetryIntervalMs: ms(60000, 'period of telemetry over MQTT', 1000),
        watchdog: p('boolean', true, '-', 'send WATCHDOG=1 (at half WatchdogSec) while the frame loop and the transport are healthy'),
        frameStallMs: ms(10000, 'the frame loop is unhealthy when a running camera gave no frame for this long', 1),
        transportGraceMs: ms(300000, 'the transport is unhealthy when offline for longer than this (systemd then restarts the agent)', 1),
        thermalPath: p('string', '/sys/class/thermal/thermal_zone0/temp', 'path', 'CPU temperature in millidegrees (skipped when absent)'),
      }),
      screen: obj('the customer screen: a page on 127.0.0.1 for the kiosk browser (agent/screen, docs/screen.md)', {
        enabled: p('boolean', true, '-', 'serve the customer screen (instructions, preview, verdict, Cancel and Help buttons) on 127.0.0.1'),
        port: p('integer', 8741, 'port', 'loopback port of the page and its WebSocket (0 = any free port)', { minimum: 0, maximum: 65535 }),
        previewFps: p('number', 5, 'frames/s', 'most camera preview frames per second sent to the page, during sessions only', {
          exclusiveMinimum: 0,
          maximum: 15,
        }),
        previewWidth: p('integer', 320, 'px', 'widest preview frame (never enlarged)', { minimum: 32, maximum: 640 }),
      }),
      assist: obj('remote assistance by a carrier operator over WebRTC (agent/assist, docs/assist.md)', {
        enabled: p('boolean', false, '-', 'offer remote assistance (assist_start command, quality failures, the Help button); needs a broker and operators'),
        operators: {
          type: 'array',
          default: [],
          unit: '-',
          description: 'operators whose signed decisions are trusted: [{id: "carrier-op-<name>", publicKey: <P-256 public JWK>}]',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['id', 'publicKey'],
            properties: {
              id: { type: 'string', minLength: 1 },
              publicKey: {
                type: 'object',
                additionalProperties: false,
                required: ['kty', 'crv', 'x', 'y'],
                properties: {
                  kty: { type: 'string', enum: ['EC'] },
                  crv: { type: 'string', enum: ['P-256'] },
                  x: { type: 'string', minLength: 1 },
                  y: { type: 'string', minLength: 1 },
                  kid: { type: 'string' },
                  alg: { type: 'string' },
                  use: { type: 'string' },
                  key_ops: { type: 'array', items: { type: 'string' } },
                  ext: { type: 'boolean' },
                },
              },
            },
          },
        },
        iceServers: {
          type: 'array',
          default: [],
          unit: '-',
          description: 'STUN/TURN servers [{urls, username?, credential?}]; empty: host candidates only',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['urls'],
            properties: {
              urls: {
                oneOf: [
                  { type: 'string', minLength: 1 },
                  { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1 },
                ],
              },
              username: { type: 'string' },
              credential: { type: 'string' },
            },
          },
        },
        relayOnly: p('boolean', false, '-', "send all media through the carrier's TURN (iceTransportPolicy relay)"),
        width: p('integer', 640, 'px', 'widest video frame sent to the operator (aspect kept)', { minimum: 64, maximum: 1920 }),
        fps: p('number', 10, 'frames/s', 'most video frames per second sent to the operator', { exclusiveMinimum: 0, maximum: 30 }),
        audio: p(
          'boolean',
          false,
          '-',
          'two-way audio with the operator: kiosk microphone and speaker through ffmpeg on ALSA, live only while a call is connected, never recorded (docs/assist.md)',
        ),
        audioCaptureDevice: p('string', 'default', '-', 'ALSA PCM of the kiosk microphone (ffmpeg -f alsa -i <name>), e.g. default, plughw:1,0, dsnoop:1', {
          minLength: 1,
        }),
        audioPlaybackDevice: p('string', 'default', '-', 'ALSA PCM of the kiosk speaker (ffmpeg -f alsa <name>), e.g. default, plughw:0,0, dmix', {
          minLength: 1,
        }),
        audioSampleRate: p('integer', 48000, 'Hz', 'sample rate of both devices (mono, 16-bit)', { enum: [8000, 16000, 24000, 32000, 48000] }),
      }),
      log: obj('logging (pino, JSON lines on stderr)', {
        level: p('string', 'info', '-', 'log level', { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] }),
      }),
      sim: obj('simulated kiosk (simulate: true)', {
        autoConfirmMs: ms(800, 'the simulated card-out sensor fires this long after a dispense pulse (0 = only when driven)'),
        terminal: p('boolean', true, '-', 'read single-key commands from an interactive terminal (p presence, t tamper, c confirm, q quit)'),
      }),
    },
  };
}
