/**
 * Certificate renewal in the daemon: real mosquitto (mutual TLS, dynamic security), the carrier's
 * enrolment service, the daemon built from config by build.ts (only the face engine and the camera
 * are stand-ins: renewal does not touch them) and the renewal scheduler on a fake clock, so that a
 * one-day certificate falls due without waiting. The first attempt finds no enrolment service and
 * is reported as a failure; the retry renews, installs the certificate, the daemon publishes
 * `certificate_renewed` and its broker connection is remade with the new certificate, and so is the
 * remote-assistance signalling connection; an operator-decided result signed afterwards carries it.
 */
import t from 'tap';
import { generateKeyPairSync } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { pino } from 'pino';
import type { AssistService } from '../../agent/assist/service.js';
import { validateConfig } from '../../agent/config/load.js';
import type { KioskConfigInput } from '../../agent/config/types.js';
import { buildDaemonDeps } from '../../agent/daemon/build.js';
import { composeDaemon } from '../../agent/daemon/compose.js';
import type { DaemonEvents } from '../../agent/daemon/events.js';
import { presentedSerial, serialOf, withoutEngineAndCamera } from '../helpers/daemon-stand-ins.js';
import { EnrolmentAuthority } from '../../carrier/enrol/authority.js';
import { EnrolmentRegistry } from '../../carrier/enrol/registry.js';
import { renewalTime } from '../../provisioning/enrol/renewal.js';
import { EnrolmentService } from '../../carrier/enrol/service.js';
import { FileKeyStore } from '../../base/keys/file-key-store.js';
import { certificateMatchesKey, parseCertificate } from '../../base/keys/x509.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { TestBroker, tlsOf } from '../helpers/mosquitto.js';
import { TestPki } from '../helpers/pki.js';
import { ownTempDir } from '../helpers/tempdir.js';
import { waitFor } from '../helpers/wait.js';

const DEVICE = 'kiosk-renew';
const PREFIX = `kiosk/v1/${DEVICE}/`;
const logger = pino({ level: 'silent' });

/** The remote-assistance signalling connection (service internals, read only). */

/** The certificate in a signed result's x5c. */
function signerSerial(token: string): string {
  const header = JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString()) as { x5c: string[] };
  return parseCertificate(Buffer.from(header.x5c[0], 'base64')).serialNumber;
}

