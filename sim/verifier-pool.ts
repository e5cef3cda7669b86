/**
 * The fleet simulation's verifier hosts: one child process per slot (sim/verifier-main.ts), each with
 * its own certificate and client id, all on the shared subscription. A slot can be SIGKILLed and
 * started again under the same identity (its persistent session on the broker keeps what was not
 * acknowledged), and a token can be handed straight to one host (the replay hook).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SimOutcome, SimVerifierCommand, SimVerifierConfig, SimVerifierMessage } from './verifier-main.js';

const here = dirname(fileURLToPath(import.meta.url));

/** Options of {@link VerifierPool}. */
export interface VerifierPoolOptions {
  /** One configuration per host; written next to each other in `dir`. */
  configs: SimVerifierConfig[];
  dir: string;
  /** Every outcome of the MQTT consumer of host `slot`. */
  onOutcome: (slot: number, o: SimOutcome) => void;
  /** How long a host may take to start, connect and subscribe (default 60000 ms; tsx and a loaded machine are slow). */
  readyMs?: number;
}

interface Slot {
  child: ChildProcess;
  cfgPath: string;
  /** CPU seconds of this slot's earlier processes (before a SIGKILL). */
  cpuBefore: number;
}

/** Verifier processes by slot; `stop()` or `kill()` every one before the working folder goes. */
export class VerifierPool {
  private readonly slots: Slot[] = [];
  private readonly pending = new Map<number, { resolve: (o: SimOutcome) => void; child: ChildProcess }>();
  private nextId = 0;

  constructor(private readonly o: VerifierPoolOptions) {}

  get size(): number {
    return this.o.configs.length;
  }

  /** Forks every host and waits until each is subscribed. */
  async start(): Promise<void> {
    await Promise.all(
      this.o.configs.map(async (cfg, i) => {
        const cfgPath = join(this.o.dir, `verifier-${i + 1}.json`);
        writeFileSync(cfgPath, JSON.stringify(cfg));
        const child = this.fork(i, cfgPath);
        this.slots[i] = { child, cfgPath, cpuBefore: 0 };
        await waitMessage(child, 'ready', this.o.readyMs ?? 60_000);
      }),
    );
  }

  /** Whether host `slot` is running (not killed, not exited). */
  isUp(slot: number): boolean {
    const c = this.slots[slot]?.child;
    return c !== undefined && c.exitCode === null && c.signalCode === null && c.connected;
  }

  /** Starts the CPU measurement of every host. */
  mark(): void {
    for (const s of this.slots) this.command(s.child, { type: 'mark' });
  }

  /** SIGKILLs host `slot` (its CPU time so far is kept, when it answers in time) and waits for it to die. */
  async kill(slot: number): Promise<void> {
    const s = this.slots[slot];
    s.cpuBefore += await this.cpuOf(s.child).catch(() => 0);
    const exited = once(s.child, 'exit');
    s.child.kill('SIGKILL');
    await exited;
  }

  /**
   * Starts host `slot` again with the same certificate and client id; resolves true once it is
   * subscribed, false when it was not within `readyMs` (it keeps trying: the run goes on without it).
   */
  async restart(slot: number): Promise<boolean> {
    const s = this.slots[slot];
    s.child = this.fork(slot, s.cfgPath);
    return waitMessage(s.child, 'ready', this.o.readyMs ?? 60_000).then(
      () => true,
      () => false,
    );
  }

  /** Hands `token` straight to host `slot`'s verifier; resolves with its outcome (`no_answer` if the host dies first). */
  replay(slot: number, token: string): Promise<SimOutcome> {
    const child = this.slots[slot].child;
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, { resolve, child });
      this.command(child, { type: 'replay', id, token });
    });
  }

  /** CPU seconds per slot since `mark()`, a killed process's included. */
  async cpu(): Promise<number[]> {
    return Promise.all(this.slots.map(async (s, i) => s.cpuBefore + (this.isUp(i) ? await this.cpuOf(s.child) : 0)));
  }

  /** Stops every host gracefully (drains, closes its stores). */
  async stop(): Promise<void> {
    await Promise.all(
      this.slots.map(async (s, i) => {
        if (!this.isUp(i)) return;
        const exited = once(s.child, 'exit');
        this.command(s.child, { type: 'stop' });
        await exited;
      }),
    );
  }

  /** SIGKILLs whatever still runs (error paths) and waits for the processes to exit. */
  async killAll(): Promise<void> {
    await Promise.all(
      this.slots
        .filter((s) => s.child.exitCode === null && s.child.signalCode === null)
        .map(async (s) => {
          const exited = once(s.child, 'exit');
          s.child.kill('SIGKILL');
          await exited;
        }),
    );
  }

  private fork(slot: number, cfgPath: string): ChildProcess {
    const child = forkEntry('verifier-main', [cfgPath]);
    child.on('message', (m: SimVerifierMessage) => {
      if (m.type === 'outcome') {
        const { type: _, ...o } = m;
        this.o.onOutcome(slot, o);
      } else if (m.type === 'replayed') {
        const { type: _, id, ...o } = m;
        this.pending.get(id)?.resolve(o);
        this.pending.delete(id);
      }
    });
    child.once('exit', () => {
      for (const [id, p] of this.pending) {
        if (p.child !== child) continue;
        p.resolve({ status: 'rejected', reason: 'no_answer', detail: 'the host died before answering' });
        this.pending.delete(id);
      }
    });
    return child;
  }

  private async cpuOf(child: ChildProcess): Promise<number> {
    this.command(child, { type: 'cpu' });
    const m = (await waitMessage(child, 'cpu', 5000)) as Extract<SimVerifierMessage, { type: 'cpu' }>;
    return (m.userUs + m.systemUs) / 1e6;
  }

  private command(child: ChildProcess, m: SimVerifierCommand): void {
    if (child.connected) child.send(m);
  }
}

/** Forks a sibling entry module; under tsx (a .ts file) the child gets the same loader. */
function forkEntry(name: string, args: string[]): ChildProcess {
  const ts = fileURLToPath(import.meta.url).endsWith('.ts');
  return fork(join(here, `${name}.${ts ? 'ts' : 'js'}`), args, {
    execArgv: ts ? ['--import', 'tsx'] : [],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

async function waitMessage(child: ChildProcess, type: string, ms: number): Promise<SimVerifierMessage> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`verifier process sent no ${type} within ${ms} ms`));
    }, ms);
    const onMessage = (m: SimVerifierMessage) => {
      if (m.type === type) {
        cleanup();
        resolve(m);
      }
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`verifier process exited (${code}) before ${type}`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}
