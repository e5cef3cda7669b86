import t from 'tap';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig, loadConfigFile } from '../../agent/config/load.js';
import { configSchema } from '../../agent/config/schema.js';
import { schemaMarkdown, schemaRows } from '../../agent/config/format.js';
import { simulatedConfig } from '../../agent/config/defaults.js';
import { DEFAULT_SESSION_CONFIG, SESSION_KEYS } from '../../agent/session/config.js';
import { ABUSE_KEYS } from '../../agent/session/abuse.js';
import { DEFAULT_KIOSK_TIMINGS } from '../../device/kiosk/config.js';
import { isKioskError } from '../../base/errors.js';
import { CALIBRATION } from '../../models/calibration.js';
import { PAD_MODEL_IDS } from '../../models/pad/ids.js';

const subjectOf = (input: unknown): string | undefined => {
  try {
    validateConfig(input);
  } catch (err) {
    if (isKioskError(err, 'E_CONFIG_INVALID')) return err.subject;
    throw err;
  }
  return undefined;
};

t.test('every key has a type, a default, a unit and a description', async (t) => {
  const rows = schemaRows(configSchema());
  t.ok(rows.length > 80, `${rows.length} keys`);
  for (const r of rows) {
    if (!r.type || r.default === '' || !r.unit || !r.description) t.fail(`incomplete: ${JSON.stringify(r)}`);
  }
  const keysUnder = (prefix: string) => rows.filter((r) => r.key.startsWith(prefix)).map((r) => r.key.slice(prefix.length));
  t.same(keysUnder('session.'), Object.keys(SESSION_KEYS), 'the session keys are the table in agent/session/config.ts');
  t.same(keysUnder('abuse.'), Object.keys(ABUSE_KEYS), 'the abuse keys are the table in agent/session/abuse.ts');
  t.match(schemaMarkdown(configSchema()), /\| `camera\.width` \| integer \| `640` \| px \|/);
});

t.test("defaults are the owning modules' defaults, not copies", async (t) => {
  const c = validateConfig({});
  t.same(c.session, DEFAULT_SESSION_CONFIG);
  t.equal(c.dispenser.pulseMs, DEFAULT_KIOSK_TIMINGS.pulseMs);
  t.equal(c.kiosk.arriveMs, DEFAULT_KIOSK_TIMINGS.arriveMs);
  t.equal(c.gpio.pins.presence.line && 'bcm' in c.gpio.pins.presence.line ? c.gpio.pins.presence.line.bcm : -1, 17);
  t.equal(c.outbox.maxMessages, 10000);
  t.equal(c.transport.url, '', 'no broker by default');
  t.match(c.screen, { enabled: true, port: 8741, previewFps: 5, previewWidth: 320 }, 'the customer screen is on by default');
  t.equal(c.assist.enabled, false, 'remote assistance is off by default (it needs operators)');
  t.equal(simulatedConfig({ stateDir: '/tmp/x' }).screen.enabled, true, 'the simulated kiosk has the screen');
  const a = validateConfig({});
  a.gpio.pins.presence.activeLow = true;
  t.notOk(validateConfig({}).gpio.pins.presence.activeLow, 'defaults are not shared between loads');
});

