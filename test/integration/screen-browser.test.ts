/**
 * The customer screen in a real browser (Debian chromium, headless, driven by playwright-core):
 * a data-free session from a fake effect stream with a synthetic preview, and a whole session on a
 * replayed recording. Checks what the customer sees at each step in both languages, that a tap
 * switches the language, and that the page holds no image data after the session; the MRZ form
 * (OCR's values, the refused field marked, corrected by touch, the access key back to the agent).
 * Screenshots of each step go to test/artifacts/screen/; with KIOSK_SCREEN_DOCS=1 the data-free
 * ones also go to docs/screen/ (synthetic preview only: never a real face in the docs).
 */
import t, { type Test } from 'tap';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { chromium, type Browser, type Page } from 'playwright-core';
import { createLogger } from '../../base/log.js';
import { CustomerScreen } from '../../agent/screen/server.js';
import { bridgeSession, type ScreenSink } from '../../agent/screen/session-bridge.js';
import type { PageMessage } from '../../agent/screen/protocol.js';
import type { StepKind } from '../../agent/session/types.js';
import { makeImage } from '../../base/rgb-image.js';
import { dataPath, hasData, NO_DATA } from '../helpers/data.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
const ARTIFACTS = join(ROOT, 'test/artifacts/screen');
const DOCS = join(ROOT, 'docs/screen');
const CHROMIUM = '/usr/bin/chromium';
const NO_BROWSER = `${CHROMIUM} is absent (.ci/run installs Debian chromium): skipping browser tests`;
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

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

/** A diagonal colour gradient, so that the preview is visibly there and is no one's face. */
function gradient(w = 640, h = 480, shift = 0) {
  const img = makeImage(w, h);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const o = (y * w + x) * 3;
      img.data[o] = (x * 255) / w;
      img.data[o + 1] = (y * 255) / h;
      img.data[o + 2] = (shift * 40) % 255;
    }
  return img;
}

/** Opens `url` in Chromium and waits until the page's socket is `connection` (open: it has the secret). */
async function openPage(t: Test, url: string, connection: 'open' | 'closed' = 'open'): Promise<{ browser: Browser; page: Page; errors: string[] }> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: 20_000 });
  t.teardown(() => browser.close());
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, hasTouch: true, isMobile: false });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  await page.waitForFunction((c) => (window as any).__screen?.ready === true && document.body.dataset.connection === c, connection);
  return { browser, page, errors };
}

const text = (page: Page, sel: string) => page.locator(sel).textContent();

/** Evidence of image data left in the page (empty when none). */
async function imageData(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const found: string[] = [];
    for (const img of Array.from(document.images)) if (img.currentSrc || img.src) found.push(`img ${img.src.slice(0, 30)}`);
    for (const c of Array.from(document.querySelectorAll('canvas'))) {
      if (c.width > 0 && c.height > 0) {
        const px = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
        if (px.some((v) => v !== 0)) found.push(`canvas ${c.width}x${c.height} with pixels`);
      }
    }
    const html = document.documentElement.outerHTML;
    if (/blob:|data:image|data:application/.test(html)) found.push('blob or data URL in the DOM');
    for (const el of Array.from(document.querySelectorAll('*'))) {
      const bg = getComputedStyle(el).backgroundImage;
      if (bg && bg !== 'none') found.push(`background image on ${el.tagName}`);
    }
    if ((window as any).__screen.state.previewOn) found.push('preview still on');
    return found;
  });
}

async function canvasHasPixels(page: Page): Promise<boolean> {
  return page.evaluate(() => {
    const c = document.getElementById('preview') as HTMLCanvasElement;
    if (c.width === 0) return false;
    return c
      .getContext('2d')!
      .getImageData(0, 0, c.width, c.height)
      .data.some((v) => v !== 0);
  });
}