t.test('the daemon renews its certificate when due, reports it and reconnects with the new one', { timeout: 120_000 }, async (t) => {
  const dir = ownTempDir(t, 'daemon-renewal-');
  const pki = await TestPki.create(join(dir, 'pki'));
  const dev = await pki.issue(DEVICE, 'device', { validityDays: 1 });
  const enrolId = await pki.issue('carrier-enrol', 'service');
  const opsId = await pki.issue('carrier-ops', 'service');
  const broker = await TestBroker.start(pki, join(dir, 'broker'), { devices: [DEVICE], enrolment: ['carrier-enrol'], verifiers: ['carrier-ops'] });
  t.teardown(() => broker.stop());

  // The state directory as `kiosk-agent provision` leaves it.
  const state = join(dir, 'state');
  mkdirSync(state, { recursive: true, mode: 0o700 });
  copyFileSync(dev.keyPath, join(state, 'device.key'));
  copyFileSync(dev.certPath, join(state, 'device.crt'));
  copyFileSync(pki.caPath, join(state, 'ca.crt'));

  // The carrier's view: the kiosk's events and status.
  const ops = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'carrier-ops-renewal', reconnectPeriod: 0, ...tlsOf(pki, opsId) });
  t.teardown(() => ops.endAsync());
  const published: Array<Record<string, unknown> & { type: string }> = [];
  const statuses: string[] = [];
  const results: string[] = [];
  ops.on('message', (topic, payload) => {
    if (topic === `${PREFIX}result`) return void results.push(payload.toString());
    const body = JSON.parse(payload.toString()) as Record<string, unknown>;
    if (topic === `${PREFIX}events`) published.push(body as Record<string, unknown> & { type: string });
    if (topic === `${PREFIX}status`) statuses.push(String(body.state));
  });
  await ops.subscribeAsync([`${PREFIX}events`, `${PREFIX}status`, `$share/verifiers/${PREFIX}result`], { qos: 1 });

  const clock = new FakeClock(Date.now());
  const input: KioskConfigInput = {
    deviceId: DEVICE,
    simulate: true,
    stateDir: state,
    gpio: { driver: 'fake' },
    camera: { kind: 'replay', path: 'unused.mp4', capture: 'session', allowVirtual: true },
    transport: { url: broker.url, backoffBaseMs: 200, backoffCapMs: 2000 },
    renewal: { window: 0.2 },
    health: { httpPort: 0 },
    screen: { enabled: false },
    sim: { autoConfirmMs: 0, terminal: false },
    assist: {
      enabled: true,
      operators: [
        {
          id: 'carrier-op-alice',
          publicKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }) as {
            kty: 'EC';
            crv: 'P-256';
            x: string;
            y: string;
          },
        },
      ],
    },
  };
  const deps = withoutEngineAndCamera(await buildDaemonDeps(validateConfig(input), logger, { renewalClock: clock }));
  t.ok(deps.renewal, 'a broker is configured: the daemon gets certificate renewal');
  // The assist service the daemon builds (kept to record an operator's decision below).
  const buildAssist = deps.assist!;
  let assist: AssistService | undefined;
  deps.assist = async (ctx) => (assist = (await buildAssist(ctx)) as AssistService);
  const transport = deps.transport!;
  let onlines = 0;
  transport.events.on('online', () => {
    onlines++;
  });
  const daemon = composeDaemon(deps);
  const events: { renewed: Array<DaemonEvents['certificate_renewed'][0]>; failed: Array<DaemonEvents['certificate_renewal_failed'][0]> } = {
    renewed: [],
    failed: [],
  };
  daemon.events.on('certificate_renewed', (e) => events.renewed.push(e));
  daemon.events.on('certificate_renewal_failed', (e) => events.failed.push(e));
  await daemon.start();
  let stopped = false;
  t.teardown(async () => {
    if (!stopped) await daemon.stop();
  });
  await waitFor('the transport online', () => onlines === 1 && transport.online);
  t.equal(presentedSerial(deps), serialOf(dev.certificate.serialNumber), 'connected with the provisioned certificate');
  t.notMatch(broker.log(), /as kiosk-\S+-assist/, 'the assist signalling rides on the transport connection (no second connection)');
  t.equal(clock.pending, 1, 'the scheduler started: its next check is pending');
  t.equal(deps.renewal!.scheduler.dueAt.getTime(), renewalTime(dev.certificate, 0.2).getTime(), 'due with 20% of the validity left');

  // Not due yet at 75% of the validity.
  const due = renewalTime(dev.certificate, 0.2).getTime();
  clock.advance(due - clock.now() - 3600_000);
  await new Promise((r) => setTimeout(r, 200));
  t.same([events.renewed.length, events.failed.length], [0, 0], 'nothing before it is due');

  // Due, but no enrolment service is listening: a failure, reported, retried later.
  clock.advance(3600_000);
  const failure = await waitFor('certificate_renewal_failed', () => events.failed[0], 20_000);
  t.match(failure, { attempt: 1, code: 'E_TRANSPORT', retryInMs: Number }, `the failure is an event (${failure.message})`);
  await waitFor('the failure published to the carrier', () => published.find((e) => e.type === 'certificate_renewal_failed'));
  t.equal(onlines, 1, 'a failed renewal leaves the connection alone');

  // The carrier's enrolment service comes up; the retry renews.
  const registry = new EnrolmentRegistry(':memory:');
  const service = new EnrolmentService({
    options: { url: broker.url, clientId: 'enrol-renewal', ...tlsOf(pki, enrolId) },
    authority: new EnrolmentAuthority({ ca: pki.ca, registry, validityDays: 30 }),
    logger,
  });
  await service.start();
  t.teardown(async () => {
    await service.stop();
    await registry.stop();
  });
  clock.advance(failure.retryInMs);
  const renewed = await waitFor('certificate_renewed', () => events.renewed[0], 20_000);

  const installed = parseCertificate(readFileSync(join(state, 'device.crt'), 'utf8'));
  t.equal(installed.serialNumber, renewed.serial, 'the renewed certificate is installed in the state directory');
  t.not(installed.serialNumber, dev.certificate.serialNumber);
  t.equal(renewed.notAfter, installed.notAfter.toISOString());
  t.ok(installed.notAfter > dev.certificate.notAfter, 'valid for longer');
  const key = new FileKeyStore({ path: join(state, 'device.key'), create: false });
  await key.start();
  t.ok(certificateMatchesKey(installed, key), 'for the same key');
  await key.stop();

  await waitFor('the transport online again', () => onlines === 2 && transport.online);
  t.equal(presentedSerial(deps), serialOf(installed.serialNumber), 'the broker connection was remade with the renewed certificate');
  t.ok(statuses.includes('offline') && statuses.at(-1) === 'online', `the carrier saw the reconnection (status ${statuses.join(' > ')})`);

  // An operator's decision after the renewal (what a verified decision in a call leads to; the call
  // itself is tested in assist-webrtc): the result reaches the carrier signed with the renewed certificate.
  type RecordDecision = (req: { nonce: string }, assistId: string, failedChecks: string[], d: object) => Promise<{ jti: string }>;
  const record = (assist as unknown as { record: RecordDecision }).record.bind(assist);
  const decision = {
    decision: 'approve',
    operatorId: 'carrier-op-alice',
    keyThumbprint: 'tp',
    iat: Math.floor(Date.now() / 1000),
    token: 'operator.decision.token',
  };
  const { jti } = await record({ nonce: 'cd'.repeat(16) }, 'assist-after-renewal', ['quality'], decision);
  const token = await waitFor(
    'the operator-decided result at the carrier',
    () => results.find((r) => JSON.parse(Buffer.from(r.split('.')[1], 'base64url').toString()).jti === jti),
    20_000,
  );
  t.equal(signerSerial(token), installed.serialNumber, 'an operator-decided result carries the renewed certificate');
  await waitFor('certificate_renewed published to the carrier', () => published.find((e) => e.type === 'certificate_renewed' && e.serial === renewed.serial));

  const snapshot = await daemon.snapshot();
  t.same(
    snapshot.certificate,
    { serial: installed.serialNumber, notAfter: installed.notAfter.toISOString() },
    '/health and telemetry report the renewed certificate',
  );
  // Results signed from now on carry the renewed certificate (x5c).
  const { signer } = daemon;
  const signed = await signer.sign('ab'.repeat(16), { verdict: 'reject', reasons: [] });
  t.equal(signerSerial(signed.token), installed.serialNumber, 'results are signed with the renewed certificate');
  t.equal(clock.pending, 1, 'the next check is scheduled');

  stopped = true;
  await daemon.stop();
  t.equal(clock.pending, 0, 'stop() cancels the renewal timer');
});

