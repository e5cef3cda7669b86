import type { Clock, TimerHandle } from '../../base/clock.js';

/** How long a level must hold before it counts, per direction, in ms. */
export interface DebounceTimes {
  /** Hold time before an inactive -> active change is reported (0: at once). */
  activeMs: number;
  /** Hold time before an active -> inactive change is reported (0: at once). */
  inactiveMs: number;
}

export interface DebouncerDeps {
  clock: Clock;
  times: DebounceTimes;
  /** The stable level before any sample. */
  initial: boolean;
  /** Called with each stable change and the time the new level was first seen. */
  onChange: (value: boolean, sinceMs: number) => void;
}

/**
 * Turns raw level samples (edges from a GPIO line) into stable changes: a new level is reported
 * only once it has held for its direction's hold time; a bounce back within that time cancels it.
 * Asymmetric times give hold times too (presence: arrive after 500 ms, leave after 3 s; tamper:
 * open at once, closed after 500 ms). One timer at most; `stop()` clears it.
 */
export class Debouncer {
  private stable: boolean;
  private candidate: boolean;
  private candidateSince = 0;
  private timer?: TimerHandle;

  constructor(private readonly deps: DebouncerDeps) {
    this.stable = deps.initial;
    this.candidate = deps.initial;
  }

  /** The last stable level. */
  get value(): boolean {
    return this.stable;
  }

  /** Feeds one raw sample (repeats of the same level are harmless). */
  sample(level: boolean): void {
    if (level === this.candidate) return;
    this.candidate = level;
    this.candidateSince = this.deps.clock.now();
    this.deps.clock.clearTimeout(this.timer);
    this.timer = undefined;
    if (level === this.stable) return; // bounced back before it counted
    const hold = level ? this.deps.times.activeMs : this.deps.times.inactiveMs;
    if (hold <= 0) {
      this.commit();
      return;
    }
    this.timer = this.deps.clock.setTimeout(() => this.commit(), hold);
  }

  /** Forgets any pending change and its timer. */
  stop(): void {
    this.deps.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.candidate = this.stable;
  }

  private commit(): void {
    this.timer = undefined;
    this.stable = this.candidate;
    this.deps.onChange(this.stable, this.candidateSince);
  }
}
