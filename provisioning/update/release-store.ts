/**
 * Releases side by side and one atomic switch, with anti-rollback:
 *
 *   <root>/releases/<version>/   complete releases only (a staged directory is renamed in whole)
 *   <root>/staging/<version>/    the one release being downloaded or copied (kept for resume)
 *   <root>/current  -> releases/<v>   what runs; replaced by rename of `current.tmp`
 *   <root>/previous -> releases/<v>   the release just left, kept while the new one is on trial
 *   <root>/state.json            { current, previous, trial, trialStarts, floor, lastRollback }
 *
 * The state file is the truth and is written first (temp, fsync, rename, fsync dir); the links follow
 * it. After a crash at any point `open()` brings the links back in line with the state, removes
 * temporaries and half-pruned directories, so `current` always names a complete release. A release
 * below the floor (the last committed version) is refused, except by `rollback()`, which returns to
 * the release the trial left.
 */
import { lstat, mkdir, readdir, readFile, readlink, rename, rm, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { KioskError } from '../../base/errors.js';
import { assertStaged, type StagedRelease } from './bundle.js';
import { fsyncDir, releaseLinkTarget, replaceSymlink, writeFileDurable } from './fs-durable.js';
import { assertVerified, type VerifiedRelease } from './manifest.js';

/** The durable state of a store. */
export interface ReleaseState {
  /** The version `current` points at, null before the first switch. */
  current: number | null;
  /** The version the last switch left (kept on disk), null before a second release. */
  previous: number | null;
  /** The version on trial (= current) until commit or rollback, else null. */
  trial: number | null;
  /** How many times the agent started on the trial release (a second start means it crashed). */
  trialStarts: number;
  /** Lowest version a switch may go to; raised to each committed version. */
  floor: number;
  /** The last release rolled back and why. */
  lastRollback: { version: number; reason: string } | null;
}

/** Points where a test may kill the process (SIGKILL) to prove the store survives it. */
export type StoreStep =
  | 'install:renamed'
  | 'state:tmp-written'
  | 'switch:state-written'
  | 'switch:previous-linked'
  | 'switch:current-tmp'
  | 'switch:current-linked'
  | 'commit:state-written'
  | 'commit:previous-unlinked'
  | 'prune:trashed'
  | 'rollback:state-written'
  | 'rollback:current-linked'
  | 'rollback:previous-unlinked';

/** Options of a {@link ReleaseStore}. */
export interface ReleaseStoreOptions {
  /** The store's folder (created when absent). */
  root: string;
  /** Free space kept beyond a release's size when staging it, bytes (default 64 MiB). */
  diskMarginBytes?: number;
  /** Called at each durable step; tests kill the process here. */
  onStep?: (step: StoreStep) => void;
}

const EMPTY: ReleaseState = { current: null, previous: null, trial: null, trialStarts: 0, floor: 0, lastRollback: null };

/** Versioned releases with an atomic, crash-safe switch, trial, commit and rollback. */
export class ReleaseStore {
  private s: ReleaseState = EMPTY;

  private constructor(private readonly o: ReleaseStoreOptions) {}

  /** The durable state of the store at `root`, read without repairing anything (safe beside a running agent). */
  static async peek(root: string): Promise<ReleaseState> {
    return readState(join(root, 'state.json'));
  }

  /** Opens (creating) the store at `o.root` and repairs whatever a crash left half done. */
  static async open(o: ReleaseStoreOptions): Promise<ReleaseStore> {
    const store = new ReleaseStore(o);
    await store.recover();
    return store;
  }

  /** A copy of the durable state. */
  get state(): ReleaseState {
    return structuredClone(this.s);
  }

  /** `<root>/current`, the path the agent runs from (resolves to the current release). */
  get currentPath(): string {
    return join(this.o.root, 'current');
  }

  /** The directory of installed release `version`. */
  releaseDir(version: number): string {
    return join(this.o.root, releaseLinkTarget(version));
  }

  /**
   * The staging directory for `release`, after checking it is not below the floor (E_UPDATE_DOWNGRADE)
   * and that the disk holds what is still missing of it plus the margin (E_UPDATE_DISK). Staging left
   * by another version is removed; staging of this version is kept (downloads resume into it).
   */
  async prepareStaging(release: VerifiedRelease): Promise<string> {
    assertVerified(release);
    const v = release.manifest.version;
    this.assertNotDowngrade(v);
    if (v === this.s.current) throw new KioskError('E_USAGE', `release ${v} is already the current release`, { subject: this.o.root });
    const stagingRoot = join(this.o.root, 'staging');
    for (const name of await readdir(stagingRoot)) if (name !== String(v)) await rm(join(stagingRoot, name), { recursive: true, force: true });
    const dir = join(stagingRoot, String(v));
    await mkdir(dir, { recursive: true });
    const margin = this.o.diskMarginBytes ?? 64 * 1024 * 1024;
    const needed = Math.max(0, release.totalBytes - (await treeBytes(dir))) + margin;
    const fsStat = await statfs(dir);
    const available = fsStat.bavail * fsStat.bsize;
    if (available < needed)
      throw new KioskError('E_UPDATE_DISK', `release ${v} needs ${needed} bytes free (with a ${margin}-byte margin), ${available} available`, {
        subject: dir,
        details: { needed, available, margin, releaseBytes: release.totalBytes },
      });
    return dir;
  }

  /** Moves a fully staged release into `releases/<version>` in one rename. */
  async install(staged: StagedRelease): Promise<void> {
    assertStaged(staged);
    const v = staged.release.manifest.version;
    this.assertNotDowngrade(v);
    if (v === this.s.current || v === this.s.previous)
      throw new KioskError('E_USAGE', `release ${v} is in use and cannot be replaced`, { subject: this.o.root });
    if (staged.dir !== join(this.o.root, 'staging', String(v)))
      throw new KioskError('E_USAGE', 'a release must be staged in the directory prepareStaging gave', { subject: staged.dir });
    if (await exists(this.releaseDir(v))) await this.trash(v);
    await rename(staged.dir, this.releaseDir(v));
    await fsyncDir(join(this.o.root, 'releases'));
    await fsyncDir(join(this.o.root, 'staging'));
    this.step('install:renamed');
  }

  /** Switches `current` to installed release `version` and puts it on trial; E_UPDATE_DOWNGRADE below the floor. */
  async switchTo(version: number): Promise<void> {
    if (this.s.trial !== null) throw new KioskError('E_USAGE', `release ${this.s.trial} is on trial: commit or roll back first`, { subject: this.o.root });
    this.assertNotDowngrade(version);
    if (version === this.s.current) throw new KioskError('E_USAGE', `release ${version} is already current`, { subject: this.o.root });
    if (!(await exists(join(this.releaseDir(version), 'release.jws'))))
      throw new KioskError('E_USAGE', `release ${version} is not installed`, { subject: this.releaseDir(version) });
    const left = this.s.current;
    await this.writeState({ ...this.s, current: version, previous: left, trial: version, trialStarts: 0 });
    this.step('switch:state-written');
    if (left !== null) {
      await replaceSymlink(join(this.o.root, 'previous'), releaseLinkTarget(left));
      this.step('switch:previous-linked');
    }
    await replaceSymlink(this.currentPath, releaseLinkTarget(version), () => this.step('switch:current-tmp'));
    this.step('switch:current-linked');
  }

  /** Records one more start of the agent on the trial release; returns the count (above 1: it crashed or rebooted mid-trial). */
  async startTrial(): Promise<number> {
    if (this.s.trial === null) throw new KioskError('E_USAGE', 'no release is on trial', { subject: this.o.root });
    await this.writeState({ ...this.s, trialStarts: this.s.trialStarts + 1 });
    return this.s.trialStarts;
  }

  /** Accepts the trial release: raises the floor to it, drops `previous` and prunes older releases (but the previous one). */
  async commit(): Promise<void> {
    const v = this.s.trial;
    if (v === null || v !== this.s.current) throw new KioskError('E_USAGE', 'no release is on trial', { subject: this.o.root });
    await this.writeState({ ...this.s, trial: null, trialStarts: 0, floor: Math.max(this.s.floor, v), lastRollback: null });
    this.step('commit:state-written');
    await rm(join(this.o.root, 'previous'), { force: true });
    await fsyncDir(this.o.root);
    this.step('commit:previous-unlinked');
    await this.prune();
  }

  /**
   * Returns to the release the trial left (the one exception to the floor) and removes the failed
   * one. A first release has none to return to: `current` is then removed, and the launcher runs the
   * agent the Debian package installed (systemd/kiosk-agent-exec).
   */
  async rollback(reason: string): Promise<void> {
    const failed = this.s.trial;
    const back = this.s.previous;
    if (failed === null) throw new KioskError('E_USAGE', 'no release is on trial', { subject: this.o.root });
    await this.writeState({
      ...this.s,
      current: back,
      previous: null,
      trial: null,
      trialStarts: 0,
      lastRollback: { version: failed, reason: reason.slice(0, 500) },
    });
    this.step('rollback:state-written');
    if (back !== null) await replaceSymlink(this.currentPath, releaseLinkTarget(back));
    else await rm(this.currentPath, { force: true });
    this.step('rollback:current-linked');
    await rm(join(this.o.root, 'previous'), { force: true });
    await fsyncDir(this.o.root);
    this.step('rollback:previous-unlinked');
    await this.trash(failed);
  }

  private assertNotDowngrade(version: number): void {
    if (version < this.s.floor)
      throw new KioskError('E_UPDATE_DOWNGRADE', `release ${version} is below the security floor ${this.s.floor}`, {
        subject: this.o.root,
        details: { version, floor: this.s.floor },
      });
  }

  /** Brings links and directories in line with the state file after whatever crash. */
  private async recover(): Promise<void> {
    const root = this.o.root;
    await mkdir(join(root, 'releases'), { recursive: true });
    await mkdir(join(root, 'staging'), { recursive: true });
    for (const tmp of ['state.json.tmp', 'current.tmp', 'previous.tmp']) await rm(join(root, tmp), { force: true });
    for (const name of await readdir(join(root, 'releases')))
      if (name.startsWith('.trash-')) await rm(join(root, 'releases', name), { recursive: true, force: true });
    this.s = await readState(join(root, 'state.json'));
    const { current, previous, trial } = this.s;
    if (current !== null && !(await exists(join(this.releaseDir(current), 'release.jws'))))
      throw new KioskError('E_STORAGE', `the current release ${current} is missing from the store`, { subject: this.releaseDir(current) });
    await this.ensureLink('current', current);
    await this.ensureLink('previous', trial !== null ? previous : null);
    if (trial === null) await this.prune();
  }

  /** Makes link `name` point at release `version` (or removes it for null), atomically. */
  private async ensureLink(name: 'current' | 'previous', version: number | null): Promise<void> {
    const link = join(this.o.root, name);
    const target = await readlink(link).catch(() => undefined);
    if (version === null) {
      if (await lexists(link)) {
        await rm(link, { force: true, recursive: true });
        await fsyncDir(this.o.root);
      }
    } else if (target !== releaseLinkTarget(version)) {
      if (target === undefined && (await lexists(link))) await rm(link, { recursive: true, force: true }); // not a link at all
      await replaceSymlink(link, releaseLinkTarget(version));
    }
  }

  /** Removes releases older than current except the previous one; never one the state names. */
  private async prune(): Promise<void> {
    const { current, previous } = this.s;
    if (current === null) return;
    for (const name of await readdir(join(this.o.root, 'releases'))) {
      if (!/^\d+$/.test(name)) continue;
      const v = Number(name);
      if (v < current && v !== previous) await this.trash(v);
    }
  }

  /** Renames a release directory out of `releases/<v>` first, so a half-deleted one never looks like a release. */
  private async trash(version: number): Promise<void> {
    const trashed = join(this.o.root, 'releases', `.trash-${version}-${process.pid}-${Date.now()}`);
    await rename(this.releaseDir(version), trashed);
    await fsyncDir(join(this.o.root, 'releases'));
    this.step('prune:trashed');
    await rm(trashed, { recursive: true, force: true });
  }

  private async writeState(next: ReleaseState): Promise<void> {
    await writeFileDurable(join(this.o.root, 'state.json'), `${JSON.stringify(next, null, 2)}\n`, () => this.step('state:tmp-written'));
    this.s = next;
  }

  private step(step: StoreStep): void {
    this.o.onStep?.(step);
  }
}

async function readState(file: string): Promise<ReleaseState> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { ...EMPTY };
    throw new KioskError('E_STORAGE', 'cannot read the release store state', { subject: file, cause: err });
  }
  try {
    const v = JSON.parse(text) as Partial<ReleaseState>;
    const ver = (x: unknown) => x === null || (Number.isSafeInteger(x) && (x as number) > 0);
    if (!ver(v.current) || !ver(v.previous) || !ver(v.trial) || !Number.isSafeInteger(v.floor) || !Number.isSafeInteger(v.trialStarts))
      throw new Error('fields');
    return { ...EMPTY, ...v } as ReleaseState;
  } catch (err) {
    throw new KioskError('E_STORAGE', 'the release store state is malformed', { subject: file, cause: err });
  }
}

async function exists(p: string): Promise<boolean> {
  return (await stat(p).catch(() => undefined)) !== undefined;
}

/** True when `p` exists, a dangling symlink included. */
async function lexists(p: string): Promise<boolean> {
  return (await lstat(p).catch(() => undefined)) !== undefined;
}

/** Bytes of regular files below `dir` (what an interrupted staging already holds). */
async function treeBytes(dir: string): Promise<number> {
  let n = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) n += (await stat(join(e.parentPath ?? e.path, e.name))).size;
  }
  return n;
}
