import { open, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { KioskError } from '../../base/errors.js';
import { SNIFF_BYTES } from './sniff.js';

/** Maps a Node file-system error to the input error it means, naming the file. */
export function fileError(err: unknown, path: string): KioskError {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return new KioskError('E_INPUT_NOT_FOUND', 'no such file', { subject: path, cause: err });
  if (code === 'EACCES' || code === 'EPERM') return new KioskError('E_INPUT_UNREADABLE', 'permission denied', { subject: path, cause: err });
  if (code === 'EISDIR') return new KioskError('E_INPUT_UNREADABLE', 'is a directory, not a file', { subject: path, cause: err });
  const message = err instanceof Error ? err.message : String(err);
  return new KioskError('E_INPUT_UNREADABLE', `cannot read: ${message}`, { subject: path, cause: err });
}

/** `stat` with input errors (missing file, unreadable path). */
export async function statInput(path: string): Promise<Stats> {
  try {
    return await stat(path);
  } catch (err) {
    throw fileError(err, path);
  }
}

/**
 * Checks that `path` is a non-empty regular file and returns its size and first bytes (for sniffing).
 * Directories, devices and FIFOs are refused: reading a FIFO would block forever.
 */
export async function openInputFile(path: string): Promise<{ size: number; head: Uint8Array }> {
  const st = await statInput(path);
  if (st.isDirectory()) throw new KioskError('E_INPUT_UNREADABLE', 'is a directory, not a file', { subject: path });
  if (!st.isFile()) throw new KioskError('E_INPUT_UNREADABLE', 'is not a regular file', { subject: path });
  if (st.size === 0) throw new KioskError('E_INPUT_EMPTY', 'file is empty (0 bytes)', { subject: path });
  try {
    const fh = await open(path, 'r');
    try {
      const head = new Uint8Array(Math.min(SNIFF_BYTES, st.size));
      const { bytesRead } = await fh.read(head, 0, head.length, 0);
      return { size: st.size, head: head.subarray(0, bytesRead) };
    } finally {
      await fh.close();
    }
  } catch (err) {
    throw fileError(err, path);
  }
}