t.test(
  'data-free session from a fake effect stream, both languages, by touch',
  { skip: existsSync(CHROMIUM) ? false : NO_BROWSER, timeout: 60_000 },
  async (t) => {
    const { logger, lines } = memoryLogger();
    const actions: PageMessage[] = [];
    const screen = new CustomerScreen({ logger, port: 0 });
    screen.actions.on('action', (m) => actions.push(m));
    const url = await screen.start();
    t.teardown(() => screen.stop());
    // Without the launch URL's secret the page loads but its socket is refused.
    const { page: bare } = await openPage(t, url, 'closed');
    t.equal(screen.connected, 0, 'a page opened without the secret is not connected');
    await bare.close();
    const { page, errors } = await openPage(t, screen.launchUrl);
    await mkdir(ARTIFACTS, { recursive: true });
    const docs = process.env.KIOSK_SCREEN_DOCS === '1';
    if (docs) await mkdir(DOCS, { recursive: true });
    const shot = async (name: string, doc?: string) => {
      const png = await page.screenshot({ path: join(ARTIFACTS, `fake-${name}.png`) });
      // Palette PNGs keep the committed screenshots small.
      if (docs && doc)
        await sharp(png)
          .png({ palette: true, compressionLevel: 9 })
          .toFile(join(DOCS, `${doc}.png`));
      return png;
    };

    t.equal(await text(page, '#title'), '身份核验', 'Chinese by default');
    t.match(await text(page, '.view-welcome'), /欢迎/);
    await shot('01-welcome');

    const steps: StepKind[] = ['turn_left', 'blink'];
    const bridge = bridgeSession(screen, { steps: steps.map((kind) => ({ kind })) as any });
    let frame = 0;
    const feeder = setInterval(() => bridge.onImage(gradient(640, 480, frame++)), 50);
    t.teardown(() => clearInterval(feeder));
    const seen = async (fn: () => Promise<boolean>) => {
      for (let i = 0; i < 100; i++) {
        if (await fn()) return true;
        await page.waitForTimeout(50);
      }
      return false;
    };

    bridge.onEffect({ type: 'progress', phase: 'waiting_face', completedSteps: 0, totalSteps: 2 });
    bridge.onEffect({ type: 'prompt', id: 'look_at_camera' });
    await page.waitForFunction(() => document.body.dataset.view === 'session');
    t.equal(await text(page, '#instruction'), '请看摄像头');
    t.ok(await seen(() => canvasHasPixels(page)), 'the preview shows frames');
    const size = await page.evaluate(() => {
      const c = document.getElementById('preview') as HTMLCanvasElement;
      return [c.width, c.height];
    });
    t.same(size, [320, 240], 'the preview arrives at <= 320 px');
    await shot('02-look-at-camera');

    bridge.onEffect({ type: 'progress', phase: 'quality_gate', completedSteps: 0, totalSteps: 2 });
    bridge.onEffect({ type: 'prompt', id: 'more_light' });
    await page.waitForFunction(() => document.getElementById('instruction')!.dataset.prompt === 'more_light');
    t.equal(await text(page, '#instruction'), '⚠ 光线太暗，请到更亮的地方'.replace('⚠ ', ''), 'guidance in Chinese');
    t.ok(await page.locator('#instruction.guidance').count(), 'shown as guidance');
    t.equal(await text(page, '#phase'), '准备中');
    await shot('03-guidance-zh', 'guidance-zh');

    bridge.onEffect({ type: 'progress', phase: 'challenge', completedSteps: 0, totalSteps: 2 });
    bridge.onEffect({ type: 'prompt', id: 'turn_left' });
    await page.waitForFunction(() => document.getElementById('instruction')!.dataset.prompt === 'turn_left');
    t.equal(await text(page, '#instruction'), '请把头转向您的左边');
    t.match(await text(page, '#phase'), /请按提示操作 · 1 \/ 2/);
    t.same(await page.locator('#steps li').evaluateAll((lis) => lis.map((li) => `${li.className}:${li.textContent}`)), ['current:向左转', 'pending:眨眼']);
    await shot('04-turn-left-zh', 'instruction-zh');

    // A tap on "English": the page switches at once and tells the agent.
    await page.locator('.lang-btn[data-lang="en"]').tap();
    t.equal(await text(page, '#instruction'), 'Turn your head to your left');
    t.equal(await page.evaluate(() => document.documentElement.lang), 'en');
    t.ok(await seen(async () => actions.some((a) => a.type === 'language' && a.language === 'en')), 'the agent got the language choice');
    await shot('05-turn-left-en');

    bridge.onEffect({ type: 'progress', phase: 'challenge', completedSteps: 1, totalSteps: 2 });
    bridge.onEffect({ type: 'prompt', id: 'blink' });
    await page.waitForFunction(() => document.getElementById('instruction')!.dataset.prompt === 'blink');
    t.equal(await text(page, '#instruction'), 'Blink your eyes');
    t.match(await text(page, '#phase'), /Follow the instructions · 2 \/ 2/);
    t.same(await page.locator('#steps li').evaluateAll((lis) => lis.map((li) => `${li.className}:${li.textContent}`)), ['done:Turn left', 'current:Blink']);
    await shot('06-blink-en', 'instruction-en');

    bridge.onEffect({ type: 'progress', phase: 'deciding', completedSteps: 2, totalSteps: 2 });
    bridge.onEffect({ type: 'prompt', id: 'please_wait' });
    await page.waitForFunction(() => document.getElementById('instruction')!.dataset.prompt === 'please_wait');
    t.equal(await text(page, '#phase'), 'Checking…');
    await shot('07-deciding-en');

    clearInterval(feeder);
    bridge.finish({ verdict: 'accept', reasons: [] });
    bridge.onImage(gradient()); // a late frame after the verdict must not reach the page
    await page.waitForFunction(() => document.body.dataset.view === 'verdict');
    t.equal(await text(page, '#verdict-title'), 'Verified');
    t.equal(await text(page, '#verdict-next'), 'Once your carrier confirms, your SIM card comes out below. Please take it.');
    await page.waitForTimeout(400);
    t.same(await imageData(page), [], 'no image data in the page after the verdict');
    await shot('08-verdict-accept-en', 'verdict-accept-en');

    // Back to Chinese by touch on the verdict screen.
    await page.locator('.lang-btn[data-lang="zh-Hans"]').tap();
    t.equal(await text(page, '#verdict-title'), '核验通过');
    t.equal(await text(page, '#verdict-next'), '运营商确认后，SIM 卡将从下方出卡口送出，请取走。');

    // A reject with a reason, then a reset to the welcome screen.
    const again = bridgeSession(screen, { steps: [{ kind: 'look_up' }] as any });
    again.onEffect({ type: 'progress', phase: 'challenge', completedSteps: 0, totalSteps: 1 });
    again.onImage(gradient());
    again.finish({ verdict: 'reject', reasons: ['no_match'] });
    await page.waitForFunction(() => document.body.dataset.verdict === 'reject');
    t.equal(await text(page, '#verdict-title'), '核验未通过');
    t.equal(await text(page, '#verdict-reason'), '您的脸与证件照片不符。');
    await shot('09-verdict-reject-zh');
    screen.show({ type: 'reset' });
    await page.waitForFunction(() => document.body.dataset.view === 'welcome');
    t.same(await imageData(page), [], 'no image data after the reset');

    // Help and cancel by touch reach the agent, validated.
    await page.locator('#help').tap();
    t.ok(await seen(async () => actions.some((a) => a.type === 'help')), 'help reached the agent');
    t.equal(await text(page, '#notice'), '已请求帮助，请稍候');
    await shot('10-help-zh');

    // Remote assistance: a banner over the page while an operator joins, then while connected.
    screen.show({ type: 'assist', state: 'joining' });
    await page.waitForFunction(() => document.body.dataset.assist === 'joining');
    t.equal(await text(page, '#assist'), '工作人员正在接入…', 'an operator is joining (Chinese)');
    await shot('11-assist-joining-zh');
    screen.show({ type: 'assist', state: 'connected' });
    await page.locator('.lang-btn[data-lang="en"]').tap();
    await page.waitForFunction(() => document.body.dataset.assist === 'connected');
    t.equal(await text(page, '#assist'), 'Connected to an operator', 'connected (English)');
    await shot('12-assist-connected-en');
    screen.show({ type: 'assist', state: 'ended' });
    await page.waitForFunction(() => document.body.dataset.assist === '');
    t.notOk(await page.locator('#assist').isVisible(), 'the banner goes when the call ends');

    const logged = lines.join('');
    t.notMatch(logged, /\/9j\/|JFIF|base64/, 'no preview data in the logs');
    t.same(errors, [], 'no script errors on the page');
  },
);

