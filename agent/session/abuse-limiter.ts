/**
 * The abuse limit as a small stateful object around the pure functions of `abuse.ts`, for the
 * runner: one per device (in memory; a restart forgets it, which an attacker cannot trigger from
 * the customer side of a kiosk).
 */
import {
  checkAttempt,
  countsAsFailure,
  createAbuseState,
  prune,
  recordFailure,
  recordSuccess,
  type AbuseConfig,
  type AbuseState,
  type AttemptCheck,
} from './abuse.js';
import type { SessionResult } from './types.js';

export class AbuseLimiter {
  private state: AbuseState;

  constructor(
    config: Partial<AbuseConfig> = {},
    private readonly now: () => number = Date.now,
  ) {
    this.state = createAbuseState(config);
  }

  /** Whether a session against `templateId` may run now. */
  check(templateId: string): AttemptCheck {
    this.state = prune(this.state, this.now());
    return checkAttempt(this.state, templateId, this.now());
  }

  /** Counts the result: a failure (see `countsAsFailure`) or, for an accept, a fresh start. */
  record(templateId: string, result: Pick<SessionResult, 'verdict' | 'cancelReason'>): void {
    if (countsAsFailure(result)) this.state = recordFailure(this.state, templateId, this.now());
    else if (result.verdict === 'accept') this.state = recordSuccess(this.state, templateId, this.now());
  }
}
