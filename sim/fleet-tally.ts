/**
 * The fleet simulation's bookkeeping, over both ways a result reaches a verifier (the hosts' MQTT
 * consumers and the replayer's copies): which results were handled, how many times each was accepted,
 * and which acceptances came from replays. Pure: fed outcomes, asked for counts.
 */

/** Where an outcome came from. */
export type OutcomePath = 'mqtt' | 'replay';

/** The counts the fleet report needs. */
export interface TallyCounts {
  /** Results a verifier handled: accepted, or found consumed by this very result (a redelivery). */
  verified: number;
  /** Results accepted more than once, over every host and path (must be 0). */
  acceptedTwice: number;
  /** Acceptances of replayed tokens beyond the one each result may have (must be 0). */
  replaysAccepted: number;
  /** MQTT deliveries the store found already consumed by the same result, first accepted over MQTT (redeliveries, e.g. after a SIGKILL). */
  redelivered: number;
  /** MQTT deliveries of a result a replayed copy had reached the store with first (captured in flight). */
  preempted: number;
  /** Results whose first acceptance was a replayed copy. */
  firstAcceptedByReplay: number;
}

/** Tallies outcomes by result `jti`. */
export class FleetTally {
  private readonly accepted = new Map<string, number>();
  private readonly firstBy = new Map<string, OutcomePath>();
  private readonly handled = new Set<string>();
  private readonly replayed = new Set<string>();
  private readonly bySlot = new Map<number, number>();
  private redelivered = 0;
  private preempted = 0;

  /** @param genuine the jtis of the results the kiosks sent */
  constructor(private readonly genuine: ReadonlySet<string>) {}

  /** An acceptance of `jti` on `path` (by host `slot`, for MQTT). */
  accept(jti: string, path: OutcomePath, slot?: number): void {
    if (slot !== undefined) this.bySlot.set(slot, (this.bySlot.get(slot) ?? 0) + 1);
    this.accepted.set(jti, (this.accepted.get(jti) ?? 0) + 1);
    if (!this.firstBy.has(jti)) this.firstBy.set(jti, path);
    if (this.genuine.has(jti)) this.handled.add(jti);
  }

  /** A `duplicate` outcome of `jti` on `path`: the store had its nonce consumed by this very result. */
  duplicate(jti: string, path: OutcomePath): void {
    if (this.genuine.has(jti)) this.handled.add(jti);
    if (path !== 'mqtt') return;
    if (this.firstBy.get(jti) === 'replay') this.preempted++;
    else this.redelivered++;
  }

  /** `jti` was replayed (whatever came of it). */
  replay(jti: string): void {
    this.replayed.add(jti);
  }

  /** Whether `jti` was handled by a verifier yet. */
  isHandled(jti: string): boolean {
    return this.handled.has(jti);
  }

  /** Acceptances over MQTT by host `slot` so far. */
  acceptedBy(slot: number): number {
    return this.bySlot.get(slot) ?? 0;
  }

  get handledCount(): number {
    return this.handled.size;
  }

  counts(): TallyCounts {
    let acceptedTwice = 0;
    for (const n of this.accepted.values()) if (n > 1) acceptedTwice++;
    let replaysAccepted = 0;
    for (const jti of this.replayed) replaysAccepted += Math.max(0, (this.accepted.get(jti) ?? 0) - 1);
    let firstAcceptedByReplay = 0;
    for (const p of this.firstBy.values()) if (p === 'replay') firstAcceptedByReplay++;
    return {
      verified: this.handled.size,
      acceptedTwice,
      replaysAccepted,
      redelivered: this.redelivered,
      preempted: this.preempted,
      firstAcceptedByReplay,
    };
  }
}
