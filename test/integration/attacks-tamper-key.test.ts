/**
 * Attack: open the enclosure, then use the device identity that is still in the kiosk. Before, tamper
 * kept the key by default, left the PEM in memory and the broker connection reconnecting with it,
 * never touched a key in a PKCS#11 token, and left the token PIN in `process.env` for every child
 * process. Here the daemon is built from config by build.ts and composed by composeDaemon (stand-ins
 * only for the face engine, camera and GPIO), with the default `tamper` settings, against the real
 * mosquitto and SoftHSM2 with the OpenSSL pkcs11 engine:
 * - file key: the alarm goes out, then the connection is closed within a bound and never made again
 *   (no new connection in the broker's log), the key file is gone, the PEM in memory is zeros, the
 *   key store refuses to sign;
 * - token key: its objects are gone from the token, and the engine cannot load it for a new TLS
 *   connection (while it still loads another key of the same token);
 * - PIN: read once, gone from `process.env`, seen by no child process;
 * - and the simulator, whose key tamper now destroys by default, certifies the new key it makes at
 *   the next start instead of failing to sign.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { validateConfig } from '../../agent/config/load.js';
import type { KioskConfigInput } from '../../agent/config/types.js';
import { buildDaemonDeps } from '../../agent/daemon/build.js';
import { composeDaemon } from '../../agent/daemon/compose.js';
import { DeviceIdentity } from '../../agent/daemon/identity.js';
import { startChild } from '../../base/process.js';
import type { FakeGpioPort } from '../../device/gpio/fake-gpio.js';
import { Pkcs11KeyStore } from '../../provisioning/pkcs11-key-store.js';
import { defaultEnginePath } from '../../provisioning/pkcs11-tls-key.js';
import { withoutEngineAndCamera } from '../helpers/daemon-stand-ins.js';
import { rejectsWithCode } from '../helpers/errors.js';
import { TestBroker, tlsOf } from '../helpers/mosquitto.js';
import { TestPki } from '../helpers/pki.js';
import { createSoftHsmToken, SOFTHSM_MODULE } from '../helpers/softhsm.js';
import { ownTempDir } from '../helpers/tempdir.js';
import { waitFor } from '../helpers/wait.js';

const FILE_KIOSK = 'kiosk-tamper-file';
const TOKEN_KIOSK = 'kiosk-tamper-p11';
const TOKEN = 'tamper-tok';
const KEY_LABEL = 'kiosk-device';
const PIN = 'pin-T3q8-tamper';
const PIN_VAR = 'KIOSK_TAMPER_TEST_PIN';
const ENGINE = defaultEnginePath();
/** The alarm's wait (3 s) plus the offline status's PUBACK wait (3 s) plus slack. */
const CLOSE_BOUND_MS = 8000;
/** Longer than the reconnect backoff cap (1 s) several times over. */
const STAYS_CLOSED_MS = 4000;

const pkcs11js = createRequire(import.meta.url)('pkcs11js') as typeof import('pkcs11js');
const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

const missing = [
  !existsSync(ENGINE) && `the OpenSSL pkcs11 engine ${ENGINE}`,
  !existsSync(SOFTHSM_MODULE) && `softhsm2 (${SOFTHSM_MODULE})`,
  !existsSync('/usr/sbin/mosquitto') && 'mosquitto',
].filter(Boolean);
if (missing.length) {
  t.plan(0, `needs ${missing.join(', ')}`);
} else {
  await suite();
}

/** Objects with `label` in the token (any class, private ones too), through a session of our own. */
function tokenObjects(modulePath: string, tokenLabel: string, pin: string, label: string): number {
  const lib = new pkcs11js.PKCS11();
  lib.load(modulePath);
  let initialised = false;
  try {
    lib.C_Initialize();
    initialised = true;
  } catch (err) {
    if (!/ALREADY_INITIALIZED/.test((err as Error).message)) throw err;
  }
  try {
    const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trim() === tokenLabel);
    if (!slot) throw new Error(`no token ${tokenLabel}`);
    const session = lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
    try {
      try {
        lib.C_Login(session, pkcs11js.CKU_USER, pin);
      } catch (err) {
        if (!/ALREADY_LOGGED_IN/.test((err as Error).message)) throw err;
      }
      lib.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_LABEL, value: label }]);
      const found = lib.C_FindObjects(session, 64);
      lib.C_FindObjectsFinal(session);
      return found.length;
    } finally {
      lib.C_CloseSession(session);
    }
  } finally {
    if (initialised) lib.C_Finalize();
  }
}

