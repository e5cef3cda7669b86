/**
 * A virtual card for the real PC/SC stack: connects to the `vpcd` reader driver inside pcscd (Debian's
 * vsmartcard-vpcd) the way vsmartcard's own `vicc` does, and answers with one of our emulated cards.
 * The vpcd protocol: each message is a 2-byte big-endian length then its bytes; a 1-byte message is
 * a control (0 power off, 1 power on, 2 reset, 4 give the ATR), anything longer is a command APDU.
 *
 * Also starts a pcscd of the test's own (its own reader.conf.d with vpcd on a free port), so that a
 * test needs no system service. pcscd 1.9 always listens on /run/pcscd/pcscd.comm (it ignores
 * PCSCLITE_CSOCK_NAME): one at a time, and none may already run (`PrivatePcscd.busy()`). Test files
 * that tap runs in parallel take turns through an flock(1) on `PrivatePcscd.lockPath`, held from
 * `start()` to `stop()`; the kernel drops it when a test process dies, so a crash leaves no stale lock.
 */
import { connect, type Socket } from 'node:net';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startChild, stopChild, type Exit } from '../../base/process.js';
import type { ChildProcess } from 'node:child_process';
import type { ApduTransport } from '../../device/document/emrtd.js';

/** An ATR of a contactless ISO 14443-4 card as PC/SC reports it (3B 8x 80 01 ...). */
export const VIRTUAL_ATR = Buffer.from('3B8880010000000000000000', 'hex');

export class VpcdCard {
  private socket?: Socket;
  private pending = Buffer.alloc(0);
  /**
   * The emulated card (undefined: the reader is empty). Set it before `connect()`: vpcd asks for the
   * ATR when the virtual card connects, and a reader found empty then stays empty. Swapping one card
   * for another while connected is seen at the next command.
   */
  card?: ApduTransport;

  /** Connects to vpcd on `port` (retrying while pcscd starts the driver). */
  async connect(port: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        this.socket = await new Promise<Socket>((resolve, reject) => {
          const s = connect(port, '127.0.0.1');
          s.once('connect', () => resolve(s));
          s.once('error', reject);
        });
        break;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    this.socket.on('data', (d) => void this.onData(d));
    this.socket.on('error', () => {});
  }

  close(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }

  private async onData(d: Buffer): Promise<void> {
    this.pending = Buffer.concat([this.pending, d]);
    while (this.pending.length >= 2) {
      const len = this.pending.readUInt16BE(0);
      if (this.pending.length < 2 + len) return;
      const msg = this.pending.subarray(2, 2 + len);
      this.pending = this.pending.subarray(2 + len);
      await this.answer(msg);
    }
  }

  private async answer(msg: Buffer): Promise<void> {
    let out: Buffer | undefined;
    if (msg.length === 1) {
      if (msg[0] === 4) out = this.card ? VIRTUAL_ATR : Buffer.alloc(0);
    } else if (this.card) {
      out = await this.card.transmit(Buffer.from(msg)).catch(() => Buffer.from([0x6f, 0x00]));
    } else out = Buffer.alloc(0);
    if (out === undefined) return;
    const head = Buffer.alloc(2);
    head.writeUInt16BE(out.length);
    this.socket?.write(Buffer.concat([head, out]));
  }
}

/** A private pcscd with only the vpcd reader, listening for its virtual card on `port`. */
export class PrivatePcscd {
  private child?: ChildProcess;
  private exited?: Promise<Exit>;
  private lock?: { child: ChildProcess; exited: Promise<Exit> };

  constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  /** Where pcscd 1.9 listens (fixed; clients find it there by default). */
  static readonly socketPath = '/run/pcscd/pcscd.comm';

  /** The lock file test files take turns on (tap runs them in parallel; pcscd's socket is one). */
  static readonly lockPath = join(tmpdir(), 'kiosk-agent-test-pcscd.lock');

  /**
   * True when a pcscd that is not a test's answers on the socket (a system one): this one could not
   * start. A pcscd of another test file (it holds the lock) is not busy: `start()` waits its turn.
   * The socket is probed only under a shared hold of the lock, so never while a test's pcscd runs: a
   * client that connects and hangs up at the wrong moment (about when a test's virtual card and its
   * PC/SC client connect) was seen to leave that test's pcscd without a card (1 run in 3).
   */
  static async busy(): Promise<boolean> {
    if (!existsSync(PrivatePcscd.socketPath)) return false;
    const probe = `require('node:net').connect(${JSON.stringify(PrivatePcscd.socketPath)}).on('connect', () => process.exit(0)).on('error', () => process.exit(3))`;
    const args = ['--nonblock', '--shared', '--conflict-exit-code', '75', PrivatePcscd.lockPath, process.execPath, '-e', probe];
    // 0: a pcscd answered; 75: a test holds the lock (its pcscd); 3: nothing answers.
    return spawnSync('flock', args, { stdio: 'ignore', timeout: 10_000 }).status === 0;
  }

