/**
 * Attack: driving the simulator's /sim/* routes (presence, tamper, card-out sensor, any input) from a
 * web page or on a real kiosk. The routes exist only when `simulate` is on (a daemon composed with
 * them on a real kiosk answers 404; `simulatedKioskExtras` refuses to build them); on a simulated
 * kiosk a cross-site request (foreign Origin, `Sec-Fetch-Site: cross-site` or `same-site`) and a POST
 * that is not `application/json` (what an HTML form sends) are refused before the route runs.
 */
import t, { type Test } from 'tap';
import { createServer } from 'node:net';
import { request } from 'node:http';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { validateConfig } from '../../agent/config/load.js';
import type { KioskConfigInput } from '../../agent/config/types.js';
import { buildDaemonDeps } from '../../agent/daemon/build.js';
import { composeDaemon } from '../../agent/daemon/compose.js';
import { simRoutes, simulatedKioskExtras } from '../../agent/daemon/sim.js';
import { createLogger } from '../../base/log.js';
import { FakeGpioPort } from '../../device/gpio/fake-gpio.js';
import { withoutEngineAndCamera } from '../helpers/daemon-stand-ins.js';
import { ownTempDir } from '../helpers/tempdir.js';

function post(port: number, path: string, body: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((ok, fail) => {
    const req = request(
      { host: '127.0.0.1', port, path, method: 'POST', headers: { 'content-length': String(Buffer.byteLength(body)), ...headers } },
      (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => ok({ status: res.statusCode!, body: text }));
      },
    );
    req.on('error', fail);
    req.end(body);
  });
}

const logger = createLogger({
  level: 'info',
  destination: new Writable({
    write(_c, _e, cb) {
      cb();
    },
  }),
});

/** A port that was free a moment ago (a real kiosk's server needs a fixed one: 0 turns it off). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((ok) => s.close(() => ok()));
  return port;
}

async function daemonWith(t: Test, simulate: boolean) {
  const dir = ownTempDir(t, 'attack-sim-');
  const input: KioskConfigInput = {
    deviceId: 'kiosk-sim-routes',
    // Built as a simulated kiosk (a self-signed certificate, fake GPIO), composed as the test says.
    simulate: true,
    stateDir: join(dir, 'state'),
    gpio: { driver: 'fake' },
    camera: { kind: 'replay', path: 'unused.mp4', capture: 'session', allowVirtual: true },
    health: { httpPort: simulate ? 0 : await freePort() },
    screen: { enabled: false },
    sim: { autoConfirmMs: 0, terminal: false },
  };
  const cfg = validateConfig(input);
  const built = withoutEngineAndCamera(await buildDaemonDeps(cfg, logger));
  const deps = { ...built, config: { ...built.config, simulate } };
  const gpio = deps.gpio as FakeGpioPort;
  // What agent/cli/run.ts would add on a simulated kiosk; here passed whatever `simulate` says.
  const inputs = Object.entries(cfg.gpio.pins)
    .filter(([, p]) => p.direction === 'in')
    .map(([n]) => n);
  const daemon = composeDaemon(deps, { routes: simRoutes(gpio, inputs) });
  await daemon.start();
  t.teardown(() => daemon.stop());
  return { port: daemon.httpPort!, gpio };
}

t.test('on a real kiosk the /sim/* routes do not exist', async (t) => {
  const { port, gpio } = await daemonWith(t, false);
  const headers = { host: `127.0.0.1:${port}`, 'content-type': 'application/json' };
  for (const path of ['/sim/tamper', '/sim/presence', '/sim/confirm']) {
    const r = await post(port, path, '{"open":true,"on":true}', headers);
    t.equal(r.status, 404, `POST ${path}: not found`);
  }
  t.equal(gpio.level('tamper'), false, 'the tamper input was not driven');
  t.equal(gpio.level('presence'), false, 'nor presence');
  t.throws(
    () => simulatedKioskExtras(new FakeGpioPort({ pins: {} }), { simulate: false, gpio: { pins: {} }, sim: { autoConfirmMs: 0 } } as never, logger),
    { code: 'E_CONFIG_INVALID' },
    'the simulator controls are not built for a real kiosk',
  );
});

t.test('on a simulated kiosk cross-site and form requests are refused', async (t) => {
  const { port, gpio } = await daemonWith(t, true);
  const host = `127.0.0.1:${port}`;
  const json = { host, 'content-type': 'application/json' };
  const refused: Array<[string, Record<string, string>, string, number]> = [
    ['an HTML form (urlencoded)', { host, 'content-type': 'application/x-www-form-urlencoded' }, 'open=true', 415],
    ['an HTML form (multipart)', { host, 'content-type': 'multipart/form-data; boundary=x' }, '--x--', 415],
    ['a text/plain fetch', { host, 'content-type': 'text/plain' }, '{"open":true}', 415],
    ['no content type', { host }, '{"open":true}', 415],
    ['a foreign Origin', { ...json, origin: 'http://evil.example' }, '{"open":true}', 403],
    ['Sec-Fetch-Site: cross-site', { ...json, 'sec-fetch-site': 'cross-site' }, '{"open":true}', 403],
    ['Sec-Fetch-Site: same-site', { ...json, 'sec-fetch-site': 'same-site' }, '{"open":true}', 403],
    ['a rebinding Host', { 'content-type': 'application/json', host: `evil.example:${port}` }, '{"open":true}', 421],
  ];
  for (const [what, headers, body, status] of refused) {
    const r = await post(port, '/sim/tamper', body, headers);
    t.equal(r.status, status, `${what}: ${status}`);
    t.match(JSON.parse(r.body), { code: String }, `${what}: JSON with a code`);
    t.equal(gpio.level('tamper'), false, `${what}: the tamper input was not driven`);
  }
  const ok = await post(port, '/sim/presence', '{"on":true}', { ...json, origin: `http://${host}`, 'sec-fetch-site': 'same-origin' });
  t.equal(ok.status, 200, 'a same-origin JSON request is served');
  t.equal(gpio.level('presence'), true, 'presence driven');
  const curl = await post(port, '/sim/presence', '{"on":false}', { host: `localhost:${port}`, 'content-type': 'application/json' });
  t.equal(curl.status, 200, 'curl with -H content-type: application/json is served');
  t.equal(gpio.level('presence'), false);
});
