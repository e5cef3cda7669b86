/**
 * A virtual card for the real PC/SC stack: connects to the `vpcd` reader driver inside pcscd (Debian's
 * vsmartcard-vpcd) the way vsmartcard's own `vicc` does, and answers with one of our emulated cards.
 * The vpcd protocol: each message is a 2-byte big-endian length then its bytes; a 1-byte message is
 * a control (0 power off, 1 power on, 2 reset, 4 give the ATR), anything longer is a command APDU.
 *
 * Also starts a pcscd of the test's own (its own reader.conf.d with vpcd on a free port), so that a
 * test needs no system service. pcscd 1.9 always listens on /run/pcscd/pcscd.comm: one at a time,
 * and none may already run (`PrivatePcscd.busy()`).
 */
import { connect, type Socket } from 'node:net';
import { existsSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startChild, stopChild, type Exit } from '../../base/process.js';
import type { ChildProcess } from 'node:child_process';
import type { ApduTransport } from '../../device/document/emrtd.js';

/** An ATR of a contactless ISO 14443-4 card as PC/SC reports it (3B 8x 80 01 ...). */
export const VIRTUAL_ATR = Buffer.from('3B8880010000000000000000', 'hex');

export class VpcdCard {
  private socket?: Socket;
  private pending = Buffer.alloc(0);
  /** The emulated card inserted (undefined: the reader is empty). */
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

  constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  /** Where pcscd 1.9 listens (fixed; clients find it there by default). */
  static readonly socketPath = '/run/pcscd/pcscd.comm';

  /** True when a pcscd already answers on the socket (a system one): this one could not start. */
  static async busy(): Promise<boolean> {
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

  async start(): Promise<void> {
    const conf = join(this.dir, 'reader.conf.d');
    mkdirSync(conf, { recursive: true });
    writeFileSync(
      join(conf, 'vpcd'),
      `FRIENDLYNAME "Virtual PCD"\nDEVICENAME   /dev/null:0x${this.port.toString(16)}\nLIBPATH      /usr/lib/pcsc/drivers/serial/libifdvpcd.so\nCHANNELID    0x${this.port.toString(16)}\n`,
    );
    const log = openSync(join(this.dir, 'pcscd.log'), 'w');
    const { child, exited } = startChild('/usr/sbin/pcscd', ['--foreground', '--debug', '--config', conf], { stdio: ['ignore', log, log] });
    this.child = child;
    this.exited = exited;
    // Clients may connect only once this pcscd listens (a socket file left by an earlier one refuses).
    const deadline = Date.now() + 10_000;
    while (!(await PrivatePcscd.busy())) {
      if (child.exitCode !== null) throw new Error(`pcscd exited with ${child.exitCode} (see ${join(this.dir, 'pcscd.log')})`);
      if (Date.now() > deadline) throw new Error('pcscd did not listen within 10 s');
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(): Promise<void> {
    if (this.child && this.exited) await stopChild(this.child, this.exited, 5000);
    this.child = this.exited = undefined;
  }
}
