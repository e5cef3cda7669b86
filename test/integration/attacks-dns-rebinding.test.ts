/**
 * Attack: DNS rebinding against the loopback health server. A page on evil.example whose name the
 * attacker re-points to 127.0.0.1 reaches the port from the kiosk's own browser; its requests carry
 * `Host: evil.example:<port>` (and, for fetches, `Origin: http://evil.example:<port>`). Raw node:http
 * requests with forged Host / Origin against a real HealthServer and against the daemon's own
 * composed server: refused (421 / 403, JSON with a code); loopback names with our port still served.
 */
import t, { type Test } from 'tap';
import { request } from 'node:http';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { validateConfig } from '../../agent/config/load.js';
import { buildDaemonDeps } from '../../agent/daemon/build.js';
import { composeDaemon } from '../../agent/daemon/compose.js';
import { HealthServer, type HealthSnapshot } from '../../agent/daemon/health.js';
import { createLogger } from '../../base/log.js';
import { withoutEngineAndCamera } from '../helpers/daemon-stand-ins.js';
import { ownTempDir } from '../helpers/tempdir.js';

/** One raw request: Host and Origin exactly as given (node:http sends our `host` header verbatim). */
function raw(port: number, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((ok, fail) => {
    const req = request({ host: '127.0.0.1', port, path, headers, setHost: false }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => ok({ status: res.statusCode!, body }));
    });
    req.on('error', fail);
    req.end();
  });
}

const SNAPSHOT: HealthSnapshot = { healthy: true } as HealthSnapshot;

function quietLogger() {
  const lines: string[] = [];
  const sink = new Writable({
    write(c, _e, cb) {
      lines.push(String(c));
      cb();
    },
  });
  return { lines, logger: createLogger({ level: 'info', destination: sink }) };
}

/** The checks every loopback server must pass; `port` is the server's. */
async function rebindingRefused(t: Test, port: number) {
  for (const path of ['/health', '/metrics']) {
    const forged = await raw(port, path, { host: `evil.example:${port}` });
    t.equal(forged.status, 421, `${path}: a rebinding Host is refused`);
    t.notMatch(forged.body, /healthy/, `${path}: no snapshot in the refusal`);
    t.match(JSON.parse(forged.body), { code: 'host_not_loopback' }, `${path}: JSON with a code`);
    t.equal((await raw(port, path, { host: 'evil.example' })).status, 421, `${path}: no port`);
    t.equal((await raw(port, path, { host: `127.0.0.1:${port + 1}` })).status, 421, `${path}: another port`);
    t.ok([400, 421].includes((await raw(port, path, {})).status), `${path}: no Host at all (Node answers 400 itself)`);
    const crossOrigin = await raw(port, path, { host: `127.0.0.1:${port}`, origin: `http://evil.example:${port}` });
    t.equal(crossOrigin.status, 403, `${path}: a foreign Origin is refused`);
    t.match(JSON.parse(crossOrigin.body), { code: 'origin_not_loopback' });
    t.equal((await raw(port, path, { host: `127.0.0.1:${port}`, origin: 'null' })).status, 403, `${path}: Origin null`);
    t.equal(
      (await raw(port, path, { host: `127.0.0.1:${port}`, origin: `http://localhost:${port + 1}` })).status,
      403,
      `${path}: a loopback Origin of another port`,
    );
    t.equal((await raw(port, path, { host: `127.0.0.1:${port}`, 'sec-fetch-site': 'cross-site' })).status, 403, `${path}: Sec-Fetch-Site cross-site`);
  }
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, `LOCALHOST:${port}`]) {
    t.not((await raw(port, '/health', { host })).status, 421, `Host ${host} is served`);
  }
  const same = await raw(port, '/health', { host: `localhost:${port}`, origin: `http://localhost:${port}`, 'sec-fetch-site': 'same-origin' });
  t.match(JSON.parse(same.body), { healthy: Boolean }, 'the same loopback origin is served');
}

t.test('a HealthServer refuses a DNS-rebinding Host and a foreign Origin', async (t) => {
  const { logger, lines } = quietLogger();
  const server = new HealthServer({ port: 0, logger, snapshot: async () => SNAPSHOT });
  await server.start();
  t.teardown(() => server.stop());
  const port = server.port!;
  const ok = await raw(port, '/health', { host: `127.0.0.1:${port}` });
  t.equal(ok.status, 200);
  t.match(JSON.parse(ok.body), { healthy: true });
  await rebindingRefused(t, port);
  t.match(lines.join(''), /local API request refused/, 'refusals are logged');
});

t.test("the daemon's own loopback server refuses them too", async (t) => {
  const dir = ownTempDir(t, 'attack-rebinding-');
  const cfg = validateConfig({
    deviceId: 'kiosk-rebinding',
    simulate: true,
    stateDir: join(dir, 'state'),
    gpio: { driver: 'fake' },
    camera: { kind: 'replay', path: 'unused.mp4', capture: 'session', allowVirtual: true },
    health: { httpPort: 0 },
    screen: { enabled: false },
    sim: { autoConfirmMs: 0, terminal: false },
  });
  const { logger } = quietLogger();
  const daemon = composeDaemon(withoutEngineAndCamera(await buildDaemonDeps(cfg, logger)));
  await daemon.start();
  t.teardown(() => daemon.stop());
  const port = daemon.httpPort!;
  t.ok(port, 'the daemon serves /health');
  await rebindingRefused(t, port);
});
