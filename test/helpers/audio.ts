/** Audio helpers for tests: which frequency dominates, process liveness, files open for writing, a tee speaker. */
import { EventEmitter } from 'node:events';
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import type { AudioDeviceEvents, AudioPlayback, AudioStats } from '../../agent/assist/audio/audio-device.js';
import type { KioskError } from '../../base/errors.js';

/** Power of `freq` in `samples` (Goertzel), normalised by length. */
export function goertzelPower(samples: ArrayLike<number>, sampleRate: number, freq: number): number {
  const w = (2 * Math.PI * freq) / sampleRate;
  const c = 2 * Math.cos(w);
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < samples.length; i++) {
    const s0 = samples[i] + c * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return (s1 * s1 + s2 * s2 - c * s1 * s2) / (samples.length * samples.length);
}

/** The frequency with the most power between `minHz` and `maxHz` (coarse 10 Hz scan, then 1 Hz around the best). */
export function dominantFrequency(samples: ArrayLike<number>, sampleRate: number, minHz = 60, maxHz = 4000): number {
  let best = minHz;
  let bestPower = -1;
  const scan = (from: number, to: number, step: number) => {
    for (let f = from; f <= to; f += step) {
      const p = goertzelPower(samples, sampleRate, f);
      if (p > bestPower) {
        bestPower = p;
        best = f;
      }
    }
  };
  scan(minHz, maxHz, 10);
  scan(Math.max(minHz, best - 10), Math.min(maxHz, best + 10), 1);
  return best;
}

export { processAlive } from './wait.js';

/**
 * This process's live child processes as `pid command` (from /proc), to prove none is left behind;
 * tsx's esbuild service (a child of every test process, started on demand) is not counted.
 */
export function ownChildren(): string[] {
  const out: string[] = [];
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      if (Number(rest[1]) === process.pid && rest[0] !== 'Z' && comm !== 'esbuild') out.push(`${e} ${comm}`);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/**
 * Regular files that process `pid` holds open for writing (from /proc/<pid>/fd and fdinfo flags):
 * pipes, sockets, devices and anonymous inodes are not files on disk and are not listed.
 */
export function filesOpenForWriting(pid: number): string[] {
  const out: string[] = [];
  let fds: string[] = [];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return out;
  }
  for (const fd of fds) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      if (!target.startsWith('/') || target.startsWith('/dev/') || target.startsWith('/proc/')) continue;
      if (!statSync(`/proc/${pid}/fd/${fd}`).isFile()) continue;
      const flags = parseInt(/flags:\s*(\d+)/.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'))?.[1] ?? '0', 8);
      // O_WRONLY 01, O_RDWR 02 (the access mode bits)
      if ((flags & 3) !== 0) out.push(target);
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

/** A speaker that plays into several (the fake to analyse, the real one to exercise its child). */
export class TeeAudioPlayback implements AudioPlayback {
  readonly events = new EventEmitter<AudioDeviceEvents>();
  readonly sampleRate: number;
  private readonly forward = ({ error }: { error: KioskError }) => this.events.emit('failed', { error });

  constructor(private readonly outputs: AudioPlayback[]) {
    this.sampleRate = outputs[0].sampleRate;
  }

  async start(): Promise<void> {
    for (const o of this.outputs) o.events.on('failed', this.forward);
    await Promise.all(this.outputs.map((o) => o.start()));
  }

  write(samples: Int16Array): void {
    for (const o of this.outputs) o.write(samples);
  }

  async stop(): Promise<void> {
    await Promise.all(this.outputs.map((o) => o.stop()));
    for (const o of this.outputs) o.events.off('failed', this.forward);
  }

  /** The first output's figures, with the pid of the first output that has a child. */
  stats(): AudioStats {
    const pid = this.outputs.map((o) => o.stats().pid).find((p) => p !== undefined);
    return { ...this.outputs[0].stats(), ...(pid ? { pid } : {}) };
  }
}
