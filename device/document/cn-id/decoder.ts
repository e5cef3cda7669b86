/**
 * The card's photo is 1024 bytes in the reader vendor's compressed "wlt" format, which only the
 * vendor's library decodes. The agent never loads that library: a helper program the carrier
 * configures gets the wlt bytes on stdin and writes an image (PNG, JPEG, WebP or TIFF: what sharp
 * reads; vendor libraries write BMP, so the wrapper converts, e.g. through ffmpeg) on stdout. Its
 * crash, hang or licence check stays in that process; here it is bounded in time and output size
 * and its output must decode as an image.
 */
import { KioskError } from '../../../base/errors.js';
import { type Spawn, startChild, stopChild } from '../../../base/process.js';
import type { RgbImage } from '../../../base/rgb-image.js';
import { decodeImageBuffer } from '../../media/image.js';

export interface PhotoDecoderOptions {
  /** The helper's executable (absolute path or on PATH); unset means no decoder is configured. */
  command?: string;
  /** Arguments for the helper. Default none. */
  args?: readonly string[];
  /** Milliseconds the helper may take before it is killed. Default 5000. */
  timeoutMs?: number;
  /** Bytes of stdout accepted; more kills the helper. Default 4 MiB (a 102x126 portrait is ~40 KB as BMP). */
  maxOutputBytes?: number;
  /** Pixels the decoded image may have. Default 4 million. */
  maxPixels?: number;
  /** Process spawner (tests); default `child_process.spawn`. */
  spawn?: Spawn;
}

const SUBJECT = 'cn-id photo decoder';

/** Runs the configured helper on the wlt bytes and returns the decoded portrait. */
export async function decodeWltPhoto(wlt: Uint8Array, o: PhotoDecoderOptions): Promise<RgbImage> {
  if (!o.command) {
    throw new KioskError('E_DOC_DECODER_MISSING', 'no photo decoder is configured; the card photo needs the reader vendor’s wlt decoder as a helper program', {
      subject: SUBJECT,
      details: { reason: 'not_configured' },
    });
  }
  const command = o.command;
  const timeoutMs = o.timeoutMs ?? 5000;
  const maxOutputBytes = o.maxOutputBytes ?? 4 * 1024 * 1024;
  // The helper inherits no environment beyond PATH and locale: it has no business with the agent's secrets.
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: process.env.LANG ?? 'C.UTF-8' };
  const { child, exited, spawned } = startChild(command, o.args ?? [], { stdio: ['pipe', 'pipe', 'ignore'], env }, o.spawn);
  const out: Buffer[] = [];
  let outBytes = 0;
  let overflow = false;
  let timedOut = false;
  child.stdout?.on('data', (c: Buffer) => {
    outBytes += c.length;
    if (outBytes <= maxOutputBytes) out.push(c);
    else if (!overflow) {
      overflow = true;
      child.kill('SIGKILL');
    }
  });
  // A helper that exits without reading stdin makes the write fail with EPIPE: its exit says more.
  child.stdin?.on('error', () => {});
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  try {
    if (await spawned) child.stdin?.end(Buffer.from(wlt));
    const exit = await exited;
    if (exit.spawnError) {
      const code = (exit.spawnError as NodeJS.ErrnoException).code;
      throw new KioskError(
        'E_DOC_DECODER_MISSING',
        `the photo decoder ${command} ${code === 'ENOENT' ? 'was not found' : code === 'EACCES' ? 'is not executable' : 'could not be started'}`,
        {
          subject: SUBJECT,
          details: { reason: code === 'ENOENT' ? 'not_found' : 'not_startable', command, errno: code },
        },
      );
    }
    if (timedOut) {
      throw new KioskError('E_TIMEOUT', `the photo decoder ${command} did not finish within ${timeoutMs} ms and was killed`, {
        subject: SUBJECT,
        details: { reason: 'decoder_timeout', command, timeoutMs },
      });
    }
    if (overflow) {
      throw new KioskError('E_IMAGE_TOO_LARGE', `the photo decoder ${command} wrote more than ${maxOutputBytes} bytes and was killed`, {
        subject: SUBJECT,
        details: { reason: 'decoder_output', command, maxOutputBytes },
      });
    }
    if (exit.code !== 0) {
      // Its stderr is not read: a vendor library may echo what it was given.
      throw new KioskError('E_DOC_DECODER_MISSING', `the photo decoder ${command} failed (${exit.signal ? `signal ${exit.signal}` : `exit ${exit.code}`})`, {
        subject: SUBJECT,
        details: { reason: 'decoder_failed', command, exitCode: exit.code, signal: exit.signal },
      });
    }
  } finally {
    clearTimeout(timer);
    await stopChild(child, exited, 500);
  }
  try {
    return await decodeImageBuffer(Buffer.concat(out), SUBJECT, { maxPixels: o.maxPixels ?? 4_000_000 });
  } catch (err) {
    const e = err instanceof KioskError ? err : undefined;
    throw new KioskError('E_IMAGE_CORRUPT', `the photo decoder ${command} wrote no image sharp can read (${e?.code ?? 'decode failed'})`, {
      subject: SUBJECT,
      cause: err,
      details: { reason: 'decoder_garbage', command, bytes: outBytes },
    });
  }
}