/** What a child process sees of its environment. */
async function childEnv(run: 'startChild' | 'spawn'): Promise<string> {
  const child =
    run === 'startChild' ? startChild('env', [], { stdio: ['ignore', 'pipe', 'ignore'] }).child : spawn('env', [], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  await new Promise((resolve) => child.once('close', resolve));
  return out;
}

/**
 * In a child process (the PIN given to it by this test): logs in to the token with a store of its own,
 * tries the engine on each label, then an MQTT connection with the device certificate and the engine
 * key of the last label. What happened, per label and `connect`, and the child's stderr (libp11's words).
 */
async function freshEngineConnect(
  dir: string,
  o: { modulePath: string; tokenLabel: string; pin: string; labels: string[]; url: string; ca: string; cert: string; clientId: string },
): Promise<Record<string, string>> {
  const root = join(import.meta.dirname, '..', '..');
  const script = join(dir, 'fresh-engine.mts');
  writeFileSync(
    script,
    `
import { readFileSync } from 'node:fs';
import mqtt from '${join(root, 'node_modules', 'mqtt', 'build', 'index.js')}';
import { Pkcs11KeyStore } from '${join(root, 'provisioning', 'pkcs11-key-store.ts')}';
import { Pkcs11TlsKey } from '${join(root, 'provisioning', 'pkcs11-tls-key.ts')}';
const o = JSON.parse(process.argv[2]);
const probe = new Pkcs11KeyStore({ modulePath: o.modulePath, tokenLabel: o.tokenLabel, pin: process.env.FRESH_PIN, keyLabel: 'probe' });
await probe.start();
const out = {};
const key = (keyLabel) => new Pkcs11TlsKey({ keyStore: { reference: { ...probe.reference, keyLabel }, loggedIn: () => probe.loggedIn() }, enginePath: o.engine });
for (const label of o.labels) {
  try { key(label).tlsOptions(); out[label] = 'loaded'; } catch (err) { out[label] = err.code + ' ' + err.message; }
}
const uri = key(o.labels.at(-1)).uri;
out.connect = await mqtt.connectAsync(o.url, { protocolVersion: 5, clientId: o.clientId, reconnectPeriod: 0, connectTimeout: 5000,
  ca: readFileSync(o.ca), cert: readFileSync(o.cert), privateKeyEngine: 'pkcs11', privateKeyIdentifier: uri }, false)
  .then(async (c) => { await c.endAsync(true); return 'connected'; }, (err) => 'failed: ' + err.message);
console.log(JSON.stringify(out));
await probe.stop();
`,
  );
  const child = startChild(process.execPath, ['--import', 'tsx', script, JSON.stringify({ ...o, engine: ENGINE })], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, FRESH_PIN: o.pin },
  }).child;
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  await new Promise((resolve) => child.once('close', resolve));
  const line = out.trim().split('\n').at(-1);
  if (!line?.startsWith('{')) throw new Error(`the fresh engine process printed no result: ${out} ${err}`);
  return { ...(JSON.parse(line) as Record<string, string>), stderr: err };
}

