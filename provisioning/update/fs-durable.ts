/**
 * The few durable file-system steps the release store and downloads rely on: a file or a symlink
 * replaced by rename (atomic on one file system) and the directory fsynced so the rename survives a
 * power loss, not only a crash of the process.
 */
import { open, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** fsyncs directory `dir`, making renames and creations in it durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Replaces `file` with `data`: write `<file>.tmp`, fsync it, rename over `file`, fsync the directory. */
export async function writeFileDurable(file: string, data: string, beforeRename?: () => void): Promise<void> {
  const tmp = `${file}.tmp`;
  await writeFile(tmp, data, { mode: 0o644 });
  const fh = await open(tmp, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
  beforeRename?.();
  await rename(tmp, file);
  await fsyncDir(dirname(file));
}

/** Points symlink `link` at `target` atomically: a `<link>.tmp` symlink renamed over it, then the directory fsynced. */
export async function replaceSymlink(link: string, target: string, beforeRename?: () => void): Promise<void> {
  const tmp = `${link}.tmp`;
  await rm(tmp, { force: true });
  await symlink(target, tmp);
  beforeRename?.();
  await rename(tmp, link);
  await fsyncDir(dirname(link));
}

/** The path of a release's directory below a store root (relative link targets keep the store movable). */
export function releaseLinkTarget(version: number): string {
  return join('releases', String(version));
}
