import { Writable } from 'node:stream';
import t from 'tap';
import { createLogger, resolveLogFormat } from '../../base/log.js';

/** An in-memory destination: everything the logger writes, as text. */
function sink(): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(String(chunk));
      cb();
    },
  });
  return { stream, text: () => chunks.join('') };
}

/** Lets the pretty stream (a Transform piped into the destination) deliver what it has. */
const settle = () => new Promise((r) => setImmediate(r));

const secrets = { image: 'AAAA', embedding: [0.1, 0.2], nested: { token: 'tok-123', privateKey: 'pk-456' }, file: 'a.jpg' };

t.test('the format: JSON unless stderr is a terminal; KIOSK_LOG_FORMAT overrides; a destination means JSON', async (t) => {
  t.equal(resolveLogFormat({}, {}, false), 'json', 'not a terminal: JSON lines');
  t.equal(resolveLogFormat({}, {}, true), 'pretty', 'a terminal: pretty');
  t.equal(resolveLogFormat({}, { KIOSK_LOG_FORMAT: 'pretty' }, false), 'pretty', 'forced pretty in a pipe');
  t.equal(resolveLogFormat({}, { KIOSK_LOG_FORMAT: 'json' }, true), 'json', 'forced JSON on a terminal');
  t.equal(resolveLogFormat({}, { KIOSK_LOG_FORMAT: ' Pretty ' }, false), 'pretty', 'case and spaces do not matter');
  t.equal(resolveLogFormat({}, { KIOSK_LOG_FORMAT: 'yaml' }, true), 'pretty', 'an unknown value is ignored');
  const { stream } = sink();
  t.equal(resolveLogFormat({ destination: stream }, { KIOSK_LOG_FORMAT: 'pretty' }, true), 'json', 'a given destination reads JSON lines back');
  t.equal(resolveLogFormat({ destination: stream, format: 'pretty' }, {}, false), 'pretty', 'the option wins over everything');
  t.equal(resolveLogFormat({ format: 'json' }, { KIOSK_LOG_FORMAT: 'pretty' }, true), 'json');
});

t.test('JSON lines: one object a line, biometric data and secrets redacted', async (t) => {
  const out = sink();
  const logger = createLogger({ level: 'info', destination: out.stream }).child({ component: 'eval' });
  logger.info(secrets, 'scored');
  logger.debug('below the level');
  await settle();
  const lines = out.text().trim().split('\n');
  t.equal(lines.length, 1);
  const rec = JSON.parse(lines[0]) as Record<string, any>;
  t.match(rec, { level: 30, app: 'kiosk-agent', component: 'eval', msg: 'scored', file: 'a.jpg' });
  t.equal(rec.image, '[redacted]');
  t.equal(rec.embedding, '[redacted]');
  t.same(rec.nested, { token: '[redacted]', privateKey: '[redacted]' });
  t.notMatch(out.text(), /AAAA|tok-123|pk-456|0\.1/);
});

t.test('pretty, when forced: a readable line per entry, the component first, redaction still applied', async (t) => {
  const out = sink();
  const logger = createLogger({ level: 'info', destination: out.stream, format: 'pretty', colorize: false }).child({ component: 'eval' });
  logger.info(secrets, 'scored');
  logger.warn('slow file');
  await settle();
  const text = out.text();
  t.notMatch(text, /^\{/m, 'no JSON object lines');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: no colour codes were asked for
  t.notMatch(text, /\x1b\[/, 'no colour codes');
  const lines = text.trim().split('\n');
  t.equal(lines.length, 2);
  t.match(lines[0], /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: \[eval\] scored /);
  t.match(lines[0], /"file":"a\.jpg"/);
  t.match(lines[0], /"image":"\[redacted\]"/);
  t.match(lines[0], /"embedding":"\[redacted\]"/);
  t.match(lines[0], /"token":"\[redacted\]"/);
  // The clock prefix is left out: a time such as [05:30:00.168] holds "0.1" too.
  t.notMatch(text.replace(/^\[[\d:.]+\] /gm, ''), /AAAA|tok-123|pk-456|0\.1/, 'no secret reaches the pretty output');
  t.notMatch(text, /kiosk-agent/, 'the app name is left out');
  t.match(lines[1], /WARN: \[eval\] slow file/);
});

t.test('pretty with colours: level names coloured', async (t) => {
  const out = sink();
  createLogger({ destination: out.stream, format: 'pretty', colorize: true }).error('broken');
  await settle();
  // biome-ignore lint/suspicious/noControlCharactersInRegex: colour codes are what is checked
  t.match(out.text(), /\x1b\[\d+mERROR/);
});
