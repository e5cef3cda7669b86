/**
 * Mutual TLS with a device key that exists only in a PKCS#11 token: SoftHSM2, the OpenSSL pkcs11
 * engine (Debian libengine-pkcs11-openssl), real mosquitto requiring client certificates, the
 * carrier's verifier and enrolment service, the daemon built from config by build.ts (stand-ins
 * only for the face engine, the camera and GPIO, which TLS does not touch). The daemon connects with
 * the token key, renews its certificate over MQTT with it and reconnects (a second engine load,
 * which fails when the engine is named by path), and the verifier accepts a result it signed.
 * `provision --renew-mqtt` does the same from the CLI. A wrong PIN and a missing engine refuse with
 * their codes, and the PIN appears in no output. Skipped when the engine or softhsm2 is missing.
 */
import t from 'tap';
import { execFile, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { validateConfig } from '../../agent/config/load.js';
import type { KioskConfigInput } from '../../agent/config/types.js';
import { buildDaemonDeps } from '../../agent/daemon/build.js';
import { composeDaemon } from '../../agent/daemon/compose.js';
import { presentedSerial, serialOf, withoutEngineAndCamera } from '../helpers/daemon-stand-ins.js';
import { EnrolmentAuthority } from '../../carrier/enrol/authority.js';
import { EnrolmentRegistry } from '../../carrier/enrol/registry.js';
import { renewalTime } from '../../provisioning/enrol/renewal.js';
import { EnrolmentService } from '../../carrier/enrol/service.js';
import { MemoryNonceStore } from '../../carrier/nonce-store.js';
import { Pkcs11KeyStore } from '../../provisioning/pkcs11-key-store.js';
import { defaultEnginePath } from '../../provisioning/pkcs11-tls-key.js';
import { ResultVerifier, type VerifyOutcome } from '../../carrier/verifier.js';
import { VerifierService } from '../../carrier/verifier-service.js';
import { certificateMatchesKey, parseCertificate } from '../../base/keys/x509.js';
import { rejectsWithCode } from '../helpers/errors.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { TestBroker, tlsOf } from '../helpers/mosquitto.js';
import { TestPki } from '../helpers/pki.js';
import { createSoftHsmToken, SOFTHSM_MODULE } from '../helpers/softhsm.js';
import { ownTempDir } from '../helpers/tempdir.js';
import { waitFor } from '../helpers/wait.js';

const ENGINE = defaultEnginePath();
const DEVICE = 'kiosk-p11';
const TOKEN = 'kiosk-tok';
// Distinctive, so that finding either in an output means it leaked.
const PIN = 'pin-Q7x2-right';
const WRONG_PIN = 'pin-K4m9-wrong';
const CLI = ['--import', 'tsx', 'agent/cli/main.ts'];

const missing = [
  !existsSync(ENGINE) && `the OpenSSL pkcs11 engine ${ENGINE} (apt-get install libengine-pkcs11-openssl)`,
  !existsSync(SOFTHSM_MODULE) && `softhsm2 (${SOFTHSM_MODULE})`,
  !existsSync('/usr/sbin/mosquitto') && 'mosquitto',
].filter(Boolean);
if (missing.length) {
  t.comment(`skipped: needs ${missing.join(', ')}`);
  t.plan(0, `needs ${missing.join(', ')}`);
} else {
  await suite();
}

/**
 * Runs the CLI without blocking this process: the broker's other clients here (the enrolment
 * service) must answer meanwhile, which spawnSync would prevent.
 */
function cli(args: string[], env: Record<string, string>): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [...CLI, ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      resolve({ status: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr });
    });
  });
}

