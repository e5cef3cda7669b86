/**
 * The one config schema of the daemon (JSON Schema, validated with ajv). Every key has a type, a
 * default, a unit and a description; `kiosk-agent config schema` prints it as a table. Defaults
 * owned by a module (session thresholds, abuse limit, kiosk timings, outbox limits) are read from
 * that module, never repeated. Built with TypeBox so that `KioskConfig` (types.ts) is derived from
 * this schema instead of written beside it.
 */
import { type NumberOptions, type StringOptions, type TProperties, type TSchema, type TUnsafe, Type } from '@sinclair/typebox';
import { DEFAULT_KIOSK_TIMINGS } from '../../device/kiosk/config.js';
import type { PinMap } from '../../device/gpio/gpio-port.js';
import { resolveLimits } from '../outbox/outbox.js';
import { MODEL_VARIANTS } from '../../models/variants.js';
import { PAD_MODEL_IDS } from '../../models/pad/ids.js';
import { CALIBRATION } from '../../models/calibration.js';
import { DEFAULT_RENEWAL_WINDOW } from '../../provisioning/enrol/renewal.js';
import { abuseSchema, sessionSchema } from './session-keys.js';
import { DEFAULT_RESULT_AUDIENCE } from '../../protocol/eat.js';

// Every builder below passes `type` first among its options: TypeBox writes the options before its
// own keywords, so each key keeps the order `config schema --json` has always printed (type first).
const str = (def: string, unit: string, description: string, extra: StringOptions = {}) =>
  Type.String({ type: 'string', default: def, unit, description, ...extra });
const int = (def: number, unit: string, description: string, extra: NumberOptions = {}) =>
  Type.Integer({ type: 'integer', default: def, unit, description, ...extra });
const num = (def: number, unit: string, description: string, extra: NumberOptions = {}) =>
  Type.Number({ type: 'number', default: def, unit, description, ...extra });
const bool = (def: boolean, description: string) => Type.Boolean({ type: 'boolean', default: def, unit: '-', description });
const ms = (def: number, description: string, min = 0) => int(def, 'ms', description, { minimum: min });

/** A public P-256 key as a JWK (operators' decision keys, carrier command keys). */
function p256PublicJwk() {
  return Type.Object(
    {
      kty: words(['EC']),
      crv: words(['P-256']),
      x: Type.String({ type: 'string', minLength: 1 }),
      y: Type.String({ type: 'string', minLength: 1 }),
      kid: Type.Optional(Type.String()),
      alg: Type.Optional(Type.String()),
      use: Type.Optional(Type.String()),
      key_ops: Type.Optional(Type.Array(Type.String())),
      ext: Type.Optional(Type.Boolean()),
    },
    { type: 'object', additionalProperties: false },
  );
}

/** A list of carrier public keys by id, [{kid, publicKey}] (command keys, release keys). */
function keyList(description: string) {
  return Type.Array(
    Type.Object(
      { kid: Type.String({ type: 'string', minLength: 1, maxLength: 128 }), publicKey: p256PublicJwk() },
      { type: 'object', additionalProperties: false },
    ),
    { type: 'array', default: [], unit: '-', description },
  );
}

/** One of `values` (kept as an `enum`, which ajv reports as "must be one of …"); the type is their union. */
function choice<const V extends string | number>(
  type: 'string' | 'integer',
  values: readonly V[],
  def: NoInfer<V>,
  unit: string,
  description: string,
): TUnsafe<V> {
  return Type.Unsafe<V>({ type, default: def, unit, description, enum: [...values] });
}

/** A value matching exactly one of two schemas (JSON Schema `oneOf`; TypeBox's union would write `anyOf`). */
function oneOf<A extends TSchema, B extends TSchema>(a: A, b: B): TUnsafe<A['static'] | B['static']> {
  return Type.Unsafe<A['static'] | B['static']>({ oneOf: [a, b] });
}

/** A string out of a fixed list, without the doc keywords of a setting (pin directions, JWK fields). */
function words<const V extends string>(values: readonly V[]): TUnsafe<V> {
  return Type.Unsafe<V>({ type: 'string', enum: [...values] });
}

/**
 * An object of settings. Each is optional in a config file (no `required`: TypeBox lists none when
 * all properties are optional) and has a default that ajv fills in, so after validation every key
 * is present: `KioskConfig` (types.ts) makes them required again. A setting without a default would
 * break that, so it is refused here.
 */
