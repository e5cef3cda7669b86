/**
 * Which result may still dispense: the last finished session's accepted result (or an operator's
 * approval after a call), while the customer who did it is present and nothing newer has started.
 * A new session, a call, the customer leaving, tamper or out of service void it, and the binding is
 * kept in the ledger, so a void survives a restart. An `authorize_dispense` for anything else (a
 * late authorisation for the customer before, a result of another session) is refused `not_current`.
 */
import type { EventEmitter } from 'node:events';
import type { Logger } from '../../base/log.js';
import type { DaemonEvents } from './events.js';
import type { Ledger } from './ledger.js';

const KEY = 'dispensable';

/** The result that may dispense and the ids its session is known by. */
interface Bound {
  jti: string;
  sessions: string[];
}

export interface DispenseBindingDeps {
  bus: EventEmitter<DaemonEvents>;
  ledger: Pick<Ledger, 'getState' | 'setState'>;
  /** Is a customer in front of the kiosk now (presence sensor, after its hold times)? */
  present: () => boolean;
  logger: Logger;
}

export class DispenseBinding {
  private readonly off: (() => void)[] = [];

  constructor(private readonly deps: DispenseBindingDeps) {}

  /** Follows the daemon's events (registered once, when the daemon is composed). */
  listen(): void {
    const on = <K extends keyof DaemonEvents>(name: K, fn: (...a: DaemonEvents[K]) => void) => {
      this.deps.bus.on(name, fn as never);
      this.off.push(() => this.deps.bus.off(name, fn as never));
    };
    on('session_started', () => this.void('a new session started'));
    on('session_finished', (e) => {
      if (e.verdict === 'accept' && e.jti) this.bind({ jti: e.jti, sessions: [e.sessionId] });
      else this.void('the last session was not accepted');
    });
    on('assist_started', () => this.void('a remote-assistance call started'));
    on('assist_decided', (e) => {
      if (e.decision === 'approve') this.bind({ jti: e.jti, sessions: [e.assistId, ...(e.sessionId ? [e.sessionId] : [])] });
    });
    on('left', () => this.void('the customer left'));
    on('tamper', (e) => {
      if (e.open) this.void('tamper');
    });
    on('out_of_service', () => this.void('out of service'));
  }

  /** Stops following the events. */
  unlisten(): void {
    for (const off of this.off.splice(0)) off();
  }

  /** Whether `jti` of session `sessionId` may dispense now; the detail says why not. */
  check(jti: string, sessionId: string): { ok: true } | { ok: false; detail: string } {
    const bound = this.current();
    if (!bound) return { ok: false, detail: 'no result may dispense now (none accepted since the last session, call, departure or alarm)' };
    if (bound.jti !== jti || !bound.sessions.includes(sessionId))
      return { ok: false, detail: 'the authorisation is not for the last finished session of the customer present' };
    if (!this.deps.present()) return { ok: false, detail: 'the customer is no longer in front of the kiosk' };
    return { ok: true };
  }

  /** Nothing may dispense until the next accepted result (after a dispense, or any of the events above). */
  void(why: string): void {
    if (this.deps.ledger.getState(KEY) === undefined) return;
    this.deps.ledger.setState(KEY, undefined);
    this.deps.logger.info({ why }, 'dispense authorisation window closed');
  }

  private bind(b: Bound): void {
    this.deps.ledger.setState(KEY, JSON.stringify(b));
  }

  private current(): Bound | undefined {
    const raw = this.deps.ledger.getState(KEY);
    if (raw === undefined) return undefined;
    try {
      const v = JSON.parse(raw) as Partial<Bound>;
      return typeof v.jti === 'string' && Array.isArray(v.sessions) ? { jti: v.jti, sessions: v.sessions.filter((s) => typeof s === 'string') } : undefined;
    } catch {
      return undefined;
    }
  }
}
