/**
 * The real CnIdDocumentReader over a real serial link: a socat pseudo-terminal pair opened through
 * `serialport`, with our FAKE reader (test/helpers/cn-id-fake-reader.ts: we have no reader hardware)
 * on the other end and our FAKE decoder helper (it emits a known PNG; it does not decode wlt).
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readlinkSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';
import pino from 'pino';
import t, { type Test } from 'tap';
import { isKioskError, type KioskError } from '../../base/errors.js';
import { type CnIdReaderOptions, CnIdDocumentReader } from '../../device/document/cn-id/reader.js';
import { FakeCnIdReader, type FakeReaderOptions, SAMPLE_CARD } from '../helpers/cn-id-fake-reader.js';
import { ownTempDir } from '../helpers/tempdir.js';

const DECODER = fileURLToPath(new URL('../helpers/cn-id-fake-decoder.mjs', import.meta.url));
const decoder = (mode: string) => ({ command: process.execPath, args: [DECODER, mode], timeoutMs: 2000 });

let socat = true;
try {
  execFileSync('socat', ['-V'], { stdio: 'ignore' });
} catch {
  socat = false;
}

interface Rig {
  fake: FakeCnIdReader;
  reader: CnIdDocumentReader;
  logs: string[];
}

/** A fake reader on a fresh pty pair and the real reader started on the kiosk's end; both stopped at teardown. */
async function rig(t: Test, fakeOptions: FakeReaderOptions = {}, options: Partial<CnIdReaderOptions> = {}): Promise<Rig> {
  const dir = ownTempDir(t, 'cn-id-');
  const fake = new FakeCnIdReader(dir, fakeOptions);
  t.teardown(() => fake.stop());
  await fake.start();
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      logs.push(chunk.toString());
      done();
    },
  });
  const reader = new CnIdDocumentReader({
    path: fake.kioskPath,
    decoder: decoder('png'),
    pollIntervalMs: 50,
    responseTimeoutMs: 1500,
    log: pino({ level: 'debug' }, sink),
    ...options,
  });
  t.teardown(() => reader.stop());
  await reader.start();
  return { fake, reader, logs };
}

async function failure(p: Promise<unknown>): Promise<KioskError> {
  try {
    await p;
  } catch (err) {
    if (isKioskError(err)) return err;
    throw err;
  }
  throw new Error('expected a KioskError, the read succeeded');
}

/** Fds of this process open on the pty that `path` links to. */
function fdsOn(path: string): number {
  const target = realpathSync(path);
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === target;
    } catch {
      return false;
    }
  }).length;
}

