/**
 * Real components from config, for `kiosk-agent run`: the only place that constructs them. Tests
 * build `DaemonDeps` themselves (or call this and replace a part, e.g. the fake GPIO they drive).
 */
import { access, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { FakeGpioPort } from '../../device/gpio/fake-gpio.js';
import { OnoffGpioPort } from '../../device/gpio/onoff-gpio.js';
import { GpiodGpioPort } from '../../device/gpio/gpiod-gpio.js';
import { SystemdNotifier } from '../../device/systemd/notify.js';
import { createFaceEngine, DEFAULT_MODELS } from '../../models/face-engine.js';
import { readManifest } from '../../models/manifest.js';
import { releaseModelsDir, updateFromConfig } from './update-setup.js';
import { renewOverMqtt } from '../../provisioning/enrol/client.js';
import { completePendingRenewal, RenewalScheduler, STATE_FILES } from '../../provisioning/enrol/renewal.js';
import { writeFileAtomic } from '../../base/keys/file-key-store.js';
import type { KeyStore } from '../../base/keys/key-store.js';
import { certificateMatchesKey, createSelfSignedCertificate, parseCertificate, type x509 } from '../../base/keys/x509.js';
import type { KioskConfig } from '../config/types.js';
import { KioskError } from '../../base/errors.js';
import type { Clock } from '../../base/clock.js';
import type { Logger } from '../../base/log.js';
import { SqliteOutbox } from '../outbox/sqlite-outbox.js';
import { tlsIdentity } from '../../protocol/endpoint.js';
import { MqttTransport } from '../transport/mqtt-transport.js';
import { createCamera } from './camera.js';
import type { AssistFactory, DaemonDeps } from './compose.js';
import { deviceKeyFromConfig } from './device-key.js';
import { documentFromConfig } from './document-wiring.js';
import { DeviceIdentity } from './identity.js';
import { SqliteEventQueue } from './sqlite-event-queue.js';
import { Ledger } from './ledger.js';
import type { CertificateRenewal } from './renewal-wiring.js';

const exists = (p: string) =>
  access(p).then(
    () => true,
    () => false,
  );

/** Paths of the provisioned files (`kiosk-agent provision` writes them into the state directory). */
export function identityFiles(cfg: KioskConfig): { ca: string; cert: string; key: string } {
  const t = cfg.transport;
  return {
    ca: t.caFile || join(cfg.stateDir, 'ca.crt'),
    cert: t.certFile || join(cfg.stateDir, 'device.crt'),
    key: t.keyFile || join(cfg.stateDir, 'device.key'),
  };
}

/**
 * The device certificate: the provisioned one, or on a simulated kiosk without one a self-signed
 * certificate in `<stateDir>/sim-ca` (trusted by nobody; results still are real JWS).
 */
async function certificateFor(cfg: KioskConfig, keyStore: KeyStore, files: { cert: string }, logger: Logger): Promise<x509.X509Certificate> {
  if (await exists(files.cert)) return parseCertificate(await readFile(files.cert, 'utf8'), files.cert);
  if (!cfg.simulate) throw new KioskError('E_CERTIFICATE', 'no device certificate: run `kiosk-agent provision` first', { subject: files.cert });
  const dir = join(cfg.stateDir, 'sim-ca');
  const certPath = join(dir, `${cfg.deviceId}.crt`);
  await keyStore.start();
  if (await exists(certPath)) {
    const simCert = parseCertificate(await readFile(certPath, 'utf8'), certPath);
    if (certificateMatchesKey(simCert, keyStore)) return simCert;
    // A tamper destroyed the simulated key and the start made a new one: certify that one.
    logger.warn({ certificate: certPath }, 'simulated kiosk: the device key changed since the last start; a new self-signed certificate replaces the old one');
  }
  const cert = await createSelfSignedCertificate(keyStore, cfg.deviceId, 'device');
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(certPath, cert.toString('pem'));
  logger.warn({ certificate: certPath }, 'simulated kiosk: results are signed with a self-signed certificate that no carrier trusts');
  return cert;
}

/**
 * Same-key renewal over MQTT with the identity the transport connects with; the renewed certificate
 * is installed where the transport reads it (the scheduler checks it is no longer due).
 */
function certificateRenewal(
  cfg: KioskConfig,
  identity: DeviceIdentity,
  keyStore: KeyStore,
  transport: MqttTransport,
  logger: Logger,
  clock?: Clock,
): CertificateRenewal {
  const scheduler = new RenewalScheduler({
    certificate: () => identity.certificate,
    renew: async () => {
      const cert = await renewOverMqtt({
        url: cfg.transport.url,
        prefix: cfg.transport.topicPrefix,
        ...identity.tls(),
        deviceId: cfg.deviceId,
        keyStore,
        channel: transport,
      });
      await identity.install(cert);
      return cert;
    },
    logger: logger.child({ component: 'renewal' }),
    clock,
    options: { window: cfg.renewal.window },
  });
  return { scheduler, certificate: () => identity.certificate };
}

/** GPIO through the libgpiod v1 tools; a tool that dies is restarted by the port and logged here. */
function gpiodPort(cfg: KioskConfig, logger: Logger): GpiodGpioPort {
  const port = new GpiodGpioPort({ pins: cfg.gpio.pins, restart: { baseMs: cfg.gpio.restartBaseMs, capMs: cfg.gpio.restartCapMs } });
  const log = logger.child({ component: 'gpio' });
  port.events.on('failed', (err) => log.error({ err: err.toJSON() }, 'GPIO tool failed; restarting it'));
  return port;
}

/** What tests replace in the components built from config. */
export interface BuildOptions {
  /** The certificate renewal scheduler's clock (default: the system clock). */
  renewalClock?: Clock;
}

/** Everything the daemon needs, from config. `video` (the --video flag) replays a recording as the camera. */
export async function buildDaemonDeps(cfg: KioskConfig, logger: Logger, options: BuildOptions = {}): Promise<DaemonDeps> {
  const files = identityFiles(cfg);
  // A renewal with a new key that crashed between its two renames is finished before the key is read
  // (`provision` does the same, but its unit runs only while no certificate is installed).
  if (files.key === join(cfg.stateDir, STATE_FILES.key) && files.cert === join(cfg.stateDir, STATE_FILES.cert)) {
    if (await completePendingRenewal(cfg.stateDir))
      logger.warn({ stateDir: cfg.stateDir }, 'completed a certificate renewal interrupted before the last start');
  }
  // keyStore.kind: a PEM file, or a key in a PKCS#11 token (TLS then signs through the OpenSSL engine).
  const device = await deviceKeyFromConfig(cfg, files.key, Boolean(cfg.transport.url));
  const { keyStore } = device;
  const certificate = await certificateFor(cfg, keyStore, files, logger);
  const { source: camera, describe } = await createCamera(cfg, logger);
  const gpio =
    cfg.gpio.driver === 'fake'
      ? new FakeGpioPort({ pins: cfg.gpio.pins })
      : cfg.gpio.driver === 'gpiod'
        ? gpiodPort(cfg, logger)
        : new OnoffGpioPort({ pins: cfg.gpio.pins, sysfsRoot: cfg.gpio.sysfsRoot });
  let transport: MqttTransport | undefined;
  let assist: AssistFactory | undefined;
  let renewal: CertificateRenewal | undefined;
  let deviceIdentity: DeviceIdentity | undefined;
  const outbox = new SqliteOutbox({ path: join(cfg.stateDir, 'outbox.db'), limits: cfg.outbox });
  if (cfg.transport.url) {
    const [ca, cert] = await Promise.all(
      [files.ca, files.cert].map((p) =>
        readFile(p).catch((err: Error) => {
          throw new KioskError('E_CONFIG_INVALID', `cannot read ${p}: ${err.message}`, { subject: 'transport', cause: err });
        }),
      ),
    );
    const key = await device.tlsKey();
    // `key` is one buffer that every TLS option below holds: tamper's wipe (identity.destroy) reaches them all.
    const identity = new DeviceIdentity({ certFile: files.cert, certificate, tls: { ca, cert, key } });
    deviceIdentity = identity;
    transport = new MqttTransport({
      logger: logger.child({ component: 'transport' }),
      options: {
        url: cfg.transport.url,
        deviceId: cfg.deviceId,
        prefix: cfg.transport.topicPrefix,
        ca,
        cert,
        key,
        keepaliveSec: cfg.transport.keepaliveSec,
        telemetryExpirySec: cfg.transport.telemetryExpirySec,
        backoff: { baseMs: cfg.transport.backoffBaseMs, capMs: cfg.transport.backoffCapMs },
      },
      // Each (re)start connects with the identity installed then: a renewed certificate after renewal.
      connect: (url, opts) => mqtt.connect(url, { ...opts, ...tlsIdentity(identity.tls()) }),
    });
    if (cfg.renewal.enabled) renewal = certificateRenewal(cfg, identity, keyStore, transport, logger, options.renewalClock);
    const resultTopic = transport.topics.result;
    const mqttTransport = transport;
    // agent/assist (and with it @roamhq/wrtc, whose RTCVideoSource makes a natural exit segfault)
    // is imported only here, only when remote assistance is enabled.
    if (cfg.assist.enabled) {
      assist = async ({ signer }) => {
        const [{ AssistService }, { TransportAssistSignalling }, { alsaAudio }] = await Promise.all([
          import('../assist/service.js'),
          import('../assist/signalling.js'),
          import('../assist/audio/ffmpeg-audio.js'),
        ]);
        const log = logger.child({ component: 'assist' });
        return new AssistService({
          kioskId: cfg.deviceId,
          camera,
          // On the transport's connection: the broker ties the client id to the certificate.
          signalling: new TransportAssistSignalling({ transport: mqttTransport, logger: log }),
          signer,
          outbox,
          resultTopic,
          operators: cfg.assist.operators.map((o) => ({ id: o.id, publicKey: { ...o.publicKey } })),
          options: {
            iceServers: cfg.assist.iceServers,
            iceTransportPolicy: cfg.assist.relayOnly ? 'relay' : 'all',
            maxWidth: cfg.assist.width,
            fps: cfg.assist.fps,
          },
          // assist.audio: microphone and speaker through ffmpeg on ALSA, opened only while a call is connected.
          ...(cfg.assist.audio
            ? {
                audio: alsaAudio({
                  captureDevice: cfg.assist.audioCaptureDevice,
                  playbackDevice: cfg.assist.audioPlaybackDevice,
                  sampleRate: cfg.assist.audioSampleRate,
                }),
              }
            : {}),
          logger: log,
        });
      };
    }
  }
  const document = await documentFromConfig(cfg, logger);
  if (cfg.simulate) {
    logger.warn(
      {
        gpio: cfg.gpio.driver === 'fake' ? 'in memory (drive it with POST /sim/presence, /sim/tamper, /sim/confirm or the terminal keys)' : cfg.gpio.driver,
        camera: describe,
        broker: cfg.transport.url || 'none: results stay in the outbox',
        reference: cfg.reference.source || 'none configured: give `reference` in start_session',
      },
      'SIMULATED KIOSK: nothing here is a real kiosk',
    );
  } else {
    logger.info({ camera: describe, gpio: cfg.gpio.driver }, 'kiosk hardware');
  }
  // A committed models release (fleet updates) replaces the package's models; engine.modelsDir overrides both.
  const releaseModels = cfg.engine.modelsDir ? undefined : await releaseModelsDir(cfg);
  const update = updateFromConfig(cfg, releaseModels, logger.child({ component: 'update' }));
  return {
    config: cfg,
    logger,
    engine: createFaceEngine({
      logger: logger.child({ component: 'engine' }),
      modelsDir: cfg.engine.modelsDir || releaseModels,
      ...(releaseModels ? { manifest: await readManifest(join(releaseModels, 'manifest.json')) } : {}),
      options: { variant: cfg.engine.variant, threads: cfg.engine.threads, models: { ...DEFAULT_MODELS, pad: cfg.engine.padModels } },
    }),
    camera,
    gpio,
    keyStore,
    keyFile: device.keyFile,
    ...(deviceIdentity ? { identity: deviceIdentity } : {}),
    ...(document ? { document } : {}),
    certificate,
    transport,
    outbox,
    // Only with a broker: without one, events are logged and nobody would ever read them from a queue.
    ...(transport ? { eventQueue: new SqliteEventQueue({ path: join(cfg.stateDir, 'events.db') }) } : {}),
    ledger: new Ledger({ path: join(cfg.stateDir, 'results.db') }),
    notifier: new SystemdNotifier(),
    ...(assist ? { assist } : {}),
    ...(renewal ? { renewal } : {}),
    ...(update ? { update } : {}),
  };
}
