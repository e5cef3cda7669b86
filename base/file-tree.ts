import { lstat, readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';

/**
 * Regular files below `dir` as sorted `/`-separated relative paths (release bundles and their
 * manifests name files this way). Anything else below it (a symlink, a device, a socket) is handed
 * to `refuse`, which throws the caller's coded error.
 */
export async function listRegularFiles(dir: string, refuse: (path: string) => never): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    const full = join(e.parentPath ?? e.path, e.name);
    const st = await lstat(full);
    if (st.isDirectory()) continue;
    if (!st.isFile()) refuse(full);
    out.push(relative(dir, full).split(sep).join('/'));
  }
  return out.sort();
}
