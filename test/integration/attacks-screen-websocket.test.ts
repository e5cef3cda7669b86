/**
 * Attack: a foreign local process opens the customer screen's WebSocket to watch the customer's
 * live preview and session. Loopback and an Origin header stop a web page, not a local client (it
 * sends any Origin it likes). The socket now needs the per-start secret of the launch URL: without
 * it, or with a wrong one, the upgrade is refused (401) and no frame or session event reaches the
 * client; with it the page works. The daemon hands the launch URL to the browser's launcher in a
 * 0600 file in its state directory; the secret is never logged and changes at every start.
 * The MRZ form (the chip's key, personal data) follows the same rule: it reaches only the page with
 * the secret, and an entry is taken only while the agent asks for one, once, well-formed.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { WebSocket } from 'ws';
import { validateConfig } from '../../agent/config/load.js';
import { buildDaemonDeps } from '../../agent/daemon/build.js';
import { composeDaemon } from '../../agent/daemon/compose.js';
import { CustomerScreen } from '../../agent/screen/server.js';
import { createLogger } from '../../base/log.js';
import { makeImage } from '../../base/rgb-image.js';
import { withoutEngineAndCamera } from '../helpers/daemon-stand-ins.js';
import { ownTempDir } from '../helpers/tempdir.js';

function memoryLogger() {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _e, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  return { lines, logger: createLogger({ level: 'debug', destination: sink }) };
}

/** Opens `/ws` as a local client would (Origin forged to the page's own); what it got either way. */
async function client(base: string, query: string) {
  const port = new URL(base).port;
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws${query}`, { origin: `http://127.0.0.1:${port}` });
  const text: Array<{ type: string }> = [];
  const frames: Buffer[] = [];
  ws.on('message', (d, isBinary) => (isBinary ? frames.push(d as Buffer) : text.push(JSON.parse(String(d)))));
  const opened = await new Promise<{ open: true } | { open: false; status?: number; body: string }>((ok) => {
    ws.once('open', () => ok({ open: true }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c));
      res.on('end', () => ok({ open: false, status: res.statusCode, body }));
    });
    ws.once('error', (e) => ok({ open: false, body: e.message }));
  });
  return { ws, text, frames, opened };
}

const CHROMIUM = '/usr/bin/chromium';
const secretOf = (launchUrl: string) => new URL(launchUrl).hash.replace(/^#k=/, '');
const frame = makeImage(320, 240, new Uint8Array(320 * 240 * 3).fill(100));

/** Keeps a session on screen with preview frames flowing for `ms`. */
async function feed(screen: CustomerScreen, ms: number) {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    screen.preview(frame);
    await new Promise((r) => setTimeout(r, 20));
  }
}

t.test('a local client without the secret gets nothing; with it the page works', async (t) => {
  const dir = ownTempDir(t, 'attack-screen-');
  const launchFile = join(dir, 'screen-url');
  const { logger, lines } = memoryLogger();
  const screen = new CustomerScreen({ logger, port: 0, launchFile });
  const url = await screen.start();
  t.teardown(() => screen.stop());
  const launchUrl = screen.launchUrl;
  const secret = secretOf(launchUrl);
  t.ok(Buffer.from(secret, 'base64url').length >= 16, 'at least 128 bits of secret');
  t.notOk(url.includes(secret), 'the URL start() returns has no secret');

  screen.show({ type: 'session', steps: ['blink'] });
  screen.show({ type: 'prompt', id: 'blink' });
  const wrong = `${secret.slice(0, -2)}${secret.endsWith('AA') ? 'BB' : 'AA'}`;
  const attackers = [
    ['no secret', await client(url, '')],
    ['an empty secret', await client(url, '?k=')],
    ['a wrong secret of the same length', await client(url, `?k=${wrong}`)],
    ['the secret in another parameter', await client(url, `?key=${secret}`)],
  ] as const;
  await feed(screen, 600);
  for (const [what, c] of attackers) {
    t.match(c.opened, { open: false, status: 401 }, `${what}: refused with 401`);
    if (!c.opened.open) t.match(JSON.parse(c.opened.body), { code: 'secret' }, `${what}: JSON with a code`);
    t.equal(c.text.length, 0, `${what}: no session event`);
    t.equal(c.frames.length, 0, `${what}: no preview frame`);
  }

  const page = await client(url, `?k=${encodeURIComponent(secret)}`);
  t.teardown(() => page.ws.terminate());
  t.match(page.opened, { open: true }, 'with the secret the socket opens');
  await feed(screen, 800);
  t.same(
    page.text.map((m) => m.type),
    ['hello', 'session', 'prompt'],
    'and the page is brought up to date',
  );
  t.ok(page.frames.length > 0, `and gets preview frames (${page.frames.length})`);

  t.equal(readFileSync(launchFile, 'utf8'), `${launchUrl}\n`, 'the launch file holds the launch URL');
  t.equal(statSync(launchFile).mode & 0o777, 0o600, 'mode 0600');
  const log = lines.join('');
  t.notOk(log.includes(secret), 'the secret is never logged');
  t.match(log, /websocket upgrade refused/, 'refusals are logged');

  // A new start draws a new secret: the old one is dead.
  await screen.stop();
  t.notOk(existsSync(launchFile), 'the launch file is removed at stop');
  await screen.start();
  t.not(secretOf(screen.launchUrl), secret, 'a new secret at every start');
  const stale = await client(screen.url, `?k=${secret}`);
  t.match(stale.opened, { open: false, status: 401 }, 'the previous secret is refused');
});