t.test('a whole session on a replayed recording', { skip: !existsSync(CHROMIUM) ? NO_BROWSER : hasData ? false : NO_DATA, timeout: 180_000 }, async (t) => {
  const { createFaceEngine } = await import('../../models/face-engine.js');
  const { verifyFiles, planOf } = await import('../../agent/session/verify.js');
  const { logger } = memoryLogger();
  const screen = new CustomerScreen({ logger, port: 0 });
  await screen.start();
  t.teardown(() => screen.stop());
  const engine = createFaceEngine({ logger });
  await engine.start();
  t.teardown(() => engine.stop());
  const { page, errors } = await openPage(t, screen.launchUrl);
  await mkdir(ARTIFACTS, { recursive: true });
  // Every instruction and phase the customer is shown, in order, as the page rendered it.
  // (A string, not a function: tsx would wrap named inner functions in a helper the page lacks.)
  await page.evaluate(`(() => {
    const seen = [];
    window.__seen = seen;
    for (const id of ['instruction', 'phase', 'verdict-title']) {
      const el = document.getElementById(id);
      new MutationObserver(() => {
        const s = id + ':' + el.innerText;
        if (seen[seen.length - 1] !== s) seen.push(s);
      }).observe(el, { childList: true, characterData: true, subtree: true });
    }
  })()`);

  const input = {
    id: dataPath('tranvanluyt-replay-headturn/videos/real.mp4#frame=600'),
    video: dataPath('tranvanluyt-replay-headturn/videos/real.mp4'),
    challenge: 'turn_left,turn_right,look_down,look_up',
  };
  // Screenshots of each step, taken one after another while the session goes on.
  let shots = Promise.resolve();
  let n = 0;
  let english = false;
  const sink: ScreenSink = {
    show(e) {
      screen.show(e);
      if (e.type !== 'prompt' && e.type !== 'verdict') return;
      const name = `real-${String(++n).padStart(2, '0')}-${e.type === 'prompt' ? e.id : e.verdict}.png`;
      const firstStep = e.type === 'prompt' && e.id === 'turn_left';
      shots = shots.then(async () => {
        await page.waitForTimeout(80);
        await page.screenshot({ path: join(ARTIFACTS, name) });
        if (firstStep && !english) {
          english = true;
          await page.locator('.lang-btn[data-lang="en"]').tap();
        }
      });
    },
    preview: (img) => screen.preview(img),
  };
  const bridge = bridgeSession(sink, planOf(input));
  const outcome = await verifyFiles(engine, input, { fast: true, onEffect: (e) => bridge.onEffect(e), onFrame: (_i, _t, img) => bridge.onImage(img) });
  bridge.finish(outcome.result);
  await shots;
  await page.waitForFunction(() => document.body.dataset.view === 'verdict');
  await shots;
  const seen: string[] = await page.evaluate(() => (window as any).__seen);
  t.comment(seen.join(' | '));
  t.equal(outcome.result.verdict, 'accept', 'the genuine recording is accepted');
  const order = (xs: string[]) => xs.map((x) => seen.indexOf(x));
  const zhTurnLeft = seen.indexOf('instruction:请把头转向您的左边');
  t.ok(
    seen.slice(0, zhTurnLeft).every((s) => !/[A-Za-z]{3}/.test(s.slice(s.indexOf(':') + 1))),
    'everything before it in Chinese',
  );
  t.ok(zhTurnLeft >= 0, 'the first step was shown in Chinese');
  // The tap lands while the session runs on (every frame, as fast as the engine goes): each later
  // step shows in English if it lasts longer than the tap takes; the last one always does.
  const en = order(['instruction:Turn your head to your right', 'instruction:Look down', 'instruction:Look up']).filter((i) => i >= 0);
  t.ok(en.length >= 1 && seen.includes('instruction:Look up'), `the last step in English (${en})`);
  t.ok(
    en.every((i, k) => i > zhTurnLeft && (k === 0 || i > en[k - 1])),
    'English steps after the Chinese one, in plan order',
  );
  t.equal(await text(page, '#verdict-title'), 'Verified', 'the verdict as the customer sees it');
  t.same(await page.locator('#steps li').evaluateAll((lis) => lis.map((li) => li.className)), ['done', 'done', 'done', 'done'], 'all steps done');
  await page.waitForTimeout(300);
  t.same(await imageData(page), [], 'no image data in the page after the session');
  t.same(errors, [], 'no script errors on the page');
});