async function suite(): Promise<void> {
  const dir = ownTempDir(t, 'pkcs11-mtls-');
  const token = createSoftHsmToken(TOKEN, PIN);
  t.teardown(() => token.cleanup());
  const pki = await TestPki.create(join(dir, 'pki'));

  // The key is generated inside the token (as `provision --pkcs11-module` does) and certified through a CSR.
  const maker = new Pkcs11KeyStore({ modulePath: token.modulePath, tokenLabel: TOKEN, pin: PIN });
  const dev = await pki.issue(DEVICE, 'device', { keyStore: maker, validityDays: 1 });
  const pkcs11js = (await import('node:module')).createRequire(import.meta.url)('pkcs11js') as typeof import('pkcs11js');
  const extractable = maker.privateKeyFlag(pkcs11js.CKA_EXTRACTABLE);
  await maker.stop();

  const verifierId = await pki.issue('carrier-verifier-1', 'service');
  const enrolId = await pki.issue('carrier-enrol', 'service');
  const broker = await TestBroker.start(pki, join(dir, 'broker'), { devices: [DEVICE], verifiers: ['carrier-verifier-1'], enrolment: ['carrier-enrol'] });
  t.teardown(() => broker.stop());

  // The carrier's enrolment service, for the daemon's and the CLI's renewals.
  const registry = new EnrolmentRegistry(':memory:');
  const enrol = new EnrolmentService({
    options: { url: broker.url, clientId: 'enrol-p11', ...tlsOf(pki, enrolId) },
    // The daemon and then the CLI renew the same device: no rate limit between them.
    authority: new EnrolmentAuthority({ ca: pki.ca, registry, validityDays: 30, minRenewalIntervalMs: 0 }),
    logger: pino({ level: 'silent' }),
  });
  await enrol.start();
  t.teardown(async () => {
    await enrol.stop();
    await registry.stop();
  });

  // The state directory as `provision --pkcs11-module` leaves it: certificate and CA, no key file.
  const state = join(dir, 'state');
  mkdirSync(state, { recursive: true, mode: 0o700 });
  copyFileSync(dev.certPath, join(state, 'device.crt'));
  copyFileSync(pki.caPath, join(state, 'ca.crt'));
  const input: KioskConfigInput = {
    deviceId: DEVICE,
    stateDir: state,
    camera: { kind: 'replay', path: 'unused.mp4', capture: 'session', allowVirtual: true },
    keyStore: { kind: 'pkcs11', pkcs11Module: token.modulePath, token: TOKEN, pinSource: 'env:KIOSK_TEST_PKCS11_PIN', engine: ENGINE },
    transport: { url: broker.url, backoffBaseMs: 200, backoffCapMs: 1000 },
    renewal: { window: 0.2 },
    health: { httpPort: 0 },
    screen: { enabled: false },
  };

  t.test('a wrong PIN refuses the start with E_KEY_STORE naming the token, never the PIN', async (t) => {
    const cfgPath = join(dir, 'wrong-pin.json');
    writeFileSync(cfgPath, JSON.stringify(input));
    const r = spawnSync(process.execPath, [...CLI, 'run', '--config', cfgPath], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, KIOSK_TEST_PKCS11_PIN: WRONG_PIN },
    });
    t.equal(r.status, 2, 'exit code 2');
    t.match(r.stderr, new RegExp(`error E_KEY_STORE: .*CKR_PIN_INCORRECT.*\\(${TOKEN}\\)`), 'coded, names the token');
    t.notOk(`${r.stdout}${r.stderr}`.includes(WRONG_PIN), 'the wrong PIN is in no output');
    t.notOk(`${r.stdout}${r.stderr}`.includes(PIN), 'nor the right one');
  });

  t.test('a missing engine refuses with E_TLS_ENGINE naming its path and the Debian package', async (t) => {
    process.env.KIOSK_TEST_PKCS11_PIN = PIN;
    const absent = join(dir, 'no-such', 'engines-3', 'pkcs11.so');
    const cfg = validateConfig({ ...input, keyStore: { ...input.keyStore, engine: absent } });
    await rejectsWithCode(t, buildDaemonDeps(cfg, pino({ level: 'silent' })), 'E_TLS_ENGINE', absent);
    await rejectsWithCode(t, buildDaemonDeps(cfg, pino({ level: 'silent' })), 'E_TLS_ENGINE', 'libengine-pkcs11-openssl');
    const r = spawnSync(
      process.execPath,
      [
        ...CLI,
        'provision',
        DEVICE,
        '--state',
        state,
        '--renew-mqtt',
        '--force',
        '--broker',
        broker.url,
        '--pkcs11-module',
        token.modulePath,
        '--token',
        TOKEN,
        '--pkcs11-engine',
        absent,
      ],
      { encoding: 'utf8', timeout: 60_000, env: { ...process.env, KIOSK_PKCS11_PIN: PIN } },
    );
    t.equal(r.status, 2, 'provision --renew-mqtt: exit code 2');
    t.match(r.stderr, /error E_TLS_ENGINE: .*libengine-pkcs11-openssl.*no-such/, 'provision --renew-mqtt names the package and the path');
    t.notOk(`${r.stdout}${r.stderr}`.includes(PIN), 'the PIN is in no output');
  });

  t.test('the daemon connects with the token key, renews over MQTT, reconnects, and its signed result is accepted', { timeout: 120_000 }, async (t) => {
    process.env.KIOSK_TEST_PKCS11_PIN = PIN;
    t.teardown(() => {
      delete process.env.KIOSK_TEST_PKCS11_PIN;
    });
    const nonces = new MemoryNonceStore();
    const outcomes: VerifyOutcome[] = [];
    const verifier = new VerifierService({
      options: { url: broker.url, clientId: 'verifier-p11', ...tlsOf(pki, verifierId) },
      verifier: new ResultVerifier({ ca: pki.ca.certificate, nonces, checkPlan: 'skip', policy: 'skip' }),
      logger: pino({ level: 'silent' }),
    });
    await verifier.start();
    t.teardown(() => verifier.stop());
    verifier.events.on('outcome', (o) => outcomes.push(o));
    const logs: string[] = [];
    const logger = pino(
      { level: 'debug' },
      {
        write: (line: string) => {
          logs.push(line);
        },
      },
    );
    const clock = new FakeClock(Date.now());
    const deps = withoutEngineAndCamera(await buildDaemonDeps(validateConfig(input), logger, { renewalClock: clock }));
    t.equal(extractable, false, 'the device key cannot leave the token');
    t.equal(deps.keyStore.kind, 'pkcs11', 'keyStore.kind pkcs11 builds the token key store');
    t.equal(deps.keyFile, undefined, 'no key file for tamper to destroy');
    const transport = deps.transport!;
    let onlines = 0;
    transport.events.on('online', () => {
      onlines++;
    });
    const daemon = composeDaemon(deps);
    const renewed: string[] = [];
    daemon.events.on('certificate_renewed', (e) => renewed.push(e.serial));
    await daemon.start();
    let stopped = false;
    t.teardown(async () => {
      if (!stopped) await daemon.stop();
    });
    await waitFor('the transport online', () => onlines === 1 && transport.online);
    t.equal(presentedSerial(deps), serialOf(dev.certificate.serialNumber), 'mutual TLS with the provisioned certificate and the token key');

    // Renewal: a short-lived connection with the token key, then the transport connects again (new TLS contexts).
    clock.advance(renewalTime(dev.certificate, 0.2).getTime() - clock.now() + 1000);
    const serial = await waitFor('certificate_renewed', () => renewed[0]);
    const installed = parseCertificate(readFileSync(join(state, 'device.crt'), 'utf8'));
    t.equal(installed.serialNumber, serial, 'the renewed certificate is installed');
    t.ok(certificateMatchesKey(installed, deps.keyStore), 'for the same token key');
    await waitFor('the transport online again', () => onlines === 2 && transport.online);
    t.equal(presentedSerial(deps), serialOf(installed.serialNumber), 'reconnected with the renewed certificate and the token key');

    // A result signed by the daemon (in the token), through its outbox and the reconnected transport.
    const { signer } = daemon;
    const signed = await signer.sign(await nonces.issue(DEVICE, new Date()), { verdict: 'accept' });
    await deps.outbox.put({ jti: signed.jti, topic: `kiosk/v1/${DEVICE}/result`, payload: Buffer.from(signed.token) });
    const outcome = await waitFor('the verifier outcome', () => outcomes.find((o) => o.jti === signed.jti));
    t.match(outcome, { status: 'accepted', deviceId: DEVICE }, 'the broker took it and the carrier verified it');

    stopped = true;
    await daemon.stop();
    t.same(
      readdirSync(state).filter((f) => f.endsWith('.key')),
      [],
      'no key file was ever written',
    );
    t.notOk(logs.join('').includes(PIN), `the PIN is in none of the ${logs.length} log lines`);
  });

  t.test('provision --renew-mqtt connects with the token key', { timeout: 60_000 }, async (t) => {
    const before = parseCertificate(readFileSync(join(state, 'device.crt'), 'utf8'));
    const args = [
      'provision',
      DEVICE,
      '--state',
      state,
      '--renew-mqtt',
      '--force',
      '--broker',
      broker.url,
      '--pkcs11-module',
      token.modulePath,
      '--token',
      TOKEN,
      '--pkcs11-engine',
      ENGINE,
    ];
    const wrong = await cli(args, { KIOSK_PKCS11_PIN: WRONG_PIN });
    t.equal(wrong.status, 2, 'a wrong PIN: exit code 2');
    t.match(wrong.stderr, new RegExp(`error E_KEY_STORE: .*\\(${TOKEN}\\)`), 'coded, names the token');
    t.notOk(`${wrong.stdout}${wrong.stderr}`.includes(WRONG_PIN), 'the wrong PIN is in no output');
    const r = await cli(args, { KIOSK_PKCS11_PIN: PIN });
    t.equal(r.status, 0, r.stderr);
    t.match(JSON.parse(r.stdout), { renewed: true, newKey: false });
    t.notOk(`${r.stdout}${r.stderr}`.includes(PIN), 'the PIN is in no output');
    const after = parseCertificate(readFileSync(join(state, 'device.crt'), 'utf8'));
    t.not(after.serialNumber, before.serialNumber, 'a new certificate is installed');
    t.equal(after.publicKey.rawData.byteLength, before.publicKey.rawData.byteLength);
    t.same(Buffer.from(after.publicKey.rawData), Buffer.from(before.publicKey.rawData), 'for the same token key');
  });
}