async function suite(): Promise<void> {
  const dir = ownTempDir(t, 'attacks-tamper-');
  const token = createSoftHsmToken(TOKEN, PIN);
  t.teardown(() => token.cleanup());
  const pki = await TestPki.create(join(dir, 'pki'));
  const fileDev = await pki.issue(FILE_KIOSK);
  const maker = new Pkcs11KeyStore({ modulePath: token.modulePath, tokenLabel: TOKEN, pin: PIN, keyLabel: KEY_LABEL });
  const tokenDev = await pki.issue(TOKEN_KIOSK, 'device', { keyStore: maker });
  await maker.stop();
  const observerId = await pki.issue('carrier-verifier-1', 'service');
  const broker = await TestBroker.start(pki, join(dir, 'broker'), { devices: [FILE_KIOSK, TOKEN_KIOSK], verifiers: ['carrier-verifier-1'] });
  t.teardown(() => broker.stop());

  // The carrier watches the kiosks' events: the alarm must reach it before the connection closes.
  const observer = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'carrier-verifier-1', reconnectPeriod: 0, ...tlsOf(pki, observerId) });
  t.teardown(() => observer.endAsync());
  const events: Array<{ device: string; type: string; path?: string }> = [];
  observer.on('message', (topic, payload) => events.push({ device: topic.split('/')[2], ...(JSON.parse(payload.toString()) as { type: string }) }));
  await observer.subscribeAsync('kiosk/v1/+/events', { qos: 1 });

  const connected = (id: string) =>
    broker
      .log()
      .split('\n')
      .filter((l) => l.includes('New client connected') && l.includes(` as ${id} `)).length;
  const tcpConnections = () =>
    broker
      .log()
      .split('\n')
      .filter((l) => l.includes('New connection from')).length;

  const logs: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(line) });
  const base = (id: string, state: string): KioskConfigInput => ({
    deviceId: id,
    stateDir: state,
    camera: { kind: 'replay', path: 'unused.mp4', capture: 'session', allowVirtual: true },
    transport: { url: broker.url, backoffBaseMs: 200, backoffCapMs: 1000 },
    renewal: { enabled: false },
    health: { httpPort: 0 },
    screen: { enabled: false },
    // tamper: the defaults.
  });
  const startDaemon = async (input: KioskConfigInput) => {
    const deps = withoutEngineAndCamera(await buildDaemonDeps(validateConfig(input), logger));
    const daemon = composeDaemon(deps);
    await daemon.start();
    const transport = deps.transport!;
    await waitFor('the transport online', () => transport.online, 20_000);
    return { deps, daemon, transport, gpio: deps.gpio as FakeGpioPort };
  };

  await t.test('file key: tamper closes the connection for good, deletes the key file and zeroes the key in memory', { timeout: 60_000 }, async (t) => {
    const state = join(dir, 'state-file');
    mkdirSync(state, { recursive: true, mode: 0o700 });
    const keyFile = join(state, 'device.key');
    copyFileSync(fileDev.keyPath, keyFile);
    const { deps, daemon, transport, gpio } = await startDaemon({
      ...base(FILE_KIOSK, state),
      transport: { ...base(FILE_KIOSK, state).transport, caFile: pki.caPath, certFile: fileDev.certPath, keyFile },
    });
    t.teardown(() => daemon.stop());
    t.ok(deps.identity instanceof DeviceIdentity, 'build.ts hands the TLS identity to the daemon');
    const identity = deps.identity as DeviceIdentity;
    const pem = identity.tls().key as Buffer;
    t.match(pem.toString(), /BEGIN PRIVATE KEY/, 'the PEM key is in memory while the kiosk runs');
    t.equal(connected(FILE_KIOSK), 1, 'one connection with the device certificate');

    const openedAt = Date.now();
    gpio.drive('tamper', true);
    await waitFor('the key_destroyed event at the carrier', () => events.find((e) => e.device === FILE_KIOSK && e.type === 'key_destroyed'), CLOSE_BOUND_MS);
    t.pass('the alarm (key_destroyed) reached the carrier over the live connection');
    await waitFor('the connection closed', () => !transport.online && broker.log().includes(`Client ${FILE_KIOSK} disconnected`), CLOSE_BOUND_MS);
    t.ok(Date.now() - openedAt < CLOSE_BOUND_MS, `closed ${Date.now() - openedAt} ms after the enclosure opened`);

    const tcp = tcpConnections();
    await settle(STAYS_CLOSED_MS);
    t.equal(connected(FILE_KIOSK), 1, `no reconnection in ${STAYS_CLOSED_MS} ms`);
    t.equal(tcpConnections(), tcp, 'not even a TCP connection attempt');
    t.notOk(transport.online, 'still offline');
    t.notOk(existsSync(keyFile), 'the key file is gone');
    t.ok(
      pem.every((b) => b === 0),
      'the PEM key in memory (the buffer every TLS option held) is zeros',
    );
    t.throws(() => identity.tls(), { code: 'E_KEY_STORE' }, 'the identity refuses a new connection');
    await rejectsWithCode(t, transport.start(), 'E_KEY_STORE', /destroyed/);
    await rejectsWithCode(t, deps.keyStore.sign(Buffer.from('a result')), 'E_KEY_STORE', /destroyed/);
  });

  await t.test('simulated kiosk: after tamper destroyed its key, the next start makes and certifies a new one', async (t) => {
    const state = join(dir, 'state-sim');
    const input: KioskConfigInput = {
      deviceId: 'kiosk-sim',
      simulate: true,
      stateDir: state,
      gpio: { driver: 'fake' },
      camera: { kind: 'replay', path: 'unused.mp4', capture: 'session', allowVirtual: true },
      health: { httpPort: 0 },
      screen: { enabled: false },
    };
    const run = async () => {
      const deps = withoutEngineAndCamera(await buildDaemonDeps(validateConfig(input), logger));
      const daemon = composeDaemon(deps);
      await daemon.start();
      return { deps, daemon };
    };
    const first = await run();
    const before = Buffer.from(first.deps.keyStore.publicKeySpki());
    (first.deps.gpio as FakeGpioPort).drive('tamper', true);
    await waitFor('the simulated key destroyed', () => !existsSync(join(state, 'device.key')), 10_000);
    await first.daemon.stop();
    const second = await run();
    t.teardown(() => second.daemon.stop());
    t.not(Buffer.from(second.deps.keyStore.publicKeySpki()).toString('hex'), before.toString('hex'), 'a new key');
    const signed = await second.daemon.signer.sign('0'.repeat(32), { verdict: 'reject' });
    t.ok(signed.token, 'results are signed again (a certificate for the new key)');
  });

  await t.test('PKCS#11 key: the PIN leaves the environment; tamper destroys the key objects in the token', { timeout: 90_000 }, async (t) => {
    const state = join(dir, 'state-p11');
    mkdirSync(state, { recursive: true, mode: 0o700 });
    copyFileSync(tokenDev.certPath, join(state, 'device.crt'));
    copyFileSync(pki.caPath, join(state, 'ca.crt'));
    process.env[PIN_VAR] = PIN;
    t.teardown(() => {
      delete process.env[PIN_VAR];
    });
    const { deps, daemon, transport, gpio } = await startDaemon({
      ...base(TOKEN_KIOSK, state),
      keyStore: { kind: 'pkcs11', pkcs11Module: token.modulePath, token: TOKEN, keyLabel: KEY_LABEL, pinSource: `env:${PIN_VAR}`, engine: ENGINE },
    });
    t.teardown(() => daemon.stop());

    // The PIN: read once at start, then out of the environment that every child process gets.
    t.equal(process.env[PIN_VAR], undefined, `${PIN_VAR} is no longer in process.env`);
    for (const run of ['startChild', 'spawn'] as const) {
      const env = await childEnv(run);
      t.match(env, /PATH=/, `${run}: the child printed its environment`);
      t.notOk(env.includes(PIN), `${run}: the child does not see the PIN`);
    }
    t.equal((await deps.keyStore.sign(Buffer.from('x'))).length, 64, 'the token key still signs (the store kept the PIN)');
    t.ok(tokenObjects(token.modulePath, TOKEN, PIN, KEY_LABEL) >= 2, 'the key pair is in the token');

    gpio.drive('tamper', true);
    const destroyed = await waitFor(
      'the key_destroyed event at the carrier',
      () => events.find((e) => e.device === TOKEN_KIOSK && e.type === 'key_destroyed'),
      CLOSE_BOUND_MS,
    );
    t.equal(destroyed.path, `pkcs11:token=${TOKEN};object=${KEY_LABEL}`, 'the event names the token key');
    await waitFor('the connection closed', () => !transport.online && broker.log().includes(`Client ${TOKEN_KIOSK} disconnected`), CLOSE_BOUND_MS);
    await settle(STAYS_CLOSED_MS);
    t.equal(connected(TOKEN_KIOSK), 1, `no reconnection in ${STAYS_CLOSED_MS} ms`);

    t.equal(tokenObjects(token.modulePath, TOKEN, PIN, KEY_LABEL), 0, 'no object with the key label is left in the token');
    await rejectsWithCode(
      t,
      new Pkcs11KeyStore({ modulePath: token.modulePath, tokenLabel: TOKEN, pin: PIN, keyLabel: KEY_LABEL, create: false }).start(),
      'E_KEY_STORE',
      KEY_LABEL,
    );
    await rejectsWithCode(t, deps.keyStore.sign(Buffer.from('a result')), 'E_KEY_STORE', /destroyed/);

    // A fresh TLS connection with the token key, from a fresh process (this one's engine state went with
    // the module): the engine no longer finds the key, while another key of the same token, under the
    // same login, still loads.
    const fresh = await freshEngineConnect(dir, {
      modulePath: token.modulePath,
      tokenLabel: TOKEN,
      pin: PIN,
      labels: ['probe', KEY_LABEL],
      url: broker.url,
      ca: pki.caPath,
      cert: tokenDev.certPath,
      clientId: TOKEN_KIOSK,
    });
    t.equal(fresh.probe, 'loaded', 'control: the engine loads a key that is still in the token');
    t.not(fresh[KEY_LABEL], 'loaded', `the destroyed key does not load (${fresh[KEY_LABEL]})`);
    t.match(fresh.stderr, `The private key was not found at: pkcs11:token=${TOKEN};object=${KEY_LABEL}`, 'libp11: not in the token');
    t.not(fresh.connect, 'connected', `a TLS connection with the destroyed token key fails (${fresh.connect})`);
    t.equal(connected(TOKEN_KIOSK), 1, 'the broker saw no new connection with the device certificate');
    t.notOk(logs.join('').includes(PIN), 'the PIN is in no log line');
  });
}
