/**
 * The daemon's customer screen: served on loopback by the daemon itself, fed by a real session
 * (the real face engine on tranvanluyt real.mp4 replayed as the camera, no broker: the result stays
 * in the outbox). A WebSocket client stands in for the kiosk browser (the page itself is tested in
 * a browser by screen-browser.test.ts): it receives the session's steps, prompts, progress, preview
 * frames (only during the session) and the verdict with what happens next; its Cancel aborts the
 * session through the session's AbortSignal.
 */
import t from 'tap';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { validateConfig } from '../../agent/config/load.js';
import { buildDaemonDeps } from '../../agent/daemon/build.js';
import { composeDaemon } from '../../agent/daemon/compose.js';
import type { DaemonEvents } from '../../agent/daemon/events.js';
import { createLogger } from '../../base/log.js';
import { derivePlan } from '../../protocol/plan.js';
import { dataPath, DATA_DIR, hasData, NO_DATA } from '../helpers/data.js';
import { ownTempDir } from '../helpers/tempdir.js';
import { waitFor } from '../helpers/wait.js';
import { matchingNonces, screenPage } from '../helpers/daemon-page.js';

const REAL = dataPath('tranvanluyt-replay-headturn/videos/real.mp4');
const OWNER = `${REAL}#frame=600`;

t.test(
  'the daemon serves the customer screen and drives it through a session',
  { skip: hasData && existsSync(REAL) ? false : NO_DATA, timeout: 180_000 },
  async (t) => {
    // First, before the daemon: removed by the last teardown (see helpers/tempdir.ts).
    const dir = ownTempDir(t, 'daemon-screen-');
    const cfg = validateConfig({
      deviceId: 'kiosk-screen',
      simulate: true,
      stateDir: join(dir, 'state'),
      gpio: { driver: 'fake' },
      camera: { kind: 'replay', path: REAL, pace: 'asap', capture: 'session', maxWidth: 240, allowVirtual: true },
      flow: { presenceStartsSession: false, delivery: 'every' },
      reference: { allowedDirs: [DATA_DIR] },
      health: { httpPort: 0 },
      sim: { autoConfirmMs: 0, terminal: false },
      screen: { port: 0, previewFps: 5, previewWidth: 160 },
    });
    const logger = createLogger({ level: 'info', destination: pino.destination({ dest: join(dir, 'daemon.log'), sync: true }) });
    const deps = await buildDaemonDeps(cfg, logger);
    t.equal(deps.assist, undefined, 'no remote assistance configured: no assist factory (agent/assist never imported)');
    const daemon = composeDaemon(deps);
    await daemon.start();
    let stopped = false;
    t.teardown(async () => {
      if (!stopped) await daemon.stop();
    });
    const finished: Array<DaemonEvents['session_finished'][0]> = [];
    daemon.events.on('session_finished', (e) => finished.push(e));

    const url = daemon.screen!.url;
    t.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/, 'served on loopback');
    const res = await fetch(url);
    t.equal(res.status, 200);
    t.match(res.headers.get('content-type'), /text\/html/);
    t.match(await res.text(), /<html/i, 'the page');

    // What the browser's launcher reads (systemd/kiosk-screen.service): the launch URL, in a 0600 file.
    const launchFile = join(cfg.stateDir, 'screen-url');
    t.equal(statSync(launchFile).mode & 0o777, 0o600, 'the launch file is 0600');
    const launchUrl = readFileSync(launchFile, 'utf8').trim();
    t.equal(new URL(launchUrl).origin + '/', url, 'it opens the page the daemon serves');
    const p = await screenPage(launchUrl);
    await waitFor('hello', () => p.messages.find((m) => m.type === 'hello'));
    const [nonce, cancelNonce] = matchingNonces('daemon-screen', 2);
    const kinds = derivePlan(nonce).steps.map((s) => s.kind);

    t.match(await daemon.startSession({ nonce, reference: OWNER, session_id: 's-screen' }), { ok: true });
    const done = await waitFor('session_finished', () => finished.find((e) => e.sessionId === 's-screen'), 120_000);
    const verdict = await waitFor('verdict on the page', () => p.messages.find((m) => m.type === 'verdict'), 5000);
    const types = p.messages.map((m) => m.type);
    t.same(
      p.messages.find((m) => m.type === 'session'),
      { type: 'session', steps: kinds },
      "the plan's steps",
    );
    t.ok(
      types.includes('prompt'),
      `prompts (${p.messages
        .filter((m) => m.type === 'prompt')
        .map((m) => m.id)
        .join(', ')})`,
    );
    t.ok(types.includes('progress'), 'progress');
    t.ok(types.indexOf('session') < types.indexOf('prompt') && types.indexOf('prompt') < types.indexOf('verdict'), 'session, prompts, verdict in order');
    t.match(verdict, { verdict: done.verdict, reasons: done.reasons }, `the session's verdict (${done.verdict} ${JSON.stringify(done.reasons)})`);
    if (done.verdict === 'accept') t.equal(verdict.next, 'collect_sim', 'what happens next');
    t.ok(p.frames.length > 0, `preview frames during the session (${p.frames.length})`);
    const verdictAt = p.messages.indexOf(verdict);
    t.ok(
      p.frames.every((i) => i <= verdictAt),
      'no preview frame after the verdict',
    );
    const frameCount = p.frames.length;
    await new Promise((r) => setTimeout(r, 300));
    t.equal(p.frames.length, frameCount, 'the preview stops with the session');

    t.match(await daemon.startSession({ nonce: cancelNonce, reference: OWNER, session_id: 's-cancel' }), { ok: true });
    await waitFor('the second session on the page', () => p.messages.filter((m) => m.type === 'session').length === 2 && p.messages.at(-1)!.type !== 'verdict');
    p.send({ type: 'cancel' });
    const cancelled = await waitFor('the cancelled session', () => finished.find((e) => e.sessionId === 's-cancel'), 30_000);
    t.equal(cancelled.cancelReason, 'customer_left', 'Cancel on the page aborts the session');
    t.equal(cancelled.verdict, 'reject');
    await waitFor('its verdict on the page', () => p.messages.at(-1)?.type === 'verdict', 5000);

    p.ws.close();
    stopped = true;
    await daemon.stop();
    await t.rejects(fetch(url), 'the screen stops with the daemon');
  },
);