t.test('an invalid config names the key', async (t) => {
  t.equal(subjectOf({ camera: { width: 'wide' } }), 'camera.width', 'wrong type');
  t.equal(subjectOf({ camera: { widht: 640 } }), 'camera.widht', 'unknown key');
  t.equal(subjectOf({ camera: { kind: 'webcam' } }), 'camera.kind', 'not in the enum');
  t.equal(subjectOf({ camera: { kind: 'replay' } }), 'camera.path', 'replay needs a path');
  t.equal(subjectOf({ session: { turnYawDeg: 120 } }), 'session.turnYawDeg', 'session range from resolveSessionConfig');
  t.equal(subjectOf({ session: { neutralMaxDeg: 30 } }), 'session.neutralMaxDeg', 'cross-key session check');
  t.equal(subjectOf({ abuse: { maxFailures: 0 } }), 'abuse.maxFailures');
  t.equal(subjectOf({ dispenser: { pulseMs: 500, confirmTimeoutMs: 100 } }), 'dispenser.confirmTimeoutMs');
  t.equal(subjectOf({ transport: { url: 'mqtt://broker:1883' } }), 'transport.url', 'mutual TLS only');
  t.equal(subjectOf({ gpio: { driver: 'fake' } }), 'gpio.driver', 'fake GPIO only on a simulated kiosk');
  t.equal(subjectOf({ gpio: { pins: { presence: { line: { bcm: 17 }, direction: 'in' } } } }), 'gpio.pins.tamper', 'a required kiosk pin is missing');
  t.equal(subjectOf({ gpio: { pins: { presence: { line: { bcm: 17, chip: 'x', offset: 1 }, direction: 'in' } } } }), 'gpio.pins.presence.line');
  const named = (driver: string) => ({ gpio: { driver, pins: { ...validateConfig({}).gpio.pins, presence: { line: { name: 'PQ.05' }, direction: 'in' } } } });
  t.equal(subjectOf(named('onoff')), 'gpio.pins.presence.line', 'a line by name needs the gpiod driver');
  t.equal(
    validateConfig(named('gpiod')).gpio.pins.presence.line && 'name' in validateConfig(named('gpiod')).gpio.pins.presence.line ? 'named' : 'not',
    'named',
    'and is accepted with it',
  );
  t.equal(
    subjectOf({ gpio: { driver: 'gpiod', pins: { ...validateConfig({}).gpio.pins, presence: { line: { name: 'PQ.05', bcm: 4 }, direction: 'in' } } } }),
    'gpio.pins.presence.line',
    'one form of line only',
  );
  t.equal(subjectOf({ health: { httpPort: 70000 } }), 'health.httpPort');
  t.equal(subjectOf({ deviceId: 'Kiosk 1' }), 'deviceId');
  t.equal(subjectOf([]), '(root)');
  t.equal(subjectOf({ screen: { previewFps: 30 } }), 'screen.previewFps', 'preview rate capped');
  t.equal(subjectOf({ assist: { enabled: true } }), 'assist.operators', 'assist needs operators');
  const op = { id: 'carrier-op-alice', publicKey: { kty: 'EC', crv: 'P-256', x: 'AA', y: 'BB' } };
  t.equal(subjectOf({ assist: { enabled: true, operators: [op] } }), 'assist.enabled', 'assist needs a broker');
  t.equal(subjectOf({ assist: { operators: [{ ...op, id: 'kiosk-1' }] } }), 'assist.operators.0.id', 'operator names only');
  t.equal(
    subjectOf({ assist: { operators: [{ ...op, publicKey: { ...op.publicKey, d: 'secret' } }] } }),
    'assist.operators.0.publicKey.d',
    'no private key in the config',
  );
  t.equal(
    subjectOf({
      transport: { url: 'mqtts://broker:8883' },
      assist: { enabled: true, operators: [op], iceServers: [{ urls: ['turn:turn.example:3478'], username: 'u', credential: 'c' }], relayOnly: true },
    }),
    undefined,
  );
});

t.test('files: unreadable and non-JSON files are E_CONFIG_INVALID naming the file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, '{ "camera": ');
  await t.rejects(loadConfigFile(bad), { code: 'E_CONFIG_INVALID', subject: bad });
  await t.rejects(loadConfigFile(join(dir, 'missing.json')), { code: 'E_CONFIG_INVALID' });
  const good = join(dir, 'good.json');
  writeFileSync(good, JSON.stringify({ deviceId: 'kiosk-042', camera: { kind: 'v4l2', device: '/dev/video2' } }));
  const c = await loadConfigFile(good);
  t.equal(c.camera.device, '/dev/video2');
  t.equal(c.camera.fps, 30);
});

t.test('the embedded defaults are a simulated kiosk', async (t) => {
  const c = simulatedConfig({ video: 'clip.mp4', stateDir: '/tmp/x' });
  t.equal(c.simulate, true);
  t.equal(c.gpio.driver, 'fake');
  t.match(c.camera, { kind: 'replay', path: 'clip.mp4', allowVirtual: true });
  t.equal(simulatedConfig({ stateDir: '/tmp/x' }).camera.kind, 'auto');
});

t.test('engine.padModels: the calibrated set by default; another set needs its own threshold', async (t) => {
  t.same(validateConfig({}).engine.padModels, CALIBRATION.padModels.value, 'the calibrated set');
  const previous = ['fr_liveness', 'minifasnet_v2', 'minifas_celebaspoof'];
  t.equal(subjectOf({ engine: { padModels: previous } }), 'session.maxAttackScore', 'a threshold fitted for another set is refused');
  const c = validateConfig({ engine: { padModels: previous }, session: { maxAttackScore: 0.419 } });
  t.same([c.engine.padModels, c.session.maxAttackScore], [previous, 0.419], 'accepted with its own threshold');
  t.equal(subjectOf({ engine: { padModels: [...CALIBRATION.padModels.value].reverse() } }), undefined, 'the order does not matter');
  t.equal(subjectOf({ engine: { padModels: ['fr_liveness', 'nope'] }, session: { maxAttackScore: 0.5 } }), 'engine.padModels.1', 'unknown model');
  t.equal(subjectOf({ engine: { padModels: [] } }), 'engine.padModels', 'at least one');
  t.equal(subjectOf({ engine: { padModels: ['hyperfas', 'hyperfas'] }, session: { maxAttackScore: 0.5 } }), 'engine.padModels', 'no repeats');
});

t.test('every presentation-attack model the config offers is in the manifest, and every one there is offered', async (t) => {
  const manifest = JSON.parse(readFileSync(new URL('../../models/manifest.json', import.meta.url), 'utf8')) as { models: { id: string; task: string }[] };
  const inManifest = manifest.models.filter((m) => m.task === 'pad' && !m.id.includes('@')).map((m) => m.id);
  t.same([...PAD_MODEL_IDS].sort(), inManifest.sort());
});