t.test("the daemon's screen: launch file in the state directory, a foreign client refused", async (t) => {
  const dir = ownTempDir(t, 'attack-screen-daemon-');
  const cfg = validateConfig({
    deviceId: 'kiosk-screen-ws',
    simulate: true,
    stateDir: join(dir, 'state'),
    gpio: { driver: 'fake' },
    camera: { kind: 'replay', path: 'unused.mp4', capture: 'session', allowVirtual: true },
    health: { httpPort: 0 },
    screen: { enabled: true, port: 0 },
    sim: { autoConfirmMs: 0, terminal: false },
  });
  const { logger, lines } = memoryLogger();
  const daemon = composeDaemon(withoutEngineAndCamera(await buildDaemonDeps(cfg, logger)));
  await daemon.start();
  let stopped = false;
  t.teardown(async () => {
    if (!stopped) await daemon.stop();
  });
  const launchFile = join(cfg.stateDir, 'screen-url');
  const launchUrl = readFileSync(launchFile, 'utf8').trim();
  t.equal(statSync(launchFile).mode & 0o777, 0o600, 'the launch file is 0600');
  t.equal(launchUrl, daemon.screen!.launchUrl, 'it holds the launch URL');
  const secret = secretOf(launchUrl);
  daemon.screen!.show({ type: 'session', steps: ['blink'] });
  const foreign = await client(daemon.screen!.url, '');
  t.match(foreign.opened, { open: false, status: 401 }, 'a client without the secret is refused');
  const page = await client(daemon.screen!.url, `?k=${secret}`);
  t.teardown(() => page.ws.terminate());
  t.match(page.opened, { open: true }, 'the browser with the launch URL is served');
  t.notOk(lines.join('').includes(secret), 'the secret is not in the daemon log');
  await daemon.stop();
  stopped = true;
  t.notOk(existsSync(launchFile), 'removed when the daemon stops');
});

t.test('the browser launcher: the secret reaches Chromium through a 0600 redirect page, not its command line', async (t) => {
  const dir = ownTempDir(t, 'attack-screen-launch-');
  const { logger } = memoryLogger();
  const creds = join(dir, 'credentials');
  const run = join(dir, 'run');
  mkdirSync(creds);
  mkdirSync(run);
  const screen = new CustomerScreen({ logger, port: 0, launchFile: join(creds, 'screen-url') });
  await screen.start();
  t.teardown(() => screen.stop());
  const secret = secretOf(screen.launchUrl);
  // A stand-in browser that records its command line (what /proc/<pid>/cmdline would show).
  const argv = join(dir, 'argv');
  const fake = join(dir, 'browser');
  writeFileSync(fake, `#!/bin/sh\nprintf '%s\\n' "$@" > '${argv}'\n`);
  chmodSync(fake, 0o755);
  execFileSync('sh', ['systemd/kiosk-screen-launch.sh'], {
    env: { PATH: process.env.PATH, CREDENTIALS_DIRECTORY: creds, RUNTIME_DIRECTORY: run, KIOSK_BROWSER: fake },
  });
  const args = readFileSync(argv, 'utf8');
  t.notOk(args.includes(secret), 'the secret is not on the browser command line');
  const start = join(run, 'start.html');
  t.match(args, `--app=file://${start}`, 'the browser opens the redirect page');
  t.equal(statSync(start).mode & 0o777, 0o600, 'the redirect page is 0600');
  t.match(readFileSync(start, 'utf8'), screen.launchUrl, 'and leads to the launch URL');

  if (!existsSync(CHROMIUM)) return t.comment(`${CHROMIUM} is absent: the redirect is not opened in a browser`);
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'], timeout: 20_000 });
  t.teardown(() => browser.close());
  const page = await browser.newPage();
  await page.goto(`file://${start}`);
  await page.waitForFunction(() => document.body?.dataset.connection === 'open', undefined, { timeout: 10_000 });
  t.equal(screen.connected, 1, 'Chromium follows the redirect and its page opens the socket');
});

