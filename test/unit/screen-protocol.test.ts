/**
 * The customer screen's pure parts: page message validation (the MRZ entry too), the next step of a verdict, the
 * session bridge, and the message catalogues (complete in English; gaps in other languages are
 * listed and fall back to English).
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { catalogueKeys, DOCUMENT_STATES, LANGUAGES, MAX_PAGE_MESSAGE_BYTES, nextStepOf, parsePageMessage, PROMPT_IDS } from '../../agent/screen/protocol.js';
import { bridgeSession } from '../../agent/screen/session-bridge.js';
import type { ScreenEvent } from '../../agent/screen/server.js';
import { makeImage } from '../../base/rgb-image.js';

const PUBLIC = resolve(fileURLToPath(import.meta.url), '../../../agent/screen/public');
const catalogue = (lang: string): Record<string, string> => JSON.parse(readFileSync(join(PUBLIC, 'i18n', `${lang}.json`), 'utf8'));

t.test('page messages: valid ones pass, malformed ones are refused with a reason', async (t) => {
  t.same(parsePageMessage('{"type":"language","language":"en"}'), { ok: true, message: { type: 'language', language: 'en' } });
  t.same(parsePageMessage(Buffer.from('{"type":"cancel"}')), { ok: true, message: { type: 'cancel' } });
  t.same(parsePageMessage('{"type":"help"}'), { ok: true, message: { type: 'help' } });
  const refused: Array<[string | Buffer, boolean, RegExp]> = [
    ['not json', false, /not JSON/],
    ['[1,2]', false, /not a JSON object/],
    ['null', false, /not a JSON object/],
    ['{"language":"en"}', false, /missing type/],
    ['{"type":"dispense"}', false, /unknown message type/],
    ['{"type":"language","language":"fr"}', false, /language must be one of zh-Hans, en/],
    ['{"type":"language"}', false, /language must be/],
    ['{"type":"cancel","why":"x"}', false, /unexpected field\(s\) why/],
    ['{"type":"language","language":"en","x":1}', false, /unexpected field/],
    [JSON.stringify({ type: 'help', pad: 'x'.repeat(600) }), false, /longer than 512 bytes/],
    [Buffer.from([0xff, 0xd8, 0xff]), true, /binary/],
  ];
  for (const [raw, binary, reason] of refused) {
    const r = parsePageMessage(raw, binary);
    t.equal(r.ok, false, `refused: ${String(raw).slice(0, 40)}`);
    if (!r.ok) {
      t.match(r.reason, reason);
      t.notMatch(r.reason, /xxxx|dispense/, 'the reason does not echo the content');
    }
  }
});

t.test('mrz_entry: a good entry passes, every malformed kind is refused without echoing it', async (t) => {
  const good = { type: 'mrz_entry', documentNumber: 'L898902C3', birthDate: '740812', expiryDate: '120415' };
  t.same(parsePageMessage(JSON.stringify(good)), { ok: true, message: good });
  t.same(parsePageMessage(JSON.stringify({ ...good, documentNumber: 'A' })), { ok: true, message: { ...good, documentNumber: 'A' } }, 'one character');
  // Every value below carries a marker that a reason must not contain.
  const refused: Array<[Record<string, unknown>, RegExp]> = [
    [{ documentNumber: undefined }, /documentNumber must be a string/],
    [{ documentNumber: 898902 }, /documentNumber must be a string/],
    [{ documentNumber: ['L898902C3'] }, /documentNumber must be a string/],
    [{ documentNumber: '' }, /documentNumber must be 1-9 characters A-Z or 0-9/],
    [{ documentNumber: 'QZX898902C3' }, /documentNumber must be 1-9/],
    [{ documentNumber: 'qzx8989' }, /documentNumber must be 1-9/],
    [{ documentNumber: 'QZX<8989' }, /documentNumber must be 1-9/],
    [{ documentNumber: 'QZX 8989' }, /documentNumber must be 1-9/],
    [{ documentNumber: 'QZX８９８' }, /documentNumber must be 1-9/],
    [{ documentNumber: 'QZX"}' }, /documentNumber must be 1-9/],
    [{ birthDate: 740812 }, /birthDate must be a string/],
    [{ birthDate: null }, /birthDate must be a string/],
    [{ birthDate: '74081' }, /birthDate must be 6 digits \(YYMMDD\)/],
    [{ birthDate: '7408123' }, /birthDate must be 6 digits/],
    [{ birthDate: '74-8-1' }, /birthDate must be 6 digits/],
    [{ birthDate: '74O812' }, /birthDate must be 6 digits/],
    [{ expiryDate: '12041' }, /expiryDate must be 6 digits/],
    [{ expiryDate: '１２０４１５' }, /expiryDate must be 6 digits/],
    [{ expiryDate: '120415\n' }, /expiryDate must be 6 digits/],
    [{ expiryDate: {} }, /expiryDate must be a string/],
    [{ QZXnote: 'QZXval' }, /^1 unexpected field\(s\)$/],
    [{ checkDigit: '6', QZX898902: 'QZXval' }, /^2 unexpected field\(s\)$/],
    [{ documentNumber: 'QZX'.repeat(200) }, /longer than 512 bytes/],
  ];
  for (const [change, reason] of refused) {
    const msg = { ...good, ...change };
    const raw = JSON.stringify(msg);
    const r = parsePageMessage(raw);
    t.equal(r.ok, false, `refused: ${JSON.stringify(change).slice(0, 60)}`);
    if (r.ok) continue;
    t.match(r.reason, reason);
    for (const v of [...Object.values(change), good.documentNumber, good.birthDate, good.expiryDate])
      if (typeof v === 'string' && v.length > 1) t.notOk(r.reason.includes(v), 'the reason does not echo a value');
    t.notMatch(r.reason, /QZX|740812|120415|L898902C3/, 'no content in the reason');
  }
  const longest = JSON.stringify({ ...good, documentNumber: 'W'.repeat(9) });
  t.ok(Buffer.byteLength(longest) < MAX_PAGE_MESSAGE_BYTES / 4, 'a full entry is far inside the message limit');
});

t.test('document messages: every state and form label is catalogued', async (t) => {
  const keys = catalogueKeys();
  for (const s of DOCUMENT_STATES) t.ok(keys.includes(`document.${s}`), `document.${s}`);
  for (const k of ['mrz.documentNumber', 'mrz.birthDate', 'mrz.expiryDate', 'mrz.date_hint', 'mrz.confirm', 'mrz.cancel']) t.ok(keys.includes(k), k);
  const en = catalogue('en');
  const zh = catalogue('zh-Hans');
  for (const k of keys.filter((k) => k.startsWith('document.') || k.startsWith('mrz.'))) {
    t.ok(zh[k], `zh-Hans has ${k}`);
    if (!['mrz.cancel'].includes(k)) t.not(zh[k], en[k], `${k} is translated`);
  }
  t.match(en['mrz.date_hint'], /YYMMDD/);
  t.match(zh['mrz.date_hint'], /YYMMDD/);
});

t.test('what happens next after a verdict', async (t) => {
  t.equal(nextStepOf('accept', []), 'collect_sim');
  t.equal(nextStepOf('retry', ['quality']), 'try_again');
  t.equal(nextStepOf('reject', ['no_match']), 'see_staff');
  t.equal(nextStepOf('reject', ['attempts_exceeded']), 'come_back_later');
});

t.test('the bridge: plan, prompts and progress in, capture effects out, nothing after the verdict', async (t) => {
  const shown: ScreenEvent[] = [];
  let previews = 0;
  const b = bridgeSession({ show: (e) => shown.push(e), preview: () => previews++ }, { steps: [{ kind: 'blink' }, { kind: 'turn_left' }] as any });
  b.onEffect({ type: 'prompt', id: 'move_closer' });
  b.onEffect({ type: 'progress', phase: 'challenge', completedSteps: 1, totalSteps: 2 });
  b.onEffect({ type: 'capture_for_decision', frameIndex: 3, faceIndex: 0, purpose: 'anchor' });
  b.onImage(makeImage(4, 4));
  b.finish({ verdict: 'retry', reasons: ['quality'] });
  b.onEffect({ type: 'prompt', id: 'blink' });
  b.onImage(makeImage(4, 4));
  b.finish({ verdict: 'accept', reasons: [] });
  t.same(shown, [
    { type: 'session', steps: ['blink', 'turn_left'] },
    { type: 'prompt', id: 'move_closer' },
    { type: 'progress', phase: 'challenge', completedSteps: 1, totalSteps: 2 },
    { type: 'verdict', verdict: 'retry', reasons: ['quality'], next: 'try_again' },
  ]);
  t.equal(previews, 1, 'no preview frame after the verdict');
});

t.test('message catalogues', async (t) => {
  const keys = catalogueKeys();
  t.ok(
    PROMPT_IDS.every((id) => keys.includes(`prompt.${id}`)),
    'every prompt id has a key',
  );
  const { missingKeys, translate } = (await import(pathToFileURL(join(PUBLIC, 'i18n.js')).href)) as {
    missingKeys: (c: Record<string, string>, k: string[]) => string[];
    translate: (cs: Record<string, Record<string, string>>, lang: string, key: string) => string;
  };
  const en = catalogue('en');
  t.same(missingKeys(en, keys), [], 'English (the fallback) is complete');
  for (const lang of LANGUAGES) {
    const cat = catalogue(lang);
    const missing = missingKeys(cat, keys);
    // Gaps are allowed (they show in English) but listed here for the translators.
    t.comment(`${lang}: ${missing.length ? `missing ${missing.join(', ')} (shown in English)` : 'complete'}`);
    t.same(
      Object.keys(cat).filter((k) => !keys.includes(k)),
      [],
      `${lang}: no unknown keys (typos)`,
    );
    t.ok(
      Object.values(cat).every((v) => typeof v === 'string' && v.trim().length > 0),
      `${lang}: no empty strings`,
    );
  }
  const zh = catalogue('zh-Hans');
  const partial = { en, 'zh-Hans': { ...zh, 'prompt.blink': undefined as unknown as string } };
  t.equal(translate(partial, 'zh-Hans', 'prompt.blink'), en['prompt.blink'], 'a missing key falls back to English');
  t.equal(translate(partial, 'zh-Hans', 'prompt.turn_left'), zh['prompt.turn_left']);
  t.equal(translate(partial, 'zh-Hans', 'prompt.nonexistent'), 'prompt.nonexistent', 'an unknown key shows as itself');
});
