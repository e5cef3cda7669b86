/**
 * The customer screen server on a real socket: loopback only, the page's files and nothing else,
 * DNS-rebinding and cross-origin sockets refused, page messages validated (refused with a reason,
 * logged), a page that connects mid-session brought up to date, preview frames reduced and rate
 * limited, only during a session, never logged; `verify --screen`'s wiring (URL, wait, cancel);
 * the document step (the MRZ form: asked, re-asked, answered, aborted; its fields never logged).
 */
import t from 'tap';
import { Writable } from 'node:stream';
import { request } from 'node:http';
import { networkInterfaces } from 'node:os';
import sharp from 'sharp';
import { WebSocket } from 'ws';
import { createLogger } from '../../base/log.js';
import { CustomerScreen } from '../../agent/screen/server.js';
import { PreviewEncoder } from '../../agent/screen/preview.js';
import { openVerifyScreen } from '../../agent/screen/verify-screen.js';
import { makeImage } from '../../base/rgb-image.js';
import { waitFor } from '../helpers/wait.js';

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

function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((ok, fail) => {
    const req = request(url, { headers }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => ok({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', fail);
    req.end();
  });
}

/** A page-like socket that collects what the agent sends; `launchUrl` carries the socket's secret (`#k=`). */
async function page(launchUrl: string, origin = new URL(launchUrl).origin) {
  const u = new URL(launchUrl);
  const ws = new WebSocket(`ws://${u.host}/ws?k=${u.hash.replace(/^#k=/, '')}`, { origin });
  const text: any[] = [];
  const binary: Buffer[] = [];
  ws.on('message', (d, isBinary) => (isBinary ? binary.push(d as Buffer) : text.push(JSON.parse(String(d)))));
  await new Promise<void>((ok, fail) => {
    ws.once('open', () => ok());
    ws.once('error', fail);
  });
  return { ws, text, binary };
}

/** True once `fn` holds (within `ms`), false if it never did: the assertions after it say what was missing. */
const until = (fn: () => boolean, ms = 3000) => waitFor('the page', fn, { timeoutMs: ms, intervalMs: 20 }).catch(() => false);

t.test('serves the page on 127.0.0.1 only, and nothing else', async (t) => {
  const { logger } = memoryLogger();
  const screen = new CustomerScreen({ logger, port: 0 });
  const url = await screen.start();
  t.teardown(() => screen.stop());
  t.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  const port = Number(new URL(url).port);
  const index = await get(url);
  t.equal(index.status, 200);
  t.match(index.body, /<canvas id="preview"/);
  t.match(String(index.headers['content-security-policy']), /default-src 'none'/);
  t.equal(index.headers['cache-control'], 'no-store');
  for (const p of ['screen.js', 'screen.css', 'i18n.js', 'i18n/en.json', 'i18n/zh-Hans.json']) t.equal((await get(`${url}${p}`)).status, 200, p);
  t.equal((await get(`${url}../package.json`)).status, 404, 'no path outside the page');
  t.equal((await get(`${url}server.ts`)).status, 404);
  t.equal((await get(url, { host: `evil.example:${port}` })).status, 421, 'a DNS-rebinding host is refused');
  // Not reachable on another address of this machine (0.0.0.0 would mean loopback to Linux: use a real one).
  const ext = Object.values(networkInterfaces())
    .flat()
    .find((i) => i && i.family === 'IPv4' && !i.internal);
  if (!ext) {
    t.comment('no non-loopback IPv4 address here: the external reachability check is skipped');
    return;
  }
  const other = await new Promise<string>((ok) => {
    const req = request({ host: ext.address, port, path: '/', timeout: 1000 }, () => ok('answered'));
    req.on('error', (e: NodeJS.ErrnoException) => ok(e.code ?? 'error'));
    req.end();
  });
  t.not(other, 'answered', `${ext.address}:${port} is not served (${other})`);
});

t.test('sockets: origin checked, page messages validated and logged, state brought up to date', async (t) => {
  const { logger, lines } = memoryLogger();
  const actions: unknown[] = [];
  const screen = new CustomerScreen({ logger, port: 0 });
  screen.actions.on('action', (m) => actions.push(m));
  await screen.start();
  t.teardown(() => screen.stop());

  await t.rejects(page(screen.launchUrl, 'http://evil.example'), 'a socket from another origin is refused, even with the secret');
  t.match(lines.join(''), /websocket upgrade refused/);

  screen.show({ type: 'session', steps: ['blink'] });
  screen.show({ type: 'prompt', id: 'move_closer' });
  screen.show({ type: 'prompt', id: 'blink' });
  screen.show({ type: 'progress', phase: 'challenge', completedSteps: 0, totalSteps: 1 });
  const p = await page(screen.launchUrl);
  t.teardown(() => p.ws.terminate());
  await until(() => p.text.length >= 4);
  t.same(
    p.text,
    [
      { type: 'hello', protocol: 1, languages: ['zh-Hans', 'en'], language: 'zh-Hans' },
      { type: 'session', steps: ['blink'] },
      { type: 'prompt', id: 'blink' },
      { type: 'progress', phase: 'challenge', completedSteps: 0, totalSteps: 1 },
    ],
    'a page that connects mid-session sees the latest state',
  );

  p.text.length = 0;
  p.ws.send('{"type":"fly"}');
  p.ws.send('{"type":"language","language":"fr"}');
  p.ws.send(Buffer.from([1, 2, 3]));
  p.ws.send('{"type":"language","language":"en"}');
  p.ws.send('{"type":"cancel"}');
  await until(() => p.text.length >= 4 && actions.length >= 2);
  t.same(p.text, [
    { type: 'refused', reason: 'unknown message type' },
    { type: 'refused', reason: 'language must be one of zh-Hans, en' },
    { type: 'refused', reason: 'binary messages are not accepted' },
    { type: 'language', language: 'en' },
  ]);
  t.same(actions, [{ type: 'language', language: 'en' }, { type: 'cancel' }], 'only valid messages reach the agent');
  const refusals = lines.filter((l) => l.includes('page message refused')).map((l) => JSON.parse(l));
  t.same(
    refusals.map((r) => r.reason),
    ['unknown message type', 'language must be one of zh-Hans, en', 'binary messages are not accepted'],
    'refusals logged with their reason',
  );
  t.equal(refusals[0].level, 40, 'at warn');

  const big = await page(screen.launchUrl);
  const closed = new Promise<number>((ok) => big.ws.once('close', (code) => ok(code)));
  big.ws.send('x'.repeat(10_000));
  t.equal(await closed, 1009, 'an oversized message closes the socket');
});

t.test('preview: reduced, rate limited, only during a session, never logged', async (t) => {
  const { logger, lines } = memoryLogger();
  const screen = new CustomerScreen({ logger, port: 0 });
  await screen.start();
  t.teardown(() => screen.stop());
  const p = await page(screen.launchUrl);
  const frame = makeImage(640, 480, new Uint8Array(640 * 480 * 3).fill(128));

  screen.preview(frame);
  await new Promise((r) => setTimeout(r, 300));
  t.equal(p.binary.length, 0, 'no frame before a session');

  screen.show({ type: 'session', steps: ['blink'] });
  const t0 = Date.now();
  while (Date.now() - t0 < 1500) {
    screen.preview(frame);
    await new Promise((r) => setTimeout(r, 10));
  }
  await until(() => p.binary.length > 0);
  const n = p.binary.length;
  t.ok(n >= 3 && n <= 9, `${n} frames in 1.5 s at <= 5 fps`);
  const meta = await sharp(p.binary[0]).metadata();
  t.equal(meta.format, 'jpeg');
  t.equal(meta.width, 320, 'downscaled to 320 px');
  t.equal(meta.height, 240);

  screen.show({ type: 'verdict', verdict: 'accept', reasons: [], next: 'collect_sim' });
  await new Promise((r) => setTimeout(r, 250));
  const after = p.binary.length;
  for (let i = 0; i < 5; i++) {
    screen.preview(frame);
    await new Promise((r) => setTimeout(r, 250));
  }
  t.equal(p.binary.length, after, 'no frame after the verdict');
  t.notMatch(lines.join(''), /\/9j\/|JFIF/, 'no JPEG in the logs');

  await screen.stop();
  t.ok(await until(() => p.ws.readyState === WebSocket.CLOSED), 'stop closes the page sockets');
});

t.test('preview encoder: at most fps frames by its clock, none while busy or unwatched', async (t) => {
  let now = 0;
  let watched = true;
  const sent: Buffer[] = [];
  const enc = new PreviewEncoder({ send: (j) => sent.push(j), wanted: () => watched, now: () => now }, { fps: 5 });
  const img = makeImage(64, 48);
  enc.offer(img);
  enc.offer(img); // busy, and too soon
  await enc.idle();
  now = 100;
  enc.offer(img); // too soon (< 200 ms)
  now = 200;
  enc.offer(img);
  await enc.idle();
  watched = false;
  now = 1000;
  enc.offer(img);
  await enc.idle();
  t.equal(sent.length, 2);
  t.equal(enc.skipped, 3);
  t.throws(() => new PreviewEncoder({ send: () => undefined, wanted: () => true }, { maxWidth: 4000 }), /maxWidth/);
});

t.test('verify --screen wiring: URL printed, waits for a page, Cancel aborts, verdict shown', async (t) => {
  const { logger } = memoryLogger();
  const out: string[] = [];
  let cancelled = 0;
  const opening = openVerifyScreen({
    logger,
    plan: { steps: [{ kind: 'blink' }] as any },
    port: 0,
    out: (l) => out.push(l),
    onCancel: () => cancelled++,
    waitMs: 5000,
    holdMs: 50,
  });
  await until(() => out.length > 0);
  const url = /(http:\/\/127\.0\.0\.1:\d+\/#k=[\w-]+)/.exec(out[0])?.[1];
  t.ok(url, `launch URL printed (with the socket's secret): ${out[0]}`);
  const p = await page(url!);
  const vs = await opening;
  t.teardown(() => vs.stop());
  vs.onEffect({ type: 'prompt', id: 'blink' });
  p.ws.send('{"type":"cancel"}');
  await until(() => cancelled > 0);
  t.equal(cancelled, 1, 'Cancel reached the session');
  await vs.finish({ verdict: 'reject', reasons: ['cancelled'] });
  await until(() => p.text.some((m) => m.type === 'verdict'));
  t.same(
    p.text.map((m) => m.type),
    ['hello', 'session', 'prompt', 'verdict'],
  );
  await vs.stop();
});

t.test('the document step: askAccessKey resolves on a good entry, re-asks on a bad one, aborts; no MRZ in the log', async (t) => {
  const { logger, lines } = memoryLogger();
  const actions: unknown[] = [];
  const screen = new CustomerScreen({ logger, port: 0 });
  screen.actions.on('action', (m) => actions.push(m));
  await screen.start();
  t.teardown(() => screen.stop());
  const p = await page(screen.launchUrl);
  t.teardown(() => p.ws.terminate());
  await until(() => p.text.length >= 1);
  const last = () => p.text[p.text.length - 1];
  const entry = (fields: Record<string, string>) => p.ws.send(JSON.stringify({ type: 'mrz_entry', ...fields }));
  const good = { documentNumber: 'L898902C3', birthDate: '740812', expiryDate: '120415' };

  screen.showDocument('present_document');
  await until(() => last().type === 'document');
  t.same(last(), { type: 'document', state: 'present_document' });

  entry(good);
  await until(() => last().type === 'refused');
  t.same(last(), { type: 'refused', reason: 'no MRZ entry is asked' }, 'an entry nobody asked for is refused');

  // OCR read the expiry wrong (its check digit refused it) and padded the number.
  const ac = new AbortController();
  const asked = screen.askAccessKey({ documentNumber: 'L898902C3', birthDate: '740812', expiryDate: '12O415' }, ['expirationDateCheckDigit'], ac.signal);
  await until(() => last().state === 'check_mrz');
  t.same(last(), {
    type: 'document',
    state: 'check_mrz',
    fields: { documentNumber: 'L898902C3', birthDate: '740812', expiryDate: '12O415' },
    invalid: ['expiryDate'],
  });
  await t.rejects(screen.askAccessKey({}, [], new AbortController().signal), { code: 'E_USAGE' }, 'one entry in flight');
  t.throws(() => screen.showDocument('reading'), { code: 'E_USAGE' }, 'no other state while asking');

  const late = await page(screen.launchUrl);
  t.teardown(() => late.ws.terminate());
  await until(() => late.text.some((m) => m.type === 'document'));
  t.match(
    late.text.find((m) => m.type === 'document'),
    { state: 'check_mrz', invalid: ['expiryDate'] },
    'a page that connects now sees the form',
  );

  p.text.length = 0;
  entry({ ...good, expiryDate: '120431' });
  await until(() => p.text.length >= 1);
  t.same(
    p.text,
    [{ type: 'document', state: 'check_mrz', fields: { ...good, expiryDate: '120431' }, invalid: ['expiryDate'] }],
    'a date that does not exist: asked again, the field marked',
  );
  entry(good);
  const key = await asked;
  t.same(key, { ...good, documentNumberCheckDigit: '6', birthDateCheckDigit: '2', expiryDateCheckDigit: '9' }, 'the access key of the entry');
  await until(() => last().state === 'reading');
  t.same(last(), { type: 'document', state: 'reading' }, 'the form goes away');
  entry(good);
  await until(() => last().type === 'refused');
  t.same(last(), { type: 'refused', reason: 'no MRZ entry is asked' }, 'a second entry after the answer is refused');

  // Aborted by the signal.
  const ac2 = new AbortController();
  const aborted = screen.askAccessKey({}, [], ac2.signal);
  await until(() => last().state === 'check_mrz');
  t.same(last().fields, { documentNumber: '', birthDate: '', expiryDate: '' }, 'nothing read: empty fields');
  ac2.abort();
  await t.rejects(aborted, { code: 'E_ABORTED', details: { by: 'signal' } });
  p.text.length = 0;
  entry(good);
  await until(() => p.text.length >= 1);
  t.same(p.text, [{ type: 'refused', reason: 'no MRZ entry is asked' }], 'refused after the abort');
  await t.rejects(screen.askAccessKey({}, [], AbortSignal.abort()), { code: 'E_ABORTED' }, 'an aborted signal rejects at once');

  // Cancelled by the customer: the entry rejects and the session still hears the Cancel.
  const cancelled = screen.askAccessKey(good, [], new AbortController().signal);
  await until(() => last().state === 'check_mrz');
  p.ws.send('{"type":"cancel"}');
  await t.rejects(cancelled, { code: 'E_ABORTED', details: { by: 'customer' } });
  await until(() => actions.length > 0);
  t.same(actions, [{ type: 'cancel' }], 'no MRZ entry among the actions, the Cancel is');

  const stopped = screen.askAccessKey(good, [], new AbortController().signal);
  await until(() => last().state === 'check_mrz');
  await screen.stop();
  await t.rejects(stopped, { code: 'E_ABORTED', details: { by: 'screen_stopped' } }, 'stop rejects an asked entry');

  const log = lines.join('');
  for (const v of ['L898902C', '740812', '120415', '12O415', '120431']) t.notOk(log.includes(v), `${v} is not in the log`);
  t.match(log, /"action":"mrz_entry"/, 'the entry itself is logged by type');
  t.match(log, /"invalid":\["expiryDate"\]/, 'the refused field is logged by name');
});