  /** True when a pcscd answers on the socket. */
  private static async answering(): Promise<boolean> {
    if (!existsSync(PrivatePcscd.socketPath)) return false;
    return new Promise((resolve) => {
      const s = connect(PrivatePcscd.socketPath);
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
  }

  /** Waits for the lock (another test file's pcscd to stop), then starts pcscd. */
  async start(lockTimeoutMs = 120_000): Promise<void> {
    await this.takeLock(lockTimeoutMs);
    try {
      if (await PrivatePcscd.answering()) throw new Error(`a pcscd that is not a test's runs on ${PrivatePcscd.socketPath}`);
      await this.startPcscd();
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /** flock(1) holds the lock while its `cat` reads our open pipe; ending the pipe (or our death) releases it. */
  private async takeLock(timeoutMs: number): Promise<void> {
    const secs = String(Math.ceil(timeoutMs / 1000));
    const { child, exited } = startChild('flock', ['--exclusive', '--timeout', secs, PrivatePcscd.lockPath, 'sh', '-c', 'echo locked; exec cat'], {
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    this.lock = { child, exited };
    const locked = await new Promise<boolean>((resolve) => {
      child.stdout?.once('data', () => resolve(true));
      void exited.then(() => resolve(false));
    });
    if (!locked) {
      this.lock = undefined;
      throw new Error(`another test's pcscd held ${PrivatePcscd.lockPath} for over ${secs} s`);
    }
  }

  private async startPcscd(): Promise<void> {
    const conf = join(this.dir, 'reader.conf.d');
    mkdirSync(conf, { recursive: true });
    writeFileSync(
      join(conf, 'vpcd'),
      `FRIENDLYNAME "Virtual PCD"\nDEVICENAME   /dev/null:0x${this.port.toString(16)}\nLIBPATH      /usr/lib/pcsc/drivers/serial/libifdvpcd.so\nCHANNELID    0x${this.port.toString(16)}\n`,
    );
    const log = openSync(join(this.dir, 'pcscd.log'), 'w');
    // setpriv(1) --pdeathsig: the kernel ends pcscd when the test process dies (a killed test leaves no pcscd on the socket).
    const argv = ['--pdeathsig', 'TERM', '--', '/usr/sbin/pcscd', '--foreground', '--debug', '--config', conf];
    const { child, exited } = startChild('setpriv', argv, { stdio: ['ignore', log, log] });
    this.child = child;
    this.exited = exited;
    // Clients may connect only once this pcscd listens (a socket file left by an earlier one refuses).
    const deadline = Date.now() + 10_000;
    while (!(await PrivatePcscd.answering())) {
      if (child.exitCode !== null) throw new Error(`pcscd exited with ${child.exitCode} (see ${join(this.dir, 'pcscd.log')})`);
      if (Date.now() > deadline) throw new Error('pcscd did not listen within 10 s');
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Stops pcscd, then gives the lock to the next test file. */
  async stop(): Promise<void> {
    if (this.child && this.exited) await stopChild(this.child, this.exited, 5000);
    this.child = this.exited = undefined;
    const lock = this.lock;
    this.lock = undefined;
    if (lock) {
      lock.child.stdin?.end();
      await lock.exited;
    }
  }
}

/**
 * Why a test of the real PC/SC stack cannot run here (pcscd or vpcd missing, the optional binding not
 * installed, a system pcscd on the one socket), or false when it can.
 */
export async function pcscSkipReason(): Promise<string | false> {
  const missing = ['/usr/sbin/pcscd', '/usr/lib/pcsc/drivers/serial/libifdvpcd.so'].filter((p) => !existsSync(p));
  if (missing.length > 0) return `needs ${missing.join(', ')} (Debian pcscd, vsmartcard-vpcd)`;
  try {
    await import('@pokusew/pcsclite');
  } catch {
    return 'the optional @pokusew/pcsclite is not installed';
  }
  return (await PrivatePcscd.busy()) ? `a pcscd already runs on ${PrivatePcscd.socketPath}: stop it to run this test` : false;
}