t.test('MRZ entries: none from a socket without the secret, none unasked, none malformed; the form reaches only the page', async (t) => {
  const { logger, lines } = memoryLogger();
  const screen = new CustomerScreen({ logger, port: 0 });
  const url = await screen.start();
  t.teardown(() => screen.stop());
  const secret = secretOf(screen.launchUrl);
  const good = { type: 'mrz_entry', documentNumber: 'L898902C3', birthDate: '740812', expiryDate: '120415' };
  const page = await client(url, `?k=${encodeURIComponent(secret)}`);
  t.teardown(() => page.ws.terminate());
  const settle = () => new Promise((r) => setTimeout(r, 200));

  // Unasked: an authenticated page (or a script injected into it) cannot push a key.
  page.ws.send(JSON.stringify(good));
  await settle();
  t.match(page.text.at(-1), { type: 'refused', reason: 'no MRZ entry is asked' }, 'an unsolicited entry is refused');

  let outcome: unknown = 'pending';
  const asked = screen.askAccessKey({ documentNumber: 'L898902C3', birthDate: '740812', expiryDate: '12O415' }, ['expiryDate'], new AbortController().signal);
  asked.then(
    (k) => (outcome = k),
    (e) => (outcome = e),
  );
  const attackers = [
    ['no secret', await client(url, '')],
    ['a wrong secret', await client(url, `?k=${secret.slice(0, -2)}${secret.endsWith('AA') ? 'BB' : 'AA'}`)],
  ] as const;
  for (const [what, c] of attackers) {
    t.match(c.opened, { open: false, status: 401 }, `${what}: refused with 401 while the form is up`);
    if (c.ws.readyState === WebSocket.OPEN) c.ws.send(JSON.stringify({ ...good, documentNumber: 'ATTACKER1' }));
  }
  await settle();
  for (const [what, c] of attackers) t.equal(c.text.length, 0, `${what}: did not see the form (no MRZ fields)`);
  t.equal(outcome, 'pending', 'no entry from them reached the agent');

  // Malformed entries from the page itself are refused and the form stays.
  const malformed = [
    { ...good, documentNumber: 'l898902c3' },
    { ...good, birthDate: '7408120' },
    { ...good, expiryDate: 120415 },
    { ...good, documentNumberCheckDigit: '6' },
    { type: 'mrz_entry', documentNumber: 'L898902C3', birthDate: '740812' },
  ];
  const before = page.text.length;
  for (const m of malformed) page.ws.send(JSON.stringify(m));
  await settle();
  const refusals = page.text.slice(before).filter((m) => m.type === 'refused') as Array<{ type: string; reason: string }>;
  t.equal(refusals.length, malformed.length, 'each malformed entry refused');
  t.notOk(
    refusals.some((r) => /L898902C3|l898902c3|740812|120415/.test(r.reason)),
    'no refusal echoes a value',
  );
  t.equal(outcome, 'pending', 'still asking');

  page.ws.send(JSON.stringify(good));
  await settle();
  t.match(outcome, { documentNumber: 'L898902C3', expiryDateCheckDigit: '9' }, 'the page answers');
  page.ws.send(JSON.stringify({ ...good, documentNumber: 'ATTACKER1' }));
  await settle();
  t.match(page.text.at(-1), { type: 'refused', reason: 'no MRZ entry is asked' }, 'a second (replayed or racing) entry is refused');
  t.notMatch(lines.join(''), /L898902C|740812|120415|ATTACKER1/, 'no MRZ field in the log');
  t.notOk(lines.join('').includes(secret), 'nor the secret');
});