t.test(
  'the MRZ form: OCR values shown, the refused field marked, corrected by touch, both languages',
  { skip: existsSync(CHROMIUM) ? false : NO_BROWSER, timeout: 60_000 },
  async (t) => {
    const { logger, lines } = memoryLogger();
    const actions: PageMessage[] = [];
    const screen = new CustomerScreen({ logger, port: 0 });
    screen.actions.on('action', (m) => actions.push(m));
    await screen.start();
    t.teardown(() => screen.stop());
    const { page, errors } = await openPage(t, screen.launchUrl);
    await mkdir(ARTIFACTS, { recursive: true });
    const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `mrz-${name}.png`) });
    const documentState = (s: string) => page.waitForFunction((s) => document.body.dataset.document === s, s);
    const marked = () =>
      page
        .locator('.mrz-field input')
        .evaluateAll((els) => els.filter((e) => e.getAttribute('aria-invalid') === 'true').map((e) => (e as HTMLInputElement).name));

    screen.showDocument('present_document');
    await documentState('present_document');
    t.equal(await text(page, '#document-state'), '请将证件放在读卡器上', 'present the document (Chinese)');
    t.notOk(await page.locator('#mrz-form').isVisible(), 'no form outside check_mrz');
    await shot('01-present-zh');
    screen.showDocument('reading');
    await documentState('reading');
    t.equal(await text(page, '#document-state'), '正在读取证件…请勿移动');

    // OCR read an O for a 0 in the expiry: its check digit refused it.
    const asked = screen.askAccessKey(
      { documentNumber: 'L898902C3', birthDate: '740812', expiryDate: '12O415' },
      ['expiryDateCheckDigit'],
      new AbortController().signal,
    );
    asked.catch(() => undefined); // awaited below; a failure before that must not leave it unhandled at teardown
    await documentState('check_mrz');
    t.ok(await page.locator('#mrz-form').isVisible(), 'the form is shown');
    t.same(
      await page.locator('.mrz-field input').evaluateAll((els) => els.map((e) => (e as HTMLInputElement).value)),
      ['L898902C3', '740812', '12O415'],
      "OCR's values in the form",
    );
    t.same(await marked(), ['expiryDate'], 'the refused field is marked');
    t.equal(await page.locator('.mrz-field.invalid').count(), 1);
    t.equal(await text(page, '#document-state'), '请核对证件信息');
    t.same(await page.locator('.mrz-field span').allTextContents(), ['证件号码', '出生日期', '有效期至'], 'labels in Chinese');
    t.equal(await text(page, '#mrz-invalid'), '请检查标出的项目。');
    t.match(await text(page, '#mrz-date-hint'), /YYMMDD.*740812/);
    t.equal(await text(page, '#mrz-confirm'), '确认');
    for (const sel of ['#mrz-documentNumber', '#mrz-birthDate', '#mrz-expiryDate', '#mrz-confirm', '#mrz-cancel']) {
      const box = (await page.locator(sel).boundingBox())!;
      t.ok(box.height >= 64 && box.y + box.height <= 800, `${sel}: ${Math.round(box.height)} px high, on screen`);
    }
    await shot('02-check-zh');

    await page.locator('.lang-btn[data-lang="en"]').tap();
    t.equal(await text(page, '#document-state'), 'Please check your document details');
    t.same(await page.locator('.mrz-field span').allTextContents(), ['Document number', 'Date of birth', 'Date of expiry'], 'labels in English');
    t.equal(await text(page, '#mrz-invalid'), 'Please check the marked fields.');
    t.equal(await text(page, '#mrz-date-hint'), 'Dates as YYMMDD: 12 August 1974 is 740812.');
    t.same(
      await page.locator('.mrz-field input').evaluateAll((els) => els.map((e) => (e as HTMLInputElement).value)),
      ['L898902C3', '740812', '12O415'],
      'values kept',
    );
    await shot('03-check-en');

    // A date too short is caught on the page; a day that does not exist is caught by the agent.
    await page.locator('#mrz-expiryDate').fill('1204');
    t.same(await marked(), [], 'an edited field is no longer marked');
    await page.locator('#mrz-confirm').tap();
    t.same(await marked(), ['expiryDate'], 'too short: marked again, nothing sent');
    await page.locator('#mrz-expiryDate').fill('120431');
    await page.locator('#mrz-confirm').tap();
    await page.waitForFunction(() => document.getElementById('mrz-expiryDate')!.getAttribute('aria-invalid') === 'true');
    t.same(await marked(), ['expiryDate'], 'April 31: the agent asks again with the field marked');

    // Corrected by touch: the number typed in lower case with a dash comes out clean.
    await page.locator('#mrz-documentNumber').fill('');
    await page.locator('#mrz-documentNumber').pressSequentially('l898-902c3');
    t.equal(await page.locator('#mrz-documentNumber').inputValue(), 'L898902C3', 'upper case, A-Z and 0-9 only');
    await page.locator('#mrz-birthDate').fill('74-08-12');
    t.equal(await page.locator('#mrz-birthDate').inputValue(), '740812', 'digits only');
    await page.locator('#mrz-expiryDate').fill('120415');
    await shot('04-corrected-en');
    await page.locator('#mrz-confirm').tap();
    const key = await asked;
    t.same(
      key,
      {
        documentNumber: 'L898902C3',
        documentNumberCheckDigit: '6',
        birthDate: '740812',
        birthDateCheckDigit: '2',
        expiryDate: '120415',
        expiryDateCheckDigit: '9',
      },
      'the agent got the access key of the corrected entry',
    );
    await documentState('reading');
    t.equal(await text(page, '#document-state'), 'Reading your document… please do not move it');
    t.same(
      await page.locator('.mrz-field input').evaluateAll((els) => els.map((e) => (e as HTMLInputElement).value)),
      ['', '', ''],
      'the form is emptied once the entry is taken',
    );

    screen.showDocument('read_failed');
    await documentState('read_failed');
    t.equal(await text(page, '#document-state'), 'Your document could not be read. Please place it on the reader again.');
    await shot('05-read-failed-en');
    await page.locator('.lang-btn[data-lang="zh-Hans"]').tap();
    t.equal(await text(page, '#document-state'), '未能读取证件，请重新放在读卡器上。');
    screen.showDocument('done');
    await documentState('done');
    t.equal(await text(page, '#document-state'), '证件读取完成');

    // Cancel on the form: the entry rejects and the session hears it.
    const cancelled = t.rejects(screen.askAccessKey({}, [], new AbortController().signal), { code: 'E_ABORTED' }, 'Cancel on the form aborts the entry');
    await documentState('check_mrz');
    await page.locator('#mrz-cancel').tap();
    await cancelled;
    t.same(
      actions.filter((a) => a.type === 'cancel'),
      [{ type: 'cancel' }],
    );

    t.notMatch(lines.join(''), /L898902C|740812|120415|120431/, 'no MRZ field in the log');
    t.same(errors, [], 'no script errors on the page');
  },
);
