/**
 * The daemon with a document reader (`document.reader: "pcsc"`): the session opens with the document
 * step. The customer types the MRZ's three fields on the screen (a WebSocket client stands in for the
 * kiosk browser; the form itself is tested in Chromium by screen-browser.test.ts), the chip is read
 * through a real pcscd with Debian's vpcd reader driver (the card is our emulated eMRTD, its DG2 a
 * frame of the replayed recording, signed by a test state), and the face session runs against the
 * chip's portrait. The signed result says `reference.source = chip` with the keyed document-number
 * hash; a chip signed by a state the kiosk does not trust gives a signed `document_not_authentic`
 * reject without a face session; a Cancel on the form ends the session `cancelled`. No MRZ field,
 * name or image reaches the log.
 */
import t from 'tap';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import sharp from 'sharp';
import { validateConfig } from '../../agent/config/load.js';
import { buildDaemonDeps } from '../../agent/daemon/build.js';
import { composeDaemon } from '../../agent/daemon/compose.js';
import type { DaemonEvents } from '../../agent/daemon/events.js';
import { docNumberHash } from '../../agent/reference/chip.js';
import { loadStill } from '../../agent/reference/source.js';
import { createLogger } from '../../base/log.js';
import { parseCompact } from '../../protocol/jws.js';
import { dataPath, hasData, NO_DATA } from '../helpers/data.js';
import { makeState, type TestState } from '../helpers/emrtd-sod.js';
import { freePort } from '../helpers/mosquitto.js';
import { ownTempDir } from '../helpers/tempdir.js';
import { pcscSkipReason, PrivatePcscd, VpcdCard } from '../helpers/vpcd-card.js';
import { signedChip } from '../helpers/emrtd-chip.js';
import { waitFor } from '../helpers/wait.js';
import { matchingNonces, screenPage } from '../helpers/daemon-page.js';

const REAL = dataPath('tranvanluyt-replay-headturn/videos/real.mp4');
const MRZ = ['P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<', 'L898902C36UTO7408122F1204159ZE184226B<<<<<10'];
const ENTRY = { type: 'mrz_entry', documentNumber: 'L898902C3', birthDate: '740812', expiryDate: '120415' };

const skip = !(hasData && existsSync(REAL)) ? NO_DATA : await pcscSkipReason();

