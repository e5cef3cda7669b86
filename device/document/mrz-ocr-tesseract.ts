/**
 * Debian's tesseract (packages tesseract-ocr, tesseract-ocr-eng) run as a child process on one image
 * held in memory: the PNG goes in on stdin and the text comes back on stdout, so no image touches the
 * disk. Restricted to the MRZ alphabet, dictionaries off (an MRZ is not words).
 */
import { startChild, stopChild, TailBuffer, type Spawn } from '../../base/process.js';
import { KioskError } from '../../base/errors.js';

/** How tesseract is found and run. */
export interface TesseractOptions {
  /** Executable; default `tesseract` from PATH (Debian package tesseract-ocr). */
  tesseractPath?: string;
  /** Kill the run after this many ms (E_TIMEOUT); default 15000. */
  timeoutMs?: number;
  /** Process spawner; default `child_process.spawn`; tests pass stand-ins. */
  spawn?: Spawn;
}

/** Upper-case letters, digits and the filler: nothing else can appear in an MRZ. */
export const MRZ_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<';

const MAX_TEXT = 64 * 1024;

/** Recognises the text of a PNG, one text line per output line (`--psm 6`: a uniform block of text). */
export async function ocrPng(png: Buffer, options: TesseractOptions = {}, psm = 6): Promise<string> {
  const command = options.tesseractPath ?? 'tesseract';
  const args = [
    'stdin',
    'stdout',
    '-l',
    'eng',
    '--psm',
    String(psm),
    '-c',
    `tessedit_char_whitelist=${MRZ_ALPHABET}`,
    '-c',
    'load_system_dawg=0',
    '-c',
    'load_freq_dawg=0',
  ];
  // OpenMP threads cost more than they save on an image this small (measured: 2.6 s -> 1.2 s on a page).
  const env = { ...process.env, OMP_THREAD_LIMIT: '1' };
  const { child, exited, spawned } = startChild(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env }, options.spawn);
  const out: Buffer[] = [];
  let outBytes = 0;
  const stderr = new TailBuffer(1024);
  child.stdout?.on('data', (c: Buffer) => {
    outBytes += c.length;
    if (outBytes <= MAX_TEXT) out.push(c);
  });
  child.stderr?.on('data', (c: Buffer) => stderr.push(c));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void stopChild(child, exited, 500);
  }, options.timeoutMs ?? 15_000);
  try {
    if (await spawned) {
      child.stdin?.on('error', () => {}); // EPIPE when tesseract exits early: its exit status says why
      child.stdin?.end(png);
    }
    const exit = await exited;
    if (exit.spawnError !== undefined) {
      const code = (exit.spawnError as NodeJS.ErrnoException)?.code;
      throw new KioskError(
        'E_DEVICE',
        `${command} ${code === 'ENOENT' ? 'not found' : 'could not start'}; install the Debian packages tesseract-ocr and tesseract-ocr-eng`,
        {
          subject: 'tesseract',
          cause: exit.spawnError,
        },
      );
    }
    if (timedOut) throw new KioskError('E_TIMEOUT', `tesseract took longer than ${options.timeoutMs ?? 15_000} ms`, { subject: 'tesseract' });
    if (exit.code !== 0) {
      // stderr names a missing language file or a bad option; it never holds image data.
      throw new KioskError('E_DEVICE', `tesseract exited ${exit.code ?? exit.signal}: ${stderr.value.trim().split('\n').slice(-2).join('; ').slice(0, 200)}`, {
        subject: 'tesseract',
      });
    }
    return Buffer.concat(out).toString('utf8');
  } finally {
    clearTimeout(timer);
  }
}
