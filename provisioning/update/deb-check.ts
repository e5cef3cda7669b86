/**
 * Checks of a downloaded agent package before it is unpacked: its control fields must name the
 * release (Package kiosk-agent, Version = the manifest's version), and its file tree must stay inside
 * the directory it is unpacked into. GNU tar (which `dpkg-deb -x` runs) already refuses `..` members
 * and defers dangerous symlinks, but the package is checked here as well so that a refusal does not
 * depend on the tar version and names what was wrong.
 */
import { spawn } from 'node:child_process';
import { posix } from 'node:path';
import { KioskError } from '../../base/errors.js';
import { exitOf, TailBuffer } from '../../base/process.js';

/** One member of a package's data archive as `tar -tv --quoting-style=c` lists it. */
export interface DebEntry {
  /** '-' file, 'd' directory, 'l' symlink, 'h' hard link, anything else refused. */
  type: string;
  /** Path inside the archive, `./`-prefixed. */
  path: string;
  /** Target of a link. */
  target?: string;
}

const LINE = /^(\S)\S* +\S+ +\d+ +\S+ +\S+ +"((?:[^"\\]|\\.)*)"(?: (->|link to) "((?:[^"\\]|\\.)*)")?$/;

/** Parses `tar -tv --quoting-style=c` output; a line it cannot read is an error (never skipped). */
export function parseTarListing(text: string, subject: string): DebEntry[] {
  const out: DebEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const m = LINE.exec(line);
    if (!m) throw refuse(subject, 'unreadable_listing', 'the package lists a member that cannot be read');
    out.push({ type: m[1], path: unquote(m[2]), target: m[4] === undefined ? undefined : unquote(m[4]) });
  }
  return out;
}

/** Why `entries` cannot be unpacked into a directory of their own (a short reason), or undefined. */
export function unsafeEntry(entries: DebEntry[]): { path: string; reason: string } | undefined {
  const links = new Set<string>();
  for (const e of entries) {
    if (!'-dlh'.includes(e.type)) return { path: e.path, reason: 'special_file' };
    const p = inside(e.path);
    if (p === undefined) return { path: e.path, reason: 'path_outside' };
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) if (links.has(parts.slice(0, i).join('/'))) return { path: e.path, reason: 'through_symlink' };
    if (e.type === 'l') {
      // An absolute target is a link to the installed system (as dpkg would make it), not a write outside.
      if (e.target === undefined || e.target === '') return { path: e.path, reason: 'bad_link' };
      if (!e.target.startsWith('/') && inside(posix.join(posix.dirname(`./${p}`), e.target)) === undefined) return { path: e.path, reason: 'link_outside' };
      links.add(p);
    }
    if (e.type === 'h' && (e.target === undefined || inside(e.target) === undefined)) return { path: e.path, reason: 'link_outside' };
  }
  return undefined;
}

/** `p` relative to the archive root when it stays inside it, else undefined. */
function inside(p: string): string | undefined {
  if (p.startsWith('/')) return undefined;
  const segs = p.split('/').filter((s) => s !== '' && s !== '.');
  if (segs.includes('..')) return undefined;
  return segs.join('/');
}

/** Undoes tar's C quoting (\\, \", \n, \t, octal). */
function unquote(s: string): string {
  return s.replace(/\\([0-7]{3}|.)/g, (_all, c: string) => {
    if (/^[0-7]{3}$/.test(c)) return String.fromCharCode(Number.parseInt(c, 8));
    return ({ n: '\n', t: '\t', r: '\r', a: '\x07', b: '\b', f: '\f', v: '\v' } as Record<string, string>)[c] ?? c;
  });
}

/** Lists the package's data archive (`dpkg-deb --fsys-tarfile | tar -tv`). */
export async function listDeb(deb: string): Promise<DebEntry[]> {
  const dpkg = spawn('dpkg-deb', ['--fsys-tarfile', deb], { stdio: ['ignore', 'pipe', 'pipe'] });
  const tar = spawn('tar', ['-tvf', '-', '--quoting-style=c', '--numeric-owner'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
  const err = new TailBuffer(1000);
  dpkg.stderr.on('data', (c: Buffer) => err.push(c));
  tar.stderr.on('data', (c: Buffer) => err.push(c));
  dpkg.stdout.pipe(tar.stdin);
  tar.stdin.on('error', () => undefined); // tar may exit first on a bad archive; its exit code says so
  const chunks: Buffer[] = [];
  tar.stdout.on('data', (c: Buffer) => chunks.push(c));
  const [a, b] = await Promise.all([exitOf(dpkg), exitOf(tar)]);
  if (a.code !== 0 || b.code !== 0) throw refuse(deb, 'unreadable', `the package cannot be read: ${err.summary()}`);
  return parseTarListing(Buffer.concat(chunks).toString('latin1'), deb);
}

/** Throws E_UPDATE_MANIFEST unless every member of `deb` unpacks inside its target directory. */
export async function assertDebContained(deb: string): Promise<void> {
  const bad = unsafeEntry(await listDeb(deb));
  if (bad)
    throw refuse(deb, bad.reason, `the package holds a member that would land outside its directory (${bad.reason})`, { member: bad.path.slice(0, 200) });
}

function refuse(subject: string, reason: string, message: string, extra: Record<string, unknown> = {}): KioskError {
  return new KioskError('E_UPDATE_MANIFEST', message, { subject, details: { reason, ...extra } });
}
