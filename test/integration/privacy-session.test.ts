/**
 * Privacy: a whole session on a real recording, with debug logging into memory, must leave no
 * image, crop or embedding in the result JSON, the log lines, the verify command's output, or any
 * file it writes: no numeric array longer than a few numbers, no base64 blob, no JPEG/PNG magic.
 */
import t from 'tap';
import { Writable } from 'node:stream';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { createLogger } from '../../base/log.js';
import { createFaceEngine } from '../../models/face-engine.js';
import { verifyFiles } from '../../agent/session/verify.js';
import { dataPath, hasData, NO_DATA } from '../helpers/data.js';
import { hasNumericArray } from '../helpers/session-frames.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
const BLINK = 'blink-detector-video/video.mp4';

/** Findings of image or embedding data in a text (empty when clean). */
function scan(text: string): string[] {
  const found: string[] = [];
  if (/[A-Za-z0-9+/]{200,}={0,2}/.test(text)) found.push('base64-like blob');
  if (text.includes('\u00ff\u00d8\u00ff') || text.includes('\ufffd\ufffd\ufffd') || /\/9j\//.test(text)) found.push('JPEG magic');
  if (text.includes('\u0089PNG') || text.includes('iVBORw0KGgo')) found.push('PNG magic');
  // Runs of more than 8 numbers separated by commas or whitespace (an embedding or pixels written as text).
  if (/(-?\d+(\.\d+)?(e-?\d+)?[,\s]+){8,}-?\d/.test(text.replace(/"[^"]*"/g, '""'))) found.push('run of numbers');
  for (const line of text.split('\n')) {
    try {
      if (hasNumericArray(JSON.parse(line), 4)) found.push('numeric array in a JSON line');
    } catch {
      // not a JSON line
    }
  }
  try {
    if (hasNumericArray(JSON.parse(text), 4)) found.push('numeric array in the JSON document');
  } catch {
    // not one JSON document
  }
  return found;
}

t.test('the scanner finds what it looks for', async (t) => {
  t.ok(scan(JSON.stringify({ e: Array.from({ length: 512 }, (_, i) => i / 512) })).length > 0, 'an embedding');
  t.ok(scan(Buffer.alloc(300, 7).toString('base64')).length > 0, 'a base64 blob');
  t.ok(scan('x iVBORw0KGgoAAAANSUhEUg y').length > 0, 'a PNG in base64');
  t.ok(scan('0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0').length > 0, 'a run of numbers');
  t.same(scan(JSON.stringify({ verdict: 'accept', scores: { match: 0.93, attack: [0.1, 0.2] } })), [], 'a result-like document is clean');
});

t.test('session result and debug logs hold no image, crop or embedding', { skip: hasData ? false : NO_DATA, timeout: 120_000 }, async (t) => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  const logger = createLogger({ level: 'trace', destination: sink });
  const engine = createFaceEngine({ logger });
  await engine.start();
  t.teardown(() => engine.stop());
  const outcome = await verifyFiles(
    engine,
    { id: `${dataPath(BLINK)}#frame=205`, video: dataPath(BLINK), challenge: 'blink' },
    {
      fast: true,
      config: { allowWeakPlans: true },
      onEffect: (e) => logger.debug({ effect: e }, 'effect'),
    },
  );
  logger.info({ outcome }, 'session finished');
  await new Promise((r) => setImmediate(r));
  t.equal(outcome.result.verdict, 'accept', 'a real session ran to its verdict');
  t.ok(lines.length >= 3, `${lines.length} log lines captured`);
  t.same(scan(JSON.stringify(outcome)), [], 'result JSON is clean');
  t.same(scan(lines.join('')), [], 'log lines are clean');
});

t.test(
  'verify command: output and files written hold no image data; exit codes 0 / 1 / 2',
  { skip: hasData ? false : NO_DATA, timeout: 180_000 },
  async (t) => {
    const work = await mkdtemp(join(tmpdir(), 'kiosk-verify-'));
    t.teardown(() => rm(work, { recursive: true, force: true }));
    const run = async (args: string[]) => {
      try {
        const { stdout, stderr } = await promisify(execFile)(
          process.execPath,
          ['--import', pathToFileURL(join(ROOT, 'node_modules/tsx/dist/esm/index.mjs')).href, join(ROOT, 'agent/cli/main.ts'), 'verify', ...args],
          {
            cwd: work,
            env: { ...process.env, TMPDIR: work, KIOSK_LOG_LEVEL: 'debug' },
            maxBuffer: 64 * 1024 * 1024,
          },
        );
        return { code: 0, stdout, stderr };
      } catch (err) {
        const e = err as { code: number; stdout: string; stderr: string };
        return { code: e.code, stdout: e.stdout, stderr: e.stderr };
      }
    };
    const video = dataPath(BLINK);
    const accept = await run(['--id', `${video}#frame=205`, '--video', video, '--challenge', 'blink', '--allow-weak-plan', '--fast', '--json']);
    t.equal(accept.code, 0, `accept exits 0 (${accept.stderr.slice(-300)})`);
    t.equal(JSON.parse(accept.stdout).result.verdict, 'accept');
    t.match(accept.stderr, /Blink/, 'the customer prompt is shown on stderr');
    t.same(scan(accept.stdout), [], 'stdout clean');
    t.same(scan(accept.stderr), [], 'stderr (logs, prompts) clean');
    const reject = await run([
      '--id',
      dataPath('deepface-verify/tests/unit/dataset/img3.jpg'),
      '--video',
      video,
      '--challenge',
      'blink',
      '--allow-weak-plan',
      '--fast',
    ]);
    t.equal(reject.code, 1, 'reject exits 1');
    t.match(reject.stdout, /verdict: reject \(no_match\)/);
    const usage = await run(['--id', `${video}#frame=205`, '--video', video, '--fast']);
    t.equal(usage.code, 2, 'no --nonce or --challenge: error, exit 2');
    t.match(usage.stderr, /E_USAGE/);
    const weak = await run(['--id', `${video}#frame=205`, '--video', video, '--challenge', 'blink', '--fast']);
    t.equal(weak.code, 2, 'a blink-only plan without --allow-weak-plan: refused, exit 2');
    t.match(weak.stderr, /E_CHALLENGE_INVALID/);
    const missing = await run(['--id', join(work, 'nope.jpg'), '--video', video, '--challenge', 'blink', '--allow-weak-plan', '--fast']);
    t.equal(missing.code, 2, 'missing reference file: exit 2');
    const files = await readdir(work, { recursive: true });
    for (const f of files) {
      const buf = await readFile(join(work, f)).catch(() => null);
      if (buf) t.same(scan(buf.toString('latin1')), [], `${f} is clean`);
    }
    t.comment(`files written in the working directory and TMPDIR: ${files.length}`);
  },
);
