import type { Clock, TimerHandle } from '../../base/clock.js';

interface Timer {
  id: number;
  at: number;
  fn: () => void;
}

/**
 * A manual clock: time moves only through `advance()`, which fires due timers in time order (a timer
 * scheduled by a firing timer fires in the same advance when it falls within it).
 */
export class FakeClock implements Clock {
  private t: number;
  private seq = 0;
  private timers: Timer[] = [];

  constructor(start = 0) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  /** The same reading as `now()`: tests that compare with dates start the clock at an epoch time. */
  wallNow(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer = { id: ++this.seq, at: this.t + Math.max(0, ms), fn };
    this.timers.push(timer);
    return timer;
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    this.timers = this.timers.filter((x) => x !== handle);
  }

  /** Moves time forward by `ms`, firing every timer that falls due, in order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const due = this.timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.timers = this.timers.filter((x) => x !== due);
      this.t = due.at;
      due.fn();
    }
    this.t = end;
  }

  /** Like `advance`, letting promise continuations run between timers (for async code under test). */
  async advanceAsync(ms: number, step = 1): Promise<void> {
    for (let done = 0; done < ms; done += step) {
      this.advance(Math.min(step, ms - done));
      await flush();
    }
  }

  /** Timers still pending (a component's stop() must leave none). */
  get pending(): number {
    return this.timers.length;
  }
}

/** Lets queued promise callbacks run. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
}
