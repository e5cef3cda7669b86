/**
 * The part of systemd's service manager that fleet updates rely on, for tests on a machine where
 * systemd is not PID 1 (this one): Type=notify (READY=1 within TimeoutStartSec through a real unix
 * datagram notify socket, bound by a small Python receiver since Node cannot bind one), WatchdogSec
 * (WATCHDOG=1 pings, else SIGABRT as systemd sends), ExecStartPre before every start,
 * Restart=on-failure with RestartSec, RestartForceExitStatus, and StartLimitBurst. The values are
 * read from our real unit file (systemd/kiosk-agent.service), scaled for tests where a test says so.
 *
 * `powerLoss()` kills the whole process tree with SIGKILL (no stop, no flush) and starts again, as a
 * reboot would: what survives is what was on disk.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/** A unix datagram receiver for sd_notify messages (Node cannot bind one): prints each datagram as a JSON line. Run `python3 -c NOTIFY_RECEIVER <socket>`. */
export const NOTIFY_RECEIVER = `
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
while True:
    data = s.recv(65536)
    print(json.dumps(data.decode()), flush=True)
`;

/** The unit's settings the manager follows (ms). */
export interface UnitSettings {
  timeoutStartMs: number;
  watchdogMs: number;
  restartMs: number;
  startLimitBurst: number;
  startLimitIntervalMs: number;
  restartForceExitStatus: number[];
}

/** Reads the settings of `systemd/kiosk-agent.service` (seconds as written there). */
export function unitSettings(path = 'systemd/kiosk-agent.service'): UnitSettings {
  const unit = readFileSync(path, 'utf8');
  const get = (key: string) => new RegExp(`^${key}=(.*)$`, 'm').exec(unit)?.[1]?.trim();
  const sec = (key: string) => Number((get(key) ?? '0').replace(/s$/, '')) * 1000;
  return {
    timeoutStartMs: sec('TimeoutStartSec'),
    watchdogMs: sec('WatchdogSec'),
    restartMs: sec('RestartSec'),
    startLimitBurst: Number(get('StartLimitBurst') ?? 5),
    startLimitIntervalMs: sec('StartLimitIntervalSec'),
    restartForceExitStatus: (get('RestartForceExitStatus') ?? '').split(/\s+/).filter(Boolean).map(Number),
  };
}

/** One start of the service and how it ended. */
export interface StartRecord {
  n: number;
  pre?: { code: number | null; stdout: string };
  pid?: number;
  ready: boolean;
  exit?: { code: number | null; signal: NodeJS.Signals | null; why: 'exited' | 'start-timeout' | 'watchdog' | 'power-loss' | 'stopped' };
}

export interface ManagerOptions {
  dir: string;
  execStartPre?: string[];
  execStart: string[];
  env: NodeJS.ProcessEnv;
  settings: UnitSettings;
}

/** Runs one service like systemd would; see the file comment. */
export class ServiceManager extends EventEmitter<{ ready: [StartRecord]; exit: [StartRecord]; gaveUp: []; notify: [string] }> {
  readonly starts: StartRecord[] = [];
  private receiver?: ChildProcess;
  private main?: ChildProcess;
  private stopped = false;
  private readyTimer?: NodeJS.Timeout;
  private watchdogTimer?: NodeJS.Timeout;
  private readonly socket: string;

  constructor(private readonly o: ManagerOptions) {
    super();
    this.socket = join(o.dir, 'notify.sock');
  }

