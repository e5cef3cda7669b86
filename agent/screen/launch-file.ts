/**
 * The launch file: the customer screen's URL with its socket secret, for the kiosk browser's launcher
 * (systemd/kiosk-screen.service reads it as a credential). Written whole or not at all: a temporary
 * file created with mode 0600 (never readable by others, even for a moment) renamed over the old one.
 */
import { randomBytes } from 'node:crypto';
import { chmod, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { KioskError } from '../../base/errors.js';

/** Writes `url` and a newline to `path`, mode 0600, atomically. */
export async function writeLaunchFile(path: string, url: string): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.chmod(0o600); // whatever the umask made of the mode
      await fh.writeFile(`${url}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    await chmod(path, 0o600);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw new KioskError('E_STORAGE', 'cannot write the customer screen launch file', { subject: path, cause: err });
  }
}

/** Removes the launch file (its secret dies with the server); absent is fine. */
export async function removeLaunchFile(path: string): Promise<void> {
  await rm(path, { force: true });
}
