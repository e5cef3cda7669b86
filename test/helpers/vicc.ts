/**
 * Debian's vicc (python3-virtualsmartcard 0.8) as the card on a test's vpcd reader: its ICAO ePass
 * emulation (BAC, 3DES secure messaging), an implementation of the chip side that is not ours, run by
 * the test-only launcher vicc-epass.py with the files the test made (DG1, DG2, an EF.SOD signed by a
 * test CSCA/DS) and the Python 3 fixes Debian's copy needs. vicc's ePass derives its BAC keys from the
 * MRZ in DG1 (bytes 5.. of `61 5B 5F1F 58 <88 MRZ characters>`: a TD3 passport MRZ), so DG1 decides
 * which MRZ opens the card. It has no active or chip authentication and no PACE.
 *
 * The launcher runs in its own process group: `stop()` ends the whole group, and the launcher asks the
 * kernel to end it when the test process dies (PR_SET_PDEATHSIG), so no vicc outlives its test.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startChild, TailBuffer, type Exit } from '../../base/process.js';
import { encodeTlv } from '../../device/document/tlv.js';

/** Where Debian's python3-virtualsmartcard puts the package (outside Python 3's path). */
export const VICC_PACKAGE = '/usr/lib/python3/site-packages/virtualsmartcard/virtualsmartcard';
/** Debian's Python (its dist-packages hold Cryptodome); not a `python3` from PATH, which may be another. */
export const DEBIAN_PYTHON = '/usr/bin/python3';
const LAUNCHER = fileURLToPath(new URL('./vicc-epass.py', import.meta.url));

/** Why vicc's ePass cannot run here (a Debian package missing), or undefined when it can. */
export function viccMissing(): string | undefined {
  if (!existsSync(join(VICC_PACKAGE, 'cards', 'ePass.py'))) return `needs ${VICC_PACKAGE} (Debian python3-virtualsmartcard)`;
  if (!existsSync(DEBIAN_PYTHON)) return `needs ${DEBIAN_PYTHON} (Debian python3)`;
  const r = spawnSync(DEBIAN_PYTHON, ['-c', 'import Cryptodome.Cipher.DES3'], { stdio: 'ignore', timeout: 10_000 });
  if (r.status !== 0) return 'needs Cryptodome for vicc (Debian python3-pycryptodome)';
  return undefined;
}

/** The LDS1 files the emulated passport serves (EF.COM is made from the data groups when not given). */
export interface EpassFiles {
  dg1: Buffer;
  dg2: Buffer;
  sod?: Buffer;
  com?: Buffer;
}

/** EF.COM: 60 { 5F01 LDS version, 5F36 Unicode version, 5C the data groups' tags }. */
export function comOf(groups: { dg2: boolean }): Buffer {
  const tags = Buffer.from(groups.dg2 ? [0x61, 0x75] : [0x61]);
  return encodeTlv(
    [0x60],
    Buffer.concat([encodeTlv([0x5f, 0x01], Buffer.from('0107')), encodeTlv([0x5f, 0x36], Buffer.from('040000')), encodeTlv([0x5c], tags)]),
  );
}

export interface ViccEpassOptions {
  /** Folder for the card's files and vicc's log (the test's own temp folder). */
  dir: string;
  /** vpcd's port in the test's pcscd (`PrivatePcscd.port`). */
  port: number;
  files: EpassFiles;
  /** Log every APDU, plain and protected, into `log` (vicc's DEBUG level). */
  verbose?: boolean;
}

/** vicc's ePass connected to vpcd: `start()` inserts the card, `stop()` takes it out and ends vicc. */
export class ViccEpass {
  private child?: ChildProcess;
  private exited?: Promise<Exit>;
  private readonly stderr = new TailBuffer(64 * 1024);

  constructor(private readonly o: ViccEpassOptions) {}

  /** vicc's stderr so far (its log; with `verbose`, every APDU). */
  get log(): string {
    return this.stderr.value;
  }

  /** Writes the files, starts vicc and waits until it is connected to vpcd (the card is then in the reader). */
  async start(timeoutMs = 15_000): Promise<void> {
    const dir = join(this.o.dir, 'vicc-card');
    mkdirSync(dir, { recursive: true });
    const { dg1, dg2, sod } = this.o.files;
    writeFileSync(join(dir, 'dg1.bin'), dg1);
    writeFileSync(join(dir, 'dg2.bin'), dg2);
    writeFileSync(join(dir, 'com.bin'), this.o.files.com ?? comOf({ dg2: true }));
    if (sod) writeFileSync(join(dir, 'sod.bin'), sod);
    // -B: no bytecode caches written next to Debian's files or ours.
    const args = ['-B', LAUNCHER, '--port', String(this.o.port), '--dir', dir, '--connect-timeout', String(timeoutMs / 1000)];
    if (this.o.verbose) args.push('--verbose');
    // detached: a process group of its own, so that stop() can end the launcher and anything it started.
    const { child, exited } = startChild(DEBIAN_PYTHON, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.child = child;
    this.exited = exited;
    child.stderr?.on('data', (c: Buffer) => this.stderr.push(c));
    let out = '';
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`vicc did not connect to vpcd within ${timeoutMs} ms: ${this.stderr.summary(3)}`)), timeoutMs + 2000);
      child.stdout?.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.includes('ready\n')) {
          clearTimeout(timer);
          resolve();
        }
      });
      void exited.then((e) => {
        clearTimeout(timer);
        reject(new Error(`vicc exited (${e.code ?? e.signal}) before connecting to vpcd: ${this.stderr.summary(3)}`));
      });
    });
    try {
      await ready;
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /** Ends vicc's process group (SIGTERM, SIGKILL after `graceMs`) and waits for the launcher to exit. Safe to call twice. */
  async stop(graceMs = 3000): Promise<void> {
    const { child, exited } = this;
    this.child = this.exited = undefined;
    if (!child || !exited || child.pid === undefined) return;
    const group = (signal: NodeJS.Signals) => {
      try {
        process.kill(-(child.pid as number), signal);
      } catch {
        // ESRCH: the group is gone already.
      }
    };
    group('SIGTERM');
    const timer = setTimeout(() => group('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
    // The launcher starts no children of its own, but the group is ended whole in case one ever does.
    group('SIGKILL');
  }
}
