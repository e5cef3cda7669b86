/**
 * Starting and stopping the daemon's components: in order at start (a failure stops what had
 * started, in reverse, and rethrows), in reverse order at stop, each within a time limit and
 * whatever the others do; what failed or hung is logged and returned.
 */
import { systemClock, within, type Clock } from '../../base/clock.js';
import { toKioskError } from '../../base/errors.js';
import type { Logger } from '../../base/log.js';

/** One part of the daemon with I/O to start and undo. */
export interface Component {
  /** For logs: what failed or hung at shutdown. */
  readonly name: string;
  start(): Promise<void> | void;
  stop(): Promise<void> | void;
}

/** How a component's stop went. */
export interface StopOutcome {
  name: string;
  outcome: 'stopped' | 'failed' | 'timed_out';
  error?: string;
}

export interface LifecycleOptions {
  logger: Logger;
  /** Longest wait for one component's stop, ms. */
  stopTimeoutMs: number;
  clock?: Clock;
}

/** Runs components' start and stop in order. */
export class Lifecycle {
  private started: Component[] = [];

  constructor(
    private readonly components: readonly Component[],
    private readonly options: LifecycleOptions,
  ) {}

  async start(): Promise<void> {
    for (const c of this.components) {
      try {
        await c.start();
      } catch (err) {
        this.options.logger.error({ component: c.name, err: toKioskError(err).toJSON() }, 'component failed to start; stopping the others');
        await this.stop();
        throw err;
      }
      this.started.push(c);
    }
  }

  /** Stops what started, last first; never throws. */
  async stop(): Promise<StopOutcome[]> {
    const { logger, stopTimeoutMs } = this.options;
    const clock = this.options.clock ?? systemClock;
    const outcomes: StopOutcome[] = [];
    for (const c of this.started.splice(0).reverse()) {
      const run = Promise.resolve()
        .then(() => c.stop())
        .then(
          (): StopOutcome => ({ name: c.name, outcome: 'stopped' }),
          (err): StopOutcome => ({ name: c.name, outcome: 'failed', error: toKioskError(err).message }),
        );
      const o = await within(clock, stopTimeoutMs, run, { name: c.name, outcome: 'timed_out' } satisfies StopOutcome);
      if (o.outcome === 'failed') logger.warn({ component: c.name, error: o.error }, 'component failed to stop; stopping the others');
      if (o.outcome === 'timed_out') logger.warn({ component: c.name, timeoutMs: stopTimeoutMs }, 'component did not stop in time; stopping the others');
      outcomes.push(o);
    }
    return outcomes;
  }
}