function settings<P extends TProperties>(properties: P, doc: { default?: object; description: string }) {
  const missing = Object.keys(properties).filter((key) => properties[key].default === undefined);
  if (missing.length > 0) throw new Error(`config schema: no default for ${missing.join(', ')}`);
  return Type.Partial(Type.Object(properties, { type: 'object', additionalProperties: false, ...doc }));
}

/** A group of settings (`camera`, `gpio`, …); a file may leave it out entirely. */
const obj = <P extends TProperties>(description: string, properties: P) => settings(properties, { default: {}, description });

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

/** One pin of the map; which `line` forms go together is checked by the loader (load.ts). */
const PIN = Type.Object(
  {
    line: Type.Object(
      {
        bcm: Type.Optional(Type.Integer({ type: 'integer', minimum: 0, maximum: 27 })),
        chip: Type.Optional(Type.String({ type: 'string', minLength: 1 })),
        offset: Type.Optional(Type.Integer({ type: 'integer', minimum: 0 })),
        name: Type.Optional(Type.String({ type: 'string', minLength: 1, maxLength: 63 })),
      },
      { type: 'object', additionalProperties: false },
    ),
    direction: words(['in', 'out']),
    activeLow: Type.Optional(Type.Boolean()),
    debounceMs: Type.Optional(Type.Number({ type: 'number', minimum: 0 })),
    initial: Type.Optional(Type.Boolean()),
  },
  { type: 'object', additionalProperties: false },
);

const limits = resolveLimits();