t.test('the daemon reads the reference from the chip and signs where it came from', { skip, timeout: 300_000 }, async (t) => {
  const dir = ownTempDir(t, 'daemon-document-');
  const pcscd = new PrivatePcscd(dir, await freePort());
  await pcscd.start();
  t.teardown(() => pcscd.stop());

  // The chip: DG2 is a frame of the recording the camera replays (the customer is its holder).
  const still = await loadStill(`${REAL}#frame=600`);
  const jpeg = await sharp(still.data, { raw: { width: still.width, height: still.height, channels: 3 } })
    .jpeg({ quality: 90 })
    .toBuffer();
  const aa = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const chipSignedBy = (state: TestState) => signedChip({ mrz: MRZ, jpeg, width: still.width, height: still.height, state, aaKey: aa });
  const state = await makeState('UTO');
  const cscaDir = join(dir, 'csca');
  mkdirSync(cscaDir);
  writeFileSync(join(cscaDir, 'uto.pem'), state.csca.toString('pem'));
  const key = randomBytes(32);
  const keyFile = join(dir, 'number.key');
  writeFileSync(keyFile, key, { mode: 0o600 });

  const cfg = validateConfig({
    deviceId: 'kiosk-document',
    simulate: true,
    stateDir: join(dir, 'state'),
    gpio: { driver: 'fake' },
    camera: { kind: 'replay', path: REAL, pace: 'asap', capture: 'session', maxWidth: 240, allowVirtual: true },
    flow: { presenceStartsSession: false, delivery: 'every' },
    health: { httpPort: 0 },
    sim: { autoConfirmMs: 0, terminal: false },
    screen: { port: 0 },
    document: { reader: 'pcsc', cscaDir, numberKeyFile: keyFile, timeoutMs: 20_000 },
  });
  const logFile = join(dir, 'daemon.log');
  const logger = createLogger({ level: 'debug', destination: pino.destination({ dest: logFile, sync: true }) });
  // The card is in the reader from the start: vpcd asks for the ATR once, when the virtual card connects.
  const vcard = new VpcdCard();
  vcard.card = await chipSignedBy(state);
  await vcard.connect(pcscd.port);
  t.teardown(() => vcard.close());
  const deps = await buildDaemonDeps(cfg, logger);
  const daemon = composeDaemon(deps);
  await daemon.start();
  let stopped = false;
  t.teardown(async () => {
    if (!stopped) await daemon.stop();
  });
  const finished: Array<DaemonEvents['session_finished'][0]> = [];
  daemon.events.on('session_finished', (e) => finished.push(e));

  const { messages, send, ws } = await screenPage(readFileSync(join(cfg.stateDir, 'screen-url'), 'utf8').trim());
  t.teardown(() => ws.close());
  const formShown = (after: number) =>
    waitFor('the MRZ form', () => messages.slice(after).find((m) => m.type === 'document' && m.state === 'check_mrz'), 20_000);
  const signedResult = async (jti: string | null) => {
    const m = (await deps.outbox.pending(100)).find((x) => x.jti === jti);
    t.ok(m, 'the result is signed and in the outbox');
    return parseCompact(m!.payload.toString()).payload.result as Record<string, unknown>;
  };
  const [nonce, second, third] = matchingNonces('daemon-document', 3);

  // 1. The genuine chip: the MRZ typed on the screen, the chip read, the face session against its portrait.
  let from = messages.length;
  t.match(await daemon.startSession({ nonce, session_id: 's-chip' }), { ok: true }, 'start_session names no file: the chip gives the reference');
  await formShown(from);
  send({ ...ENTRY, birthDate: '740813' });
  await waitFor(
    'the form again, the wrong check refused',
    () => messages.slice(from).filter((m) => m.type === 'document' && m.state === 'check_mrz').length >= 2,
  );
  send(ENTRY);
  const done = await waitFor('session_finished', () => finished.find((e) => e.sessionId === 's-chip'), 180_000);
  const result = await signedResult(done.jti);
  t.same(
    result.reference,
    {
      source: 'chip',
      passiveAuth: 'passed',
      chipAuth: 'passed',
      chipAuthMethod: 'active_authentication',
      accessControl: 'bac',
      issuingState: 'UTO',
      documentType: 'P',
      cscaKeyId: (result.reference as { cscaKeyId?: string }).cscaKeyId,
      docNumberHash: docNumberHash(key, 'UTO', 'L898902C3'),
    },
    'the signed reference claim',
  );
  t.ok(
    (result.steps as { status: string }[]).length > 0,
    `the face session ran against the chip portrait (${String(result.verdict)} ${JSON.stringify(result.reasons)})`,
  );
  t.equal(result.verdict, 'accept', 'the holder of the chip is accepted');

  // 2. A chip signed by a state the kiosk does not trust: a signed reject, no face session.
  vcard.card = await chipSignedBy(await makeState('XXA'));
  from = messages.length;
  t.match(await daemon.startSession({ nonce: second, session_id: 's-forged' }), { ok: true });
  await formShown(from);
  send(ENTRY);
  const forged = await waitFor('session_finished', () => finished.find((e) => e.sessionId === 's-forged'), 60_000);
  t.match(forged, { verdict: 'reject', reasons: ['document_not_authentic'] });
  const forgedResult = await signedResult(forged.jti);
  t.equal(forgedResult.reference, null, 'no reference was obtained');
  t.ok(
    (forgedResult.steps as { status: string }[]).every((s) => s.status !== 'passed'),
    'no step was run',
  );
  await waitFor('the verdict on the page', () =>
    messages.slice(from).find((m) => m.type === 'verdict' && (m.reasons as string[])[0] === 'document_not_authentic'),
  );

  // 3. The customer cancels on the form.
  from = messages.length;
  t.match(await daemon.startSession({ nonce: third, session_id: 's-cancel' }), { ok: true });
  await formShown(from);
  send({ type: 'cancel' });
  const cancelled = await waitFor('session_finished', () => finished.find((e) => e.sessionId === 's-cancel'), 30_000);
  t.match(cancelled, { verdict: 'reject', reasons: ['cancelled'], cancelReason: 'customer_left' });

  stopped = true;
  await daemon.stop();
  const log = readFileSync(logFile, 'utf8');
  t.notMatch(log, /L898902C|740812|120415|ERIKSSON/, 'no MRZ field or name in the log');
  t.match(log, /document_not_authentic/, 'the refusal is logged with its reason');

  // 4. document.pageFromCamera: the data page held up to the camera (ICAO's specimen page, PassportEye's
  // test image, replayed as the camera) fills the form in; the customer only confirms.
  const page = dataPath('passporteye-specimens/tests/data/passport-td3.png');
  if (!existsSync(page)) return t.comment(`pageFromCamera not tried: ${page} is absent`);
  const cfg2 = validateConfig({
    ...cfg,
    deviceId: 'kiosk-document-page',
    stateDir: join(dir, 'state-page'),
    camera: { kind: 'replay', path: page, pace: 'realtime', loop: true, capture: 'session', allowVirtual: true },
    document: { ...cfg.document, pageFromCamera: true, pageTimeoutMs: 30_000 },
  });
  const daemon2 = composeDaemon(
    await buildDaemonDeps(cfg2, createLogger({ level: 'warn', destination: pino.destination({ dest: join(dir, 'page.log'), sync: true }) })),
  );
  await daemon2.start();
  t.teardown(() => daemon2.stop());
  const page2 = await screenPage(readFileSync(join(cfg2.stateDir, 'screen-url'), 'utf8').trim());
  const seen = page2.messages;
  t.teardown(() => page2.ws.close());
  const [fourth] = matchingNonces('daemon-document', 4).slice(3);
  t.match(await daemon2.startSession({ nonce: fourth, session_id: 's-page' }), { ok: true });
  const form = await waitFor('the form after the camera read the page', () => seen.find((m) => m.type === 'document' && m.state === 'check_mrz'), 60_000);
  t.ok(
    seen.some((m) => m.type === 'document' && m.state === 'show_page'),
    'the screen asked for the page first',
  );
  t.same(form.fields, { documentNumber: 'L898902C3', birthDate: '740812', expiryDate: '120415' }, 'the form opens with what the camera read');
  t.same(form.invalid ?? [], [], 'every field checked by its check digit');
  page2.send({ type: 'cancel' });
});
