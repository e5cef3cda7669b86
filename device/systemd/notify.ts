/**
 * sd_notify for a Node service. Node has no unix datagram sockets and no notify package is installed,
 * so each message is sent by the `systemd-notify` tool (package systemd). Because the sender is then
 * that child, not our PID, the unit needs `NotifyAccess=all` (see systemd/kiosk-agent.service).
 */
import { KioskError } from '../../base/errors.js';
import { startChild, TailBuffer, type MediaTools } from '../../base/process.js';

export interface NotifierDeps {
  /** Environment with NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** Our PID, sent with `--pid` so systemd knows the main process (default `process.pid`). */
  pid?: number;
  /** `systemd-notify` executable (default from PATH). */
  systemdNotifyPath?: string;
  spawn?: MediaTools['spawn'];
  /** A send that takes longer than this is killed and fails, ms (default 5000). */
  timeoutMs?: number;
}

/** Sends READY, WATCHDOG, STATUS and STOPPING to the service manager; a no-op outside systemd. */
export class SystemdNotifier {
  private chain: Promise<unknown> = Promise.resolve();
  private watchdogQueued = false;

  constructor(private readonly deps: NotifierDeps = {}) {}

  /** True when started by systemd with a notify socket (Type=notify). */
  get enabled(): boolean {
    return Boolean(this.env.NOTIFY_SOCKET);
  }

  /**
   * The interval at which to send WATCHDOG=1: half of WatchdogSec (as systemd recommends), or
   * undefined when no watchdog is set for this process.
   */
  watchdogIntervalMs(): number | undefined {
    const usec = Number(this.env.WATCHDOG_USEC);
    const pid = this.env.WATCHDOG_PID;
    if (!Number.isFinite(usec) || usec <= 0) return undefined;
    if (pid && Number(pid) !== (this.deps.pid ?? process.pid)) return undefined;
    return Math.floor(usec / 2000);
  }

  /** Start-up finished; `status` is shown by `systemctl status`. */
  ready(status?: string): Promise<boolean> {
    return this.send({ READY: '1', ...(status ? { STATUS: status } : {}) });
  }

  /** Keep-alive: call only while the service is healthy. Pings queued behind another send are coalesced. */
  watchdog(): Promise<boolean> {
    if (this.watchdogQueued) return Promise.resolve(true);
    this.watchdogQueued = true;
    return this.send({ WATCHDOG: '1' }, () => (this.watchdogQueued = false));
  }

  /** One status line for `systemctl status`. */
  status(text: string): Promise<boolean> {
    return this.send({ STATUS: text });
  }

  /** The service is shutting down. */
  stopping(status?: string): Promise<boolean> {
    return this.send({ STOPPING: '1', ...(status ? { STATUS: status } : {}) });
  }

  /**
   * Sends `fields` in one message, in order with earlier sends. Resolves false when not under
   * systemd; rejects with E_DEVICE when systemd-notify is missing or fails.
   */
  send(fields: Record<string, string>, onSending?: () => void): Promise<boolean> {
    const run = async (): Promise<boolean> => {
      onSending?.();
      if (!this.enabled) return false;
      const args = [`--pid=${this.deps.pid ?? process.pid}`, ...Object.entries(fields).map(([k, v]) => `${k}=${sanitize(v)}`)];
      const file = this.deps.systemdNotifyPath ?? 'systemd-notify';
      const { child, exited } = startChild(file, args, { stdio: ['ignore', 'ignore', 'pipe'], env: this.env }, this.deps.spawn);
      const stderr = new TailBuffer();
      child.stderr?.on('data', (c: Buffer) => stderr.push(c));
      const timer = setTimeout(() => child.kill('SIGKILL'), this.deps.timeoutMs ?? 5000);
      const exit = await exited;
      clearTimeout(timer);
      if (exit.spawnError) throw new KioskError('E_DEVICE', `${file} not found: install the Debian package systemd`, { subject: file, cause: exit.spawnError });
      if (exit.code !== 0)
        throw new KioskError('E_DEVICE', `${file} failed: ${stderr.summary() || `exit ${exit.code ?? exit.signal}`}`, { subject: this.env.NOTIFY_SOCKET });
      return true;
    };
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  private get env(): NodeJS.ProcessEnv {
    return this.deps.env ?? process.env;
  }
}

/** A notify message is newline-separated KEY=VALUE: a value must stay on one line. */
function sanitize(v: string): string {
  return v.replace(/[\r\n]+/g, ' ').slice(0, 1024);
}
