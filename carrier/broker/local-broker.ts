/**
 * A mosquitto process on loopback with the reference configuration: for tests, the fleet simulator
 * and the benchmark (never for production, where the carrier runs its own broker). Unprivileged
 * (as the `mosquitto` user when started by root), a free port, TLS with client certificates,
 * dynamic security, persistence; SIGTERM on stop so the persistence file is written.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { mosquittoConf } from './mosquitto-conf.js';
import { dynsecConfig, type PolicyInput } from './policy.js';
import { startChild, stopChild, type Exit } from '../../base/process.js';

/** A free TCP port on loopback (bound, then released). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** TLS material of the broker, PEM. */
export interface BrokerTls {
  ca: string | Uint8Array;
  cert: string | Uint8Array;
  key: string | Uint8Array;
}

/** Options of {@link LocalBroker.start}. */
export interface LocalBrokerOptions {
  /** Private working directory (config, policy, persistence, log). */
  dir: string;
  tls: BrokerTls;
  policy: PolicyInput;
  /** Per-client queue bound (default 100000): mosquitto drops silently past it, even QoS 1. */
  maxQueuedMessages?: number;
  /** Also listen for MQTT over WebSocket on loopback (plain WS, or WSS with the broker's certificate). */
  websockets?: 'ws' | 'wss';
  /** The carrier CA's CRL (PEM, `carrier crl`): certificates it lists cannot connect. Replace it with {@link LocalBroker.setCrl}. */
  crl?: string | Uint8Array;
}

/** One mosquitto child process. */
export class LocalBroker {
  private child?: ChildProcess;
  private exited?: Promise<Exit>;
  readonly confPath: string;
  readonly logPath: string;
  /** Where the CRL is (when the broker was started with one). */
  readonly crlPath: string;

  /** Port of the WebSocket listener, when asked for. */
  wsPort?: number;
  private wsTls = false;

  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {
    this.confPath = join(dir, 'mosquitto.conf');
    this.logPath = join(dir, 'mosquitto.log');
    this.crlPath = join(dir, 'crl.pem');
  }

  /** Writes TLS files, policy and config into `dir`, then starts the broker and waits until it listens. */
  static async start(o: LocalBrokerOptions): Promise<LocalBroker> {
    const { dir } = o;
    mkdirSync(join(dir, 'data'), { recursive: true });
    const broker = new LocalBroker(dir, await freePort());
    if (o.websockets) {
      broker.wsPort = await freePort();
      broker.wsTls = o.websockets === 'wss';
    }
    const files = { ca: join(dir, 'ca.crt'), cert: join(dir, 'server.crt'), key: join(dir, 'server.key'), dynsec: join(dir, 'dynsec.json') };
    if (o.crl !== undefined) writeFileSync(broker.crlPath, o.crl);
    writeFileSync(files.ca, o.tls.ca);
    writeFileSync(files.cert, o.tls.cert);
    writeFileSync(files.key, o.tls.key, { mode: 0o600 });
    writeFileSync(files.dynsec, JSON.stringify(dynsecConfig(o.policy), null, 1));
    chmodSync(dir, 0o755);
    writeFileSync(
      broker.confPath,
      mosquittoConf({
        port: broker.port,
        caFile: files.ca,
        certFile: files.cert,
        keyFile: files.key,
        ...(o.crl !== undefined ? { crlFile: broker.crlPath } : {}),
        dynsecFile: files.dynsec,
        persistenceDir: join(dir, 'data'),
        logFile: broker.logPath,
        maxQueuedMessages: o.maxQueuedMessages,
        ...(broker.wsPort ? { websockets: { port: broker.wsPort, tls: broker.wsTls } } : {}),
      }),
    );
    if (userInfo().uid === 0) {
      // mosquitto refuses to keep root; it runs as its own user, which must read the key and write its state.
      const uid = Number(execFileSync('id', ['-u', 'mosquitto']).toString());
      const gid = Number(execFileSync('id', ['-g', 'mosquitto']).toString());
      for (const p of [dir, join(dir, 'data'), files.dynsec, files.key]) chownSync(p, uid, gid);
    }
    await broker.restart();
    return broker;
  }

  get url(): string {
    return `mqtts://127.0.0.1:${this.port}`;
  }

  /** URL of the WebSocket listener (ws:// or wss://), when asked for. */
  get wsUrl(): string | undefined {
    return this.wsPort ? `${this.wsTls ? 'wss' : 'ws'}://127.0.0.1:${this.wsPort}` : undefined;
  }

  /** The broker's process id while it runs (setpriv execs mosquitto, so it is mosquitto's own). */
  get pid(): number | undefined {
    return this.child?.exitCode === null ? this.child.pid : undefined;
  }

  /** Starts (or starts again) the broker process and waits until it listens. */
  async restart(): Promise<void> {
    await this.stop();
    const [cmd, args] =
      userInfo().uid === 0
        ? ['setpriv', ['--reuid=mosquitto', '--regid=mosquitto', '--init-groups', '--', '/usr/sbin/mosquitto', '-c', this.confPath]]
        : ['/usr/sbin/mosquitto', ['-c', this.confPath]];
    const { child, exited } = startChild(cmd, args, { stdio: 'ignore' });
    this.child = child;
    this.exited = exited;
    await waitForPort(this.port, child, this.logPath);
    if (this.wsPort) await waitForPort(this.wsPort, child, this.logPath);
  }

  /**
   * Replaces the CRL (the broker must have been started with one) and makes mosquitto read it again:
   * SIGHUP (mosquitto 2.0.11 reloads its TLS settings, the CRL with them), resolved once the broker
   * logged the reload. Live connections stay up: mosquitto checks certificates at the handshake only
   * (drop one with dynamic security's deleteClient, or {@link restart}).
   */
  async setCrl(crl: string | Uint8Array, timeoutMs = 5000): Promise<void> {
    if (!existsSync(this.crlPath)) throw new Error('this broker was started without a CRL (LocalBrokerOptions.crl)');
    writeFileSync(this.crlPath, crl);
    const pid = this.pid;
    if (pid === undefined) return; // read at the next start
    const reloads = () => this.log().split('Reloading config.').length;
    const before = reloads();
    process.kill(pid, 'SIGHUP');
    const deadline = Date.now() + timeoutMs;
    while (reloads() === before) {
      if (Date.now() > deadline) throw new Error(`mosquitto did not reload its configuration within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Stops the broker (SIGTERM, then SIGKILL after 5 s) and waits for it to exit. */
  async stop(): Promise<void> {
    const { child, exited } = this;
    this.child = this.exited = undefined;
    if (child && exited) await stopChild(child, exited, 5000);
  }

  /** The broker's log so far. */
  log(): string {
    return existsSync(this.logPath) ? readFileSync(this.logPath, 'utf8') : '';
  }
}

/** CPU seconds (user + system) a process has used, from /proc; undefined when it is gone. */
export function processCpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15 (1-based).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return ticks / clockTicksPerSecond();
  } catch {
    return undefined;
  }
}

let ticksPerSecond: number | undefined;
function clockTicksPerSecond(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

async function waitForPort(port: number, child: ChildProcess, log: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`mosquitto exited with ${child.exitCode}: ${existsSync(log) ? readFileSync(log, 'utf8') : ''}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`mosquitto did not listen on ${port} within ${timeoutMs} ms`);
}