t.test('no renewal without a broker, or with renewal.enabled false', async (t) => {
  const dir = t.testdir({});
  const base = { simulate: true, gpio: { driver: 'fake' as const }, camera: { kind: 'replay' as const, path: 'x.mp4' } };
  const offline = await buildDaemonDeps(validateConfig({ ...base, stateDir: join(dir, 'offline') }), logger);
  t.equal(offline.renewal, undefined, 'no broker: nothing to renew with');
  const pki = await TestPki.create(join(dir, 'pki'));
  const dev = await pki.issue(DEVICE, 'device');
  const transport = { url: 'mqtts://127.0.0.1:1', caFile: pki.caPath, certFile: dev.certPath, keyFile: dev.keyPath };
  const off = await buildDaemonDeps(validateConfig({ ...base, deviceId: DEVICE, stateDir: join(dir, 'off'), transport, renewal: { enabled: false } }), logger);
  t.ok(off.transport, 'a broker is configured');
  t.equal(off.renewal, undefined, 'renewal.enabled false');
  const on = await buildDaemonDeps(validateConfig({ ...base, deviceId: DEVICE, stateDir: join(dir, 'on'), transport }), logger);
  t.ok(on.renewal, 'on by default with a broker');
});

t.test('a renewal with a new key cut short by a crash is finished before the daemon reads its key', async (t) => {
  const dir = t.testdir({});
  const pki = await TestPki.create(join(dir, 'pki'));
  const old = await pki.issue(DEVICE, 'device');
  const next = await pki.issue(`${DEVICE}-next`, 'device');
  const state = join(dir, 'state');
  mkdirSync(state, { recursive: true, mode: 0o700 });
  copyFileSync(old.keyPath, join(state, 'device.key'));
  copyFileSync(old.certPath, join(state, 'device.crt'));
  copyFileSync(pki.caPath, join(state, 'ca.crt'));
  // installWithNewKey wrote both .next files, then the power went before the renames
  copyFileSync(next.keyPath, join(state, 'device.key.next'));
  copyFileSync(next.certPath, join(state, 'device.crt.next'));
  const cfg = validateConfig({
    simulate: true,
    deviceId: DEVICE,
    stateDir: state,
    gpio: { driver: 'fake' },
    camera: { kind: 'replay', path: 'x.mp4' },
    transport: { url: 'mqtts://127.0.0.1:1' },
  });
  const deps = await buildDaemonDeps(cfg, logger);
  t.ok(deps.transport, 'built with a transport');
  t.equal(readFileSync(join(state, 'device.key'), 'utf8'), readFileSync(next.keyPath, 'utf8'), 'the new key is in place');
  t.equal(readFileSync(join(state, 'device.crt'), 'utf8'), readFileSync(next.certPath, 'utf8'), 'with its certificate');
  t.notOk(existsSync(join(state, 'device.crt.next')), 'the journal is gone');
});
