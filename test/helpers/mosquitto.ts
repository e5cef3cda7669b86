import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { dynsecConfig, type PolicyInput } from '../../provisioning/broker/policy.js';
import { mosquittoConf } from '../../provisioning/broker/mosquitto-conf.js';
import type { TestPki } from './pki.js';

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

async function waitForPort(port: number, child: ChildProcess, log: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`mosquitto exited with ${child.exitCode}: ${existsSync(log) ? readFileSync(log, 'utf8') : ''}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`mosquitto did not listen on ${port} within ${timeoutMs} ms`);
}

/** A mosquitto started by a test: TLS with client certificates, dynamic security, persistence. */
export class TestBroker {
  private child?: ChildProcess;
  readonly port: number;
  readonly confPath: string;
  readonly logPath: string;

  private constructor(readonly dir: string, port: number) {
    this.port = port;
    this.confPath = join(dir, 'mosquitto.conf');
    this.logPath = join(dir, 'mosquitto.log');
  }

  /** Writes server certificate, policy and config into `dir`, then starts the broker. */
  static async start(pki: TestPki, dir: string, policy: PolicyInput): Promise<TestBroker> {
    mkdirSync(join(dir, 'data'), { recursive: true });
    const server = await pki.issue('localhost', 'server');
    const port = await freePort();
    const broker = new TestBroker(dir, port);
    writeFileSync(join(dir, 'dynsec.json'), JSON.stringify(dynsecConfig(policy), null, 1));
    // The broker gets its own copies: the CA directory is private (0700) to the carrier.
    const tls = { ca: join(dir, 'ca.crt'), cert: join(dir, 'server.crt'), key: join(dir, 'server.key') };
    copyFileSync(pki.caPath, tls.ca);
    copyFileSync(server.certPath, tls.cert);
    copyFileSync(server.keyPath, tls.key);
    chmodSync(dir, 0o755);
    writeFileSync(broker.confPath, mosquittoConf({
      port, caFile: tls.ca, certFile: tls.cert, keyFile: tls.key,
      dynsecFile: join(dir, 'dynsec.json'), persistenceDir: join(dir, 'data'), logFile: broker.logPath,
    }));
    if (userInfo().uid === 0) {
      // mosquitto refuses to keep root; run it as its own user, which must read the key and write its state.
      const uid = Number(execFileSync('id', ['-u', 'mosquitto']).toString());
      const gid = Number(execFileSync('id', ['-g', 'mosquitto']).toString());
      for (const p of [dir, join(dir, 'data'), join(dir, 'dynsec.json'), tls.key]) chownSync(p, uid, gid);
    }
    await broker.restart();
    return broker;
  }

  get url(): string {
    return `mqtts://127.0.0.1:${this.port}`;
  }

  /** Starts (or starts again) the broker process and waits until it listens. */
  async restart(): Promise<void> {
    await this.stop();
    const args = userInfo().uid === 0
      ? ['setpriv', ['--reuid=mosquitto', '--regid=mosquitto', '--init-groups', '--', '/usr/sbin/mosquitto', '-c', this.confPath]] as const
      : ['/usr/sbin/mosquitto', ['-c', this.confPath]] as const;
    const child = spawn(args[0], [...args[1]], { stdio: 'ignore' });
    this.child = child;
    await waitForPort(this.port, child, this.logPath);
  }

  /** Stops the broker (SIGTERM, so it saves its persistence file) and waits for it to exit. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.once('exit', () => { clearTimeout(timer); resolve(); });
      child.kill('SIGTERM');
    });
  }

  log(): string {
    return existsSync(this.logPath) ? readFileSync(this.logPath, 'utf8') : '';
  }
}

/** TLS material of an identity for mqtt.js. */
export function tlsOf(pki: TestPki, id: { keyPath: string; certPath: string }): { ca: Buffer; cert: Buffer; key: Buffer } {
  return { ca: readFileSync(pki.caPath), cert: readFileSync(id.certPath), key: readFileSync(id.keyPath) };
}