t.test('cn-id reader on a socat pty', { skip: socat ? false : 'socat is not installed (apt-get install socat)' }, async (t) => {
  t.test('a full read: text checked, photo through the helper, claims of the reader SAM', async (t) => {
    const { fake, reader } = await rig(t);
    const r = await reader.read({ timeoutMs: 3000 });
    t.equal(r.documentNumber, SAMPLE_CARD.idNumber, 'the ID number, for the keyed hash');
    t.same(r.claims, {
      source: 'chip',
      passiveAuth: 'reader_sam',
      chipAuth: 'absent',
      accessControl: 'reader',
      issuingState: 'CHN',
      documentType: 'ID',
      portraitFormat: 'vendor',
    });
    t.equal(r.portrait.width, 4, 'the helper’s PNG decoded');
    t.equal(r.portrait.height, 5);
    t.same([...r.portrait.data.subarray(9, 12)], [200, 30, 50], 'pixel 3');
    t.same(fake.commands, ['20 01', '20 02', '30 01'], 'find, select, read');
  });

  t.test('answers cut into 64-byte chunks with noise before each frame still read', async (t) => {
    const { reader } = await rig(t, { chunkBytes: 64, noise: Buffer.from([0x00, 0xaa, 0x96, 0x13]) });
    const r = await reader.read({ timeoutMs: 3000 });
    t.equal(r.documentNumber, SAMPLE_CARD.idNumber);
  });

  t.test('no card: find is polled until the request’s timeout, then E_TIMEOUT', async (t) => {
    const { fake, reader } = await rig(t, { card: false });
    const started = Date.now();
    const err = await failure(reader.read({ timeoutMs: 600 }));
    t.equal(err.code, 'E_TIMEOUT');
    t.equal(err.details?.reason, 'no_card');
    t.ok(Date.now() - started >= 550, 'waited for the timeout');
    t.ok(fake.commands.length >= 3, `polled find ${fake.commands.length} times`);
    t.ok(
      fake.commands.every((c) => c === '20 01'),
      'only find was sent',
    );
  });

  t.test('a card placed while polling is read', async (t) => {
    const { fake, reader } = await rig(t, { card: false });
    setTimeout(() => fake.configure({ card: true }), 300);
    const r = await reader.read({ timeoutMs: 3000 });
    t.equal(r.documentNumber, SAMPLE_CARD.idNumber);
  });

  t.test('card pulled during read: the read starts over and succeeds', async (t) => {
    const { fake, reader, logs } = await rig(t, { removeAfterFrames: 2 });
    const r = await reader.read({ timeoutMs: 3000 });
    t.equal(r.documentNumber, SAMPLE_CARD.idNumber);
    t.same(fake.commands, ['20 01', '20 02', '30 01', '20 01', '20 02', '30 01'], 'read refused (SW3 41), then find, select, read again');
    t.ok(
      logs.some((l) => l.includes('removed mid-read')),
      'logged the restart',
    );
  });

  t.test('card pulled during select, then again and again: E_DOC_ACCESS with retry after the attempts', async (t) => {
    const { fake, reader } = await rig(t, { removeAfterFrames: 1, removals: 10 }, { attempts: 3 });
    const err = await failure(reader.read({ timeoutMs: 3000 }));
    t.equal(err.code, 'E_DOC_ACCESS');
    t.match(err.details, { retry: true, step: 'select', attempt: 3, attempts: 3 });
    t.equal(fake.commands.filter((c) => c === '20 02').length, 3, 'three attempts');
  });

  t.test('a corrupt checksum is E_DEVICE with reason checksum', async (t) => {
    const { reader } = await rig(t, { corrupt: 'read' });
    const err = await failure(reader.read({ timeoutMs: 3000 }));
    t.equal(err.code, 'E_DEVICE');
    t.equal(err.details?.reason, 'checksum');
  });

  t.test('a reader slower than the response limit is E_TIMEOUT naming the step', async (t) => {
    const { reader } = await rig(t, { delayMs: 700 }, { responseTimeoutMs: 300 });
    const err = await failure(reader.read({ timeoutMs: 3000 }));
    t.equal(err.code, 'E_TIMEOUT');
    t.match(err.details, { reason: 'no_response', step: 'find' });
  });

  t.test('a slow reader within the limit is read', async (t) => {
    const { reader } = await rig(t, { delayMs: 100, chunkBytes: 256 });
    t.equal((await reader.read({ timeoutMs: 3000 })).documentNumber, SAMPLE_CARD.idNumber);
  });

  t.test('no decoder configured, or not found: E_DOC_DECODER_MISSING', async (t) => {
    const none = await rig(t, {}, { decoder: undefined });
    const err = await failure(none.reader.read({ timeoutMs: 3000 }));
    t.equal(err.code, 'E_DOC_DECODER_MISSING');
    t.equal(err.details?.reason, 'not_configured');
    const missing = await rig(t, {}, { decoder: { command: '/nonexistent/wlt-decoder' } });
    const err2 = await failure(missing.reader.read({ timeoutMs: 3000 }));
    t.equal(err2.code, 'E_DOC_DECODER_MISSING');
    t.equal(err2.details?.reason, 'not_found');
  });

  t.test('a decoder that crashes, fails, hangs, writes garbage or too much: each a coded error', async (t) => {
    const cases: Array<[string, string, string]> = [
      ['crash', 'E_DOC_DECODER_MISSING', 'decoder_failed'],
      ['fail', 'E_DOC_DECODER_MISSING', 'decoder_failed'],
      ['hang', 'E_TIMEOUT', 'decoder_timeout'],
      ['garbage', 'E_IMAGE_CORRUPT', 'decoder_garbage'],
      ['huge', 'E_IMAGE_TOO_LARGE', 'decoder_output'],
    ];
    const { reader } = await rig(t, {}, { decoder: decoder('png') });
    for (const [mode, code, reason] of cases) {
      const r = await rig(t, {}, { decoder: { ...decoder(mode), timeoutMs: 2000 } });
      const started = Date.now();
      const err = await failure(r.reader.read({ timeoutMs: 3000 }));
      t.equal(err.code, code, `${mode}: ${code}`);
      t.equal(err.details?.reason, reason, `${mode}: ${reason}`);
      t.ok(Date.now() - started < 5000, `${mode}: bounded in time`);
    }
    t.equal((await reader.read({ timeoutMs: 3000 })).portrait.width, 4, 'the agent still reads with a working helper');
  });

  t.test('stop releases the port: the same device opens again, no fd is left, read refuses', async (t) => {
    const { fake, reader } = await rig(t);
    await reader.read({ timeoutMs: 3000 });
    t.equal(fdsOn(fake.kioskPath), 1, 'one fd on the kiosk end while started');
    await reader.stop();
    t.equal(fdsOn(fake.kioskPath), 0, 'no fd on the kiosk end after stop');
    await t.rejects(reader.read({ timeoutMs: 100 }), { code: 'E_USAGE' }, 'read after stop');
    const again = new CnIdDocumentReader({ path: fake.kioskPath, decoder: decoder('png') });
    await again.start();
    t.teardown(() => again.stop());
    t.equal((await again.read({ timeoutMs: 3000 })).documentNumber, SAMPLE_CARD.idNumber, 'a new reader on the same device reads');
  });

  t.test('stop during a read ends it at once with E_DEVICE', async (t) => {
    const { reader } = await rig(t, { card: false });
    const pending = failure(reader.read({ timeoutMs: 10_000 }));
    await new Promise((r) => setTimeout(r, 200));
    const started = Date.now();
    await reader.stop();
    const err = await pending;
    t.equal(err.code, 'E_DEVICE');
    t.ok(Date.now() - started < 1000, 'promptly');
  });

  t.test('the reader unplugged mid-read (socat gone): E_DEVICE, and read says so afterwards', async (t) => {
    const { fake, reader } = await rig(t, { card: false });
    const pending = failure(reader.read({ timeoutMs: 10_000 }));
    await new Promise((r) => setTimeout(r, 200));
    await fake.stop();
    const err = await pending;
    t.equal(err.code, 'E_DEVICE', err.message);
    const after = await failure(reader.read({ timeoutMs: 100 }));
    t.equal(after.code, 'E_DEVICE', 'not E_USAGE: the port went away by itself');
  });

  t.test('an abort signal ends a read with E_ABORTED', async (t) => {
    const { reader } = await rig(t, { card: false });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 200);
    const err = await failure(reader.read({ timeoutMs: 10_000, signal: ac.signal }));
    t.equal(err.code, 'E_ABORTED');
  });

  t.test('privacy: after a read, errors and logs hold no name, number, address or photo', async (t) => {
    const photo = Buffer.from(Array.from({ length: 1024 }, (_, i) => (i * 13 + 5) & 0xff));
    const secrets = [SAMPLE_CARD.name, SAMPLE_CARD.idNumber, SAMPLE_CARD.address, SAMPLE_CARD.birthDate, SAMPLE_CARD.idNumber.slice(0, 17)];
    const photoForms = [photo.toString('hex').slice(0, 64), photo.toString('base64').slice(0, 64), photo.subarray(0, 32).toString('latin1')];
    const { fake, reader, logs } = await rig(t, { photo });
    await reader.read({ timeoutMs: 3000 });
    const errors: KioskError[] = [];
    // A frame that does not check, and a card pulled at every read until the attempts run out.
    const misbehaviours: FakeReaderOptions[] = [{ corrupt: 'read' }, { corrupt: undefined, removeAfterFrames: 2, removals: 5 }];
    for (const fo of misbehaviours) {
      fake.configure(fo);
      errors.push(await failure(reader.read({ timeoutMs: 2000 })));
    }
    fake.configure({ removeAfterFrames: undefined, removals: 0 });
    // Decoder failures, one that echoes the photo to its stderr among them, and a text record that does not check.
    for (const mode of ['echo', 'crash', 'garbage']) {
      const r = await rig(t, { photo }, { decoder: decoder(mode) });
      errors.push(await failure(r.reader.read({ timeoutMs: 3000 })));
      logs.push(...r.logs);
    }
    const wrongNumber = `${SAMPLE_CARD.idNumber.slice(0, 17)}${SAMPLE_CARD.idNumber.endsWith('0') ? '1' : '0'}`;
    const { encodeTextRecord } = await import('../../device/document/cn-id/text.js');
    const r = await rig(t, { text: encodeTextRecord({ ...SAMPLE_CARD, idNumber: wrongNumber }) });
    errors.push(await failure(r.reader.read({ timeoutMs: 3000 })));
    logs.push(...r.logs);
    t.same(
      errors.map((e) => e.code),
      ['E_DEVICE', 'E_DOC_ACCESS', 'E_DOC_DECODER_MISSING', 'E_DOC_DECODER_MISSING', 'E_IMAGE_CORRUPT', 'E_DEVICE'],
      'each error happened',
    );
    const texts = errors.map((e) =>
      [e.message, JSON.stringify(e.toJSON()), String(e.stack), e.cause instanceof Error ? e.cause.message : String(e.cause ?? '')].join('\n'),
    );
    texts.push(logs.join('\n'));
    for (const text of texts) {
      for (const s of [...secrets, wrongNumber, ...photoForms]) {
        t.notOk(text.includes(s), 'no personal data or photo bytes', { diagnostic: false });
      }
    }
    t.ok(logs.length > 0, 'something was logged');
  });
});