/** Builds the schema (a function so that each ajv instance gets its own copy). */
export function configSchema() {
  return settings(
    {
      deviceId: str('kiosk-sim', '-', 'device id; must be the CN of the device certificate when a broker is configured', {
        pattern: '^[a-z0-9][a-z0-9-]{2,62}$',
      }),
      simulate: bool(false, 'simulated kiosk: in-memory GPIO driven from the local API and the terminal, a local signing certificate when none is provisioned'),
      stateDir: str('/var/lib/kiosk-agent', 'path', 'state directory: device.key, device.crt, ca.crt (from `provision`), outbox.db, results.db, events.db', {
        minLength: 1,
      }),
      camera: obj('the camera (device/camera)', {
        kind: choice(
          'string',
          ['auto', 'v4l2', 'csi', 'gstreamer', 'replay', 'ffmpeg'],
          'auto',
          '-',
          'auto (first /dev/video* found), v4l2, csi, gstreamer, replay (a recording through the media decoder) or ffmpeg (any ffmpeg input read as a camera, e.g. a file with -re)',
        ),
        device: str('/dev/video0', 'path', 'v4l2: device node; prefer a /dev/v4l/by-id/... link'),
        width: int(640, 'px', 'capture width (v4l2, csi, gstreamer, ffmpeg)', { minimum: 16, maximum: 4096 }),
        height: int(480, 'px', 'capture height (v4l2, csi, gstreamer, ffmpeg)', { minimum: 16, maximum: 4096 }),
        fps: num(30, 'frames/s', 'capture rate', { exclusiveMinimum: 0, maximum: 120 }),
        inputFormat: choice('string', ['mjpeg', 'yuyv'], 'mjpeg', '-', 'v4l2: what the camera sends'),
        csiCamera: int(0, 'index', 'csi: camera index on boards with two CSI ports', { minimum: 0 }),
        pipeline: str('', '-', 'gstreamer: the source part of the pipeline, ending in raw video'),
        path: str('', 'path', 'replay / ffmpeg: the recording (video, image, folder of images)'),
        pace: choice(
          'string',
          ['realtime', 'asap'],
          'realtime',
          '-',
          'replay: realtime (like a camera, frames dropped when slow) or asap (every frame, as fast as the engine goes)',
        ),
        loop: bool(false, 'replay / ffmpeg: start the recording again at its end'),
        maxWidth: int(0, 'px', 'replay: downscale frames wider than this (0 = keep)', { minimum: 0 }),
        capture: choice(
          'string',
          ['always', 'session'],
          'always',
          '-',
          'always: the camera runs all the time (frame loop watched by the watchdog); session: it runs only during a session, so a replay starts at its beginning for each session',
        ),
        allowVirtual: bool(false, 'accept virtual cameras and recordings (v4l2loopback, OBS, replays); results record the camera identity either way'),
        stallMs: ms(5000, 'no frame for this long kills and restarts the capture process (0 = never)'),
        restartBaseMs: ms(500, 'first restart delay of a capture process; doubles per attempt', 1),
        restartCapMs: ms(10000, 'longest restart delay', 1),
        bufferFrames: int(1, 'frames', 'frames held for a slow consumer before the oldest is dropped', { minimum: 1, maximum: 64 }),
        ffmpegPath: str('ffmpeg', 'path', 'ffmpeg executable'),
      }),
      gpio: obj('GPIO lines (device/gpio)', {
        driver: choice(
          'string',
          ['onoff', 'gpiod', 'fake'],
          'onoff',
          '-',
          'onoff (sysfs GPIO, Raspberry Pi OS), gpiod (character device through the libgpiod v1 tools, Debian package gpiod; kernels without sysfs GPIO such as JetPack 6) or fake (in memory; the simulated kiosk)',
        ),
        sysfsRoot: str('/sys', 'path', 'onoff: root of sysfs for the GPIO chip bases'),
        restartBaseMs: ms(500, 'gpiod: first restart delay of a gpiomon/gpioset that exited on its own; doubles per attempt', 1),
        restartCapMs: ms(10000, 'gpiod: longest restart delay', 1),
        // Typed as device/gpio's PinMap, whose line is one of three forms: the schema can only say "an
        // object with these optional keys"; the loader checks that exactly one form is given.
        pins: Type.Unsafe<PinMap>({
          type: 'object',
          default: DEFAULT_PINS,
          unit: '-',
          description: 'pin map: name -> {line: {bcm} | {chip, offset} | {name} (gpiod only), direction, activeLow, debounceMs, initial} (docs/device.md)',
          additionalProperties: PIN,
        }),
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
        presenceStartsSession: bool(true, 'a customer arriving starts a session (after carrierNonceWaitMs without a start_session)'),
        carrierNonceWaitMs: ms(3000, "after an arrival, wait this long for the carrier's start_session before drawing a device nonce"),
        maxSessionMs: ms(120000, 'a session running longer is cancelled (timeout)', 1000),
        cancelOnLeave: bool(true, 'the customer leaving cancels the session in progress'),
        delivery: choice('string', ['latest', 'every'], 'latest', '-', 'latest: the newest frame (live cameras); every: every frame in order (asap replays)'),
      }),
      session: sessionSchema(),
      abuse: abuseSchema(),
      reference: obj('the ID portrait (a document scanner or chip reader on a real kiosk; a file here)', {
        source: str('', 'path', 'portrait used when a session gets none: an image, or a video frame as clip.mp4#frame=N (simulated kiosk)'),
        allowedDirs: Type.Array(Type.String({ type: 'string', minLength: 1 }), {
          type: 'array',
          default: [],
          unit: 'paths',
          description: 'directories a start_session `reference` path must be inside (empty: the command may not name a file)',
        }),
      }),
      document: obj("the identity-document reader: the reference portrait from the document's chip (device/document, README 'Identity documents')", {
        reader: choice(
          'string',
          ['none', 'pcsc', 'cn-id'],
          'none',
          '-',
          "none: the reference is a file (reference.source or start_session); pcsc: an ICAO 9303 chip on a PC/SC reader (the MRZ entered on the screen); cn-id: China's resident ID on a certified serial reader",
        ),
        pcscReader: str('', '-', 'pcsc: the PC/SC reader name (empty: the first with a card)'),
        cscaDir: str('', 'path', "pcsc: folder of the issuing states' CSCA certificates the carrier trusts (PEM or DER)"),
        masterLists: Type.Array(Type.String({ type: 'string', minLength: 1 }), {
          type: 'array',
          default: [],
          unit: 'paths',
          description: 'pcsc: ICAO CSCA master list files (their signature is checked against masterListIssuers)',
        }),
        masterListIssuers: str('', 'path', 'pcsc: folder of the CSCAs the carrier pins as signers of master lists'),
        crlDir: str('', 'path', "pcsc: folder of the CSCAs' CRLs (a revoked document signer is refused)"),
        staleCrlGraceMs: ms(0, "pcsc: accept a CRL this long past its nextUpdate (0: a stale CRL refuses its CSCA's documents, crl_expired)"),
        serialPath: str('', 'path', "cn-id: the reader's serial device (e.g. /dev/ttyUSB0)"),
        baudRate: int(115200, 'baud', 'cn-id: serial speed', { minimum: 1200 }),
        decoderCommand: str('', 'path', "cn-id: the reader vendor's photo decoder, run as a separate process (wlt on stdin, an image on stdout)"),
        decoderArgs: Type.Array(Type.String({ type: 'string' }), { type: 'array', default: [], unit: '-', description: 'cn-id: arguments of decoderCommand' }),
        timeoutMs: ms(60000, 'the customer has this long to present the document', 1000),
        pageFromCamera: bool(
          false,
          'pcsc: first read the MRZ from the data page held up to the kiosk camera (OCR); the customer confirms or corrects it on the screen',
        ),
        pageTimeoutMs: ms(15000, 'pcsc, pageFromCamera: how long the camera looks for a readable MRZ before the form opens empty', 1000),
        numberKeyFile: str(
          '',
          'path',
          "the carrier's document-number key (>= 32 random bytes): results carry docNumberHash and the abuse limit counts per document; empty: no hash, the limit counts per portrait",
        ),
      }),
      engine: obj('the face engine (models/)', {
        variant: choice('string', MODEL_VARIANTS, 'fp16', '-', 'model weights'),
        threads: int(1, 'threads', 'inference threads per model', { minimum: 1, maximum: 16 }),
        modelsDir: str('', 'path', "model files directory (empty: the package's models/)"),
        padModels: Type.Array(words(PAD_MODEL_IDS), {
          type: 'array',
          default: [...CALIBRATION.padModels.value],
          minItems: 1,
          uniqueItems: true,
          unit: 'model ids',
          description:
            "presentation-attack models fused (models/calibration.ts); another set needs its own session.maxAttackScore (README, 'Presentation-attack models')",
        }),
      }),
      keyStore: obj('the device key: signs results and CSRs, authenticates mutual TLS (provisioning/)', {
        kind: choice(
          'string',
          ['file', 'pkcs11'],
          'file',
          '-',
          'file: a PEM file (transport.keyFile); pkcs11: a non-extractable key in a PKCS#11 token, the one `provision --pkcs11-module` made',
        ),
        pkcs11Module: str(
          '',
          'path',
          "pkcs11: the token's PKCS#11 module, as `provision --pkcs11-module` (e.g. /usr/lib/aarch64-linux-gnu/pkcs11/libtpm2_pkcs11.so)",
        ),
        token: str('', '-', 'pkcs11: token label, as `provision --token`'),
        keyLabel: str('kiosk-device', '-', 'pkcs11: key label, as `provision --key-label`'),
        pinSource: str(
          'env:KIOSK_PKCS11_PIN',
          '-',
          'pkcs11: where the user PIN is read, env:NAME or file:/absolute/path (never logged, never given to OpenSSL)',
          { pattern: '^(env:[A-Za-z_][A-Za-z0-9_]*|file:/.+)$' },
        ),
        engine: str(
          '',
          'path',
          'pkcs11: OpenSSL pkcs11 engine through which TLS signs with the token key (Debian libengine-pkcs11-openssl); empty: /usr/lib/<multiarch>/engines-3/pkcs11.so',
        ),
      }),
      transport: obj('MQTT 5 over mutual TLS (agent/transport)', {
        url: str('', 'URL', 'broker URL, e.g. mqtts://broker.example:8883; empty: no broker, results stay in the outbox'),
        caFile: str('', 'path', 'carrier CA certificate (empty: <stateDir>/ca.crt)'),
        certFile: str('', 'path', 'device certificate (empty: <stateDir>/device.crt)'),
        keyFile: str('', 'path', 'device key, file key store (empty: <stateDir>/device.key)'),
        topicPrefix: str('kiosk/v1/', '-', 'topic prefix, levels ending with /', { pattern: '^([A-Za-z0-9_-]+/)+$' }),
        audience: str(DEFAULT_RESULT_AUDIENCE, '-', "the carrier's verifiers, as the `aud` claim of every signed result (must be the verifier's audience)", {
          minLength: 1,
          maxLength: 256,
        }),
        keepaliveSec: int(30, 's', 'MQTT keepalive', { minimum: 5, maximum: 3600 }),
        telemetryExpirySec: int(300, 's', 'message expiry of telemetry', { minimum: 1 }),
        backoffBaseMs: ms(1000, 'reconnect delay ceiling of the first retry (full jitter)', 1),
        backoffCapMs: ms(60000, 'largest reconnect delay', 1),
      }),
      commands: obj('signed carrier commands (agent/transport/command-auth.ts, protocol/command.ts)', {
        keys: keyList(
          'carrier command keys whose signed commands are obeyed: [{kid, publicKey: <P-256 public JWK>}] (`npm run carrier -- command-key init` prints one); empty: every command is refused',
        ),
        maxLifetimeSec: int(120, 's', 'longest validity (exp - iat) of a command token that is accepted', { minimum: 1, maximum: 3600 }),
        clockSkewSec: int(30, 's', "tolerated difference between the kiosk's clock and the carrier's", { minimum: 0, maximum: 600 }),
      }),
      update: obj("fleet updates: signed agent and model releases, trial, commit, rollback (provisioning/update, README 'Updating a fleet')", {
        enabled: bool(false, 'obey signed `update` commands and run the trial of a new release after a switch'),
        dir: str('', 'path', 'where releases, staging, the apt cache and the job record live (empty: <stateDir>/update)'),
        releaseKeys: keyList('carrier release keys whose signed manifests may be installed: [{kid, publicKey}] (`npm run carrier -- release key` makes one)'),
        aptUrl: str('', 'url', "the carrier's signed apt repository (agent releases)"),
        aptSuite: str('stable', '-', 'its suite (distribution)'),
        aptComponent: str('main', '-', 'its component'),
        aptKeyring: str('', 'path', "the repository's signing key (binary OpenPGP keyring, apt's signed-by)"),
        modelsUrl: str('', 'url', 'base URL of model bundles: a models release N is fetched from <modelsUrl>/<N>/'),
        trialTimeoutMs: ms(300000, 'a new release must pass its trial (self-test, broker, report) within this time, else it is rolled back', 10000),
        maxTrialStarts: int(
          1,
          'starts',
          'starts a release on trial gets: one more start before it commits (it crashed, was killed, or the kiosk rebooted) rolls it back',
          {
            minimum: 1,
            maximum: 10,
          },
        ),
        window: str('', 'HH:MM-HH:MM', 'local hours in which an update may install (e.g. 22:00-06:00, across midnight); empty: any time the kiosk is idle'),
        diskMarginBytes: int(64 * 1024 * 1024, 'bytes', 'free space kept beyond a release when staging it (E_UPDATE_DISK below)', { minimum: 0 }),
      }),
      renewal: obj('device certificate renewal while the daemon runs (provisioning/enrol/renewal.ts)', {
        enabled: bool(
          true,
          'renew the device certificate (same key) over MQTT before it expires and reconnect with the new one; only with a broker (transport.url)',
        ),
        window: num(DEFAULT_RENEWAL_WINDOW, 'fraction 0-1', "renew when less than this fraction of the certificate's validity remains", {
          exclusiveMinimum: 0,
          maximum: 0.9,
        }),
      }),
      outbox: obj('the durable outbox of signed results (SQLite)', {
        maxMessages: int(limits.maxMessages, 'messages', 'most pending results; beyond it a result is refused (E_OUTBOX_FULL)', { minimum: 1 }),
        maxBytes: int(limits.maxBytes, 'bytes', 'most pending payload bytes', { minimum: 1 }),
        maxAgeMs: ms(limits.maxAgeMs, 'a pending result older than this is set aside as expired (kept, reported)', 1),
      }),
      tamper: obj('enclosure opened', {
        destroyFileKey: bool(
          true,
          'destroy the device key when the enclosure opens, whatever keyStore.kind (the name is historical): the key file overwritten and deleted, or the private key, public key and certificate objects destroyed in the PKCS#11 token; the key wiped from memory; the broker connection closed once the alarm went out, and never made again. The kiosk must be provisioned again',
        ),
      }),
      health: obj('health reporting', {
        httpPort: int(9464, 'port', 'loopback HTTP server: /metrics, /health, and /sim/* on a simulated kiosk (0 = off)', {
          minimum: 0,
          maximum: 65535,
        }),
        telemetryIntervalMs: ms(60000, 'period of telemetry over MQTT', 1000),
        watchdog: bool(true, 'send WATCHDOG=1 (at half WatchdogSec) while the frame loop and the transport are healthy'),
        frameStallMs: ms(10000, 'the frame loop is unhealthy when a running camera gave no frame for this long', 1),
        transportGraceMs: ms(300000, 'the transport is unhealthy when offline for longer than this (systemd then restarts the agent)', 1),
        thermalPath: str('/sys/class/thermal/thermal_zone0/temp', 'path', 'CPU temperature in millidegrees (skipped when absent)'),
        stopTimeoutMs: ms(5000, 'at shutdown each component gets this long to stop before the next one is stopped anyway', 1),
      }),
      screen: obj('the customer screen: a page on 127.0.0.1 for the kiosk browser (agent/screen, docs/screen.md)', {
        enabled: bool(true, 'serve the customer screen (instructions, preview, verdict, Cancel and Help buttons) on 127.0.0.1'),
        port: int(8741, 'port', 'loopback port of the page and its WebSocket (0 = any free port)', { minimum: 0, maximum: 65535 }),
        previewFps: num(5, 'frames/s', 'most camera preview frames per second sent to the page, during sessions only', {
          exclusiveMinimum: 0,
          maximum: 15,
        }),
        previewWidth: int(320, 'px', 'widest preview frame (never enlarged)', { minimum: 32, maximum: 640 }),
      }),
      assist: obj('remote assistance by a carrier operator over WebRTC (agent/assist, docs/assist.md)', {
        enabled: bool(false, 'offer remote assistance (assist_start command, quality failures, the Help button); needs a broker and operators'),
        operators: Type.Array(
          Type.Object(
            {
              id: Type.String({ type: 'string', minLength: 1 }),
              publicKey: p256PublicJwk(),
            },
            { type: 'object', additionalProperties: false },
          ),
          {
            type: 'array',
            default: [],
            unit: '-',
            description: 'operators whose signed decisions are trusted: [{id: "carrier-op-<name>", publicKey: <P-256 public JWK>}]',
          },
        ),
        iceServers: Type.Array(
          Type.Object(
            {
              urls: oneOf(
                Type.String({ type: 'string', minLength: 1 }),
                Type.Array(Type.String({ type: 'string', minLength: 1 }), { type: 'array', minItems: 1 }),
              ),
              username: Type.Optional(Type.String()),
              credential: Type.Optional(Type.String()),
            },
            { type: 'object', additionalProperties: false },
          ),
          {
            type: 'array',
            default: [],
            unit: '-',
            description: 'STUN/TURN servers [{urls, username?, credential?}]; empty: host candidates only',
          },
        ),
        relayOnly: bool(false, "send all media through the carrier's TURN (iceTransportPolicy relay)"),
        width: int(640, 'px', 'widest video frame sent to the operator (aspect kept)', { minimum: 64, maximum: 1920 }),
        fps: num(10, 'frames/s', 'most video frames per second sent to the operator', { exclusiveMinimum: 0, maximum: 30 }),
        audio: bool(
          false,
          'two-way audio with the operator: kiosk microphone and speaker through ffmpeg on ALSA, live only while a call is connected, never recorded (docs/assist.md)',
        ),
        audioCaptureDevice: str('default', '-', 'ALSA PCM of the kiosk microphone (ffmpeg -f alsa -i <name>), e.g. default, plughw:1,0, dsnoop:1', {
          minLength: 1,
        }),
        audioPlaybackDevice: str('default', '-', 'ALSA PCM of the kiosk speaker (ffmpeg -f alsa <name>), e.g. default, plughw:0,0, dmix', {
          minLength: 1,
        }),
        audioSampleRate: choice('integer', [8000, 16000, 24000, 32000, 48000], 48000, 'Hz', 'sample rate of both devices (mono, 16-bit)'),
      }),
      log: obj('logging (pino, JSON lines on stderr)', {
        level: choice('string', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'info', '-', 'log level'),
      }),
      sim: obj('simulated kiosk (simulate: true)', {
        autoConfirmMs: ms(800, 'the simulated card-out sensor fires this long after a dispense pulse (0 = only when driven)'),
        terminal: bool(true, 'read single-key commands from an interactive terminal (p presence, t tamper, c confirm, q quit)'),
      }),
    },
    { description: 'kiosk-agent daemon configuration (JSON)' },
  );
}