  /** Binds the notify socket and starts the service. */
  async start(): Promise<void> {
    const rx = spawn('python3', ['-c', NOTIFY_RECEIVER, this.socket], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.receiver = rx;
    createInterface({ input: rx.stdout! }).on('line', (l) => this.onNotify(JSON.parse(l) as string));
    for (let i = 0; i < 750 && !existsSync(this.socket); i++) await new Promise((r) => setTimeout(r, 20));
    if (!existsSync(this.socket)) throw new Error('the notify receiver did not bind its socket');
    void this.loop();
  }

  /** The start now running (or last run). */
  get current(): StartRecord | undefined {
    return this.starts.at(-1);
  }

  /** Kills the whole tree of the running service with SIGKILL, as a power cut would; the manager starts it again. */
  powerLoss(): void {
    const rec = this.current;
    if (this.main?.pid && rec && !rec.exit) {
      rec.exit = { code: null, signal: 'SIGKILL', why: 'power-loss' };
      try {
        process.kill(-this.main.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  /** Stops the service (SIGTERM, then SIGKILL after 20 s) and the receiver. */
  async stop(): Promise<void> {
    this.stopped = true;
    const m = this.main;
    if (m?.pid && m.exitCode === null && m.signalCode === null) {
      const gone = new Promise((r) => m.once('exit', r));
      try {
        process.kill(-m.pid, 'SIGTERM');
      } catch {
        // gone
      }
      const kill = setTimeout(() => {
        try {
          process.kill(-m.pid!, 'SIGKILL');
        } catch {
          // gone
        }
      }, 20_000);
      await gone;
      clearTimeout(kill);
    }
    this.receiver?.kill();
  }

  private async loop(): Promise<void> {
    const { settings } = this.o;
    const recent: number[] = [];
    while (!this.stopped) {
      const now = Date.now();
      recent.push(now);
      while (recent.length > 0 && recent[0]! < now - settings.startLimitIntervalMs) recent.shift();
      if (recent.length > settings.startLimitBurst) {
        this.emit('gaveUp');
        return;
      }
      const rec: StartRecord = { n: this.starts.length + 1, ready: false };
      this.starts.push(rec);
      const ok = await this.runOnce(rec);
      this.emit('exit', rec);
      if (this.stopped) return;
      const code = rec.exit?.code ?? null;
      const restart = !ok || rec.exit?.why !== 'exited' || code !== 0 || settings.restartForceExitStatus.includes(code ?? -1);
      if (!restart) return;
      await new Promise((r) => setTimeout(r, settings.restartMs));
    }
  }

  /** One start: ExecStartPre, then ExecStart until it ends. False when ExecStartPre failed. */
  private async runOnce(rec: StartRecord): Promise<boolean> {
    const env = { ...this.o.env, NOTIFY_SOCKET: this.socket, WATCHDOG_USEC: String(this.o.settings.watchdogMs * 1000) };
    const log = openSync(join(this.o.dir, `start-${rec.n}.log`), 'w');
    if (this.o.execStartPre) {
      const [cmd, ...args] = this.o.execStartPre;
      const pre = spawn(cmd!, args, { env, stdio: ['ignore', 'pipe', log] });
      let stdout = '';
      pre.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
      const code = await new Promise<number | null>((r) => pre.once('exit', (c) => r(c)));
      rec.pre = { code, stdout };
      if (code !== 0) {
        rec.exit = { code, signal: null, why: 'exited' };
        return false;
      }
    }
    const [cmd, ...args] = this.o.execStart;
    const main = spawn(cmd!, args, { env, stdio: ['ignore', log, log], detached: true });
    this.main = main;
    rec.pid = main.pid;
    this.readyTimer = setTimeout(() => this.kill(rec, 'start-timeout', 'SIGKILL'), this.o.settings.timeoutStartMs);
    await new Promise<void>((resolve) =>
      main.once('exit', (code, signal) => {
        clearTimeout(this.readyTimer);
        clearTimeout(this.watchdogTimer);
        rec.exit ??= { code, signal, why: this.stopped ? 'stopped' : 'exited' };
        // Whatever the main process left behind goes with it (KillMode=control-group).
        try {
          process.kill(-main.pid!, 'SIGKILL');
        } catch {
          // nothing left
        }
        resolve();
      }),
    );
    return true;
  }

  private onNotify(message: string): void {
    this.emit('notify', message);
    const rec = this.current;
    if (!rec || rec.exit) return;
    const fields = new Map(
      message
        .split('\n')
        .filter((kv) => kv.includes('='))
        .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)] as const),
    );
    if (fields.get('READY') === '1' && !rec.ready) {
      rec.ready = true;
      clearTimeout(this.readyTimer);
      this.armWatchdog(rec);
      this.emit('ready', rec);
    }
    if (fields.get('WATCHDOG') === '1' && rec.ready) this.armWatchdog(rec);
  }

  private armWatchdog(rec: StartRecord): void {
    clearTimeout(this.watchdogTimer);
    this.watchdogTimer = setTimeout(() => this.kill(rec, 'watchdog', 'SIGABRT'), this.o.settings.watchdogMs);
  }

  private kill(rec: StartRecord, why: 'start-timeout' | 'watchdog', signal: NodeJS.Signals): void {
    if (rec.exit || !this.main?.pid) return;
    rec.exit = { code: null, signal, why };
    try {
      process.kill(-this.main.pid, signal);
    } catch {
      // gone
    }
  }
}
