/**
 * The fleet's metrics in their own prom-client Registry (not the global one, so two exporters or a
 * test and an exporter never share series), and how each parsed message changes them. Labels are
 * closed lists (verdict, reason, state, ...) except `kiosk`, which only the per-kiosk gauges carry:
 * one series per kiosk per metric, bounded by `maxKiosks`. The README's table lists every metric.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { systemClock, type Clock } from '../../base/clock.js';
import { KioskError } from '../../base/errors.js';
import type { Logger } from '../../base/log.js';
import { UPDATE_STATES } from '../../protocol/update.js';
import { EVENT_TYPES, REASONS, VERDICTS, type FleetEvent, type FleetMessage, type Malformed } from './fleet-message.js';

/** The metric names, for the alert rules, the dashboard and their tests. */
export const METRIC = {
  online: 'kiosk_fleet_kiosk_online',
  inService: 'kiosk_fleet_kiosk_in_service',
  tamperOpen: 'kiosk_fleet_kiosk_tamper_open',
  tamperAlarms: 'kiosk_fleet_tamper_alarms_total',
  certificateExpiry: 'kiosk_fleet_certificate_expiry_seconds',
  outboxPending: 'kiosk_fleet_outbox_pending',
  sessions: 'kiosk_fleet_sessions_total',
  sessionReasons: 'kiosk_fleet_session_reasons_total',
  padRejects: 'kiosk_fleet_presentation_attack_rejects_total',
  timeToVerdict: 'kiosk_fleet_time_to_verdict_seconds',
  dispenses: 'kiosk_fleet_dispenses_total',
  updateReports: 'kiosk_fleet_update_reports_total',
  events: 'kiosk_fleet_events_total',
  malformed: 'kiosk_fleet_malformed_messages_total',
  duplicates: 'kiosk_fleet_duplicate_events_total',
  brokerConnected: 'kiosk_fleet_exporter_broker_connected',
} as const;

export interface FleetMetricsOptions {
  logger: Logger;
  /** Wall time for the certificates' seconds left (default the system clock). */
  clock?: Clock;
  /** Most kiosks tracked; messages of further kiosks are counted as `kiosk_limit` (default 10000). */
  maxKiosks?: number;
}

/** Sessions started but not finished yet, and event ids already counted: bounded, the oldest go first. */
const MAX_OPEN_SESSIONS = 10_000;
const MAX_SEEN_EVENTS = 50_000;
/** A malformed message is logged once per kiosk and code in this long (ms); all are counted. */
const LOG_EVERY_MS = 60_000;

/** The exporter's metrics and the state (open sessions, seen events) needed to compute them. */
export class FleetMetrics {
  readonly registry = new Registry();
  private readonly kiosks = new Set<string>();
  private readonly notAfter = new Map<string, number>();
  private readonly openSessions = new Map<string, number>();
  private readonly seen = new Set<string>();
  private readonly lastLogged = new Map<string, number>();
  private readonly clock: Clock;
  private readonly maxKiosks: number;
  private readonly m;

  constructor(private readonly options: FleetMetricsOptions) {
    this.clock = options.clock ?? systemClock;
    this.maxKiosks = options.maxKiosks ?? 10_000;
    if (!Number.isInteger(this.maxKiosks) || this.maxKiosks < 1)
      throw new KioskError('E_CONFIG_INVALID', 'maxKiosks must be a positive integer', { subject: 'maxKiosks' });
    const registers = [this.registry];
    const kiosk = ['kiosk'] as const;
    const notAfter = this.notAfter;
    const clock = this.clock;
    this.m = {
      online: new Gauge({ name: METRIC.online, help: 'Kiosk connected to the broker (retained status): 1 online, 0 offline', labelNames: kiosk, registers }),
      inService: new Gauge({
        name: METRIC.inService,
        help: 'Kiosk in service (1) or out of service until the carrier clears its alarm (0)',
        labelNames: kiosk,
        registers,
      }),
      tamperOpen: new Gauge({
        name: METRIC.tamperOpen,
        help: 'Kiosk enclosure open (1) or closed (0), from its last tamper event',
        labelNames: kiosk,
        registers,
      }),
      tamperAlarms: new Counter({ name: METRIC.tamperAlarms, help: 'Tamper alarms (enclosure opened) per kiosk', labelNames: kiosk, registers }),
      certificateExpiry: new Gauge({
        name: METRIC.certificateExpiry,
        help: "Seconds until the kiosk's device certificate expires (negative: expired), from its telemetry and renewals",
        labelNames: kiosk,
        registers,
        collect() {
          const now = clock.wallNow();
          for (const [k, t] of notAfter) this.set({ kiosk: k }, Math.round((t - now) / 1000));
        },
      }),
      outboxPending: new Gauge({ name: METRIC.outboxPending, help: 'Signed results waiting in the kiosk outbox for the broker', labelNames: kiosk, registers }),
      sessions: new Counter({ name: METRIC.sessions, help: 'Finished sessions by verdict', labelNames: ['verdict'] as const, registers }),
      sessionReasons: new Counter({
        name: METRIC.sessionReasons,
        help: 'Reason codes of finished sessions (a session may give several)',
        labelNames: ['verdict', 'reason'] as const,
        registers,
      }),
      padRejects: new Counter({ name: METRIC.padRejects, help: 'Sessions rejected as a presentation attack', registers }),
      timeToVerdict: new Histogram({
        name: METRIC.timeToVerdict,
        help: "Seconds from session start to verdict, on the kiosk's clock",
        labelNames: ['verdict'] as const,
        buckets: [2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 300],
        registers,
      }),
      dispenses: new Counter({ name: METRIC.dispenses, help: 'SIM dispenses by outcome', labelNames: ['outcome'] as const, registers }),
      updateReports: new Counter({
        name: METRIC.updateReports,
        help: 'Update job reports by artifact kind and state',
        labelNames: ['kind', 'state'] as const,
        registers,
      }),
      events: new Counter({
        name: METRIC.events,
        help: 'Kiosk events received by type (other: a type this exporter does not know)',
        labelNames: ['type'] as const,
        registers,
      }),
      malformed: new Counter({
        name: METRIC.malformed,
        help: 'Messages not used, by topic kind and code',
        labelNames: ['topic_kind', 'code'] as const,
        registers,
      }),
      duplicates: new Counter({ name: METRIC.duplicates, help: 'Events received again with an event id already counted (at-least-once delivery)', registers }),
      brokerConnected: new Gauge({ name: METRIC.brokerConnected, help: 'The exporter is connected and subscribed (1) or not (0)', registers }),
    };
    // Series that exist from the start, so that increase() and rate() see the first event.
    for (const verdict of VERDICTS) this.m.sessions.inc({ verdict }, 0);
    for (const outcome of ['dispensed', 'failed']) this.m.dispenses.inc({ outcome }, 0);
    for (const kind of ['agent', 'models']) for (const state of UPDATE_STATES) this.m.updateReports.inc({ kind, state }, 0);
    this.m.padRejects.inc(0);
    this.m.duplicates.inc(0);
    this.m.brokerConnected.set(0);
  }

  /** Sets whether the exporter is connected to the broker. */
  setConnected(connected: boolean): void {
    this.m.brokerConnected.set(connected ? 1 : 0);
  }

  /** Counts (and logs, rate-limited, without the payload) a message that was not used. */
  malformed(x: Malformed, topic: string): void {
    this.m.malformed.inc({ topic_kind: x.topicKind, code: x.malformed });
    const key = `${x.kiosk ?? ''}/${x.malformed}`;
    const now = this.clock.now();
    if (now - (this.lastLogged.get(key) ?? Number.NEGATIVE_INFINITY) < LOG_EVERY_MS) return;
    if (this.lastLogged.size > this.maxKiosks * 2) this.lastLogged.clear();
    this.lastLogged.set(key, now);
    const err = new KioskError('E_INPUT_UNREADABLE', 'kiosk message not used', { subject: topic, details: { reason: x.malformed } });
    this.options.logger.warn(
      { err: err.toJSON(), kiosk: x.kiosk },
      `malformed fleet message (${x.malformed}); counted, logged at most once a minute per kiosk`,
    );
  }

  /** Applies one parsed message. */
  apply(msg: FleetMessage): void {
    const kiosk = msg.kiosk;
    if (!this.track(kiosk)) {
      this.malformed({ malformed: 'kiosk_limit', kiosk, topicKind: msg.kind === 'event' ? 'events' : msg.kind }, kiosk);
      return;
    }
    if (msg.kind === 'status') {
      this.m.online.set({ kiosk }, msg.online ? 1 : 0);
      return;
    }
    if (msg.kind === 'telemetry') {
      if (msg.outboxPending !== undefined) this.m.outboxPending.set({ kiosk }, msg.outboxPending);
      if (msg.inService !== undefined) this.m.inService.set({ kiosk }, msg.inService ? 1 : 0);
      if (msg.certificateNotAfterMs !== undefined) this.notAfter.set(kiosk, msg.certificateNotAfterMs);
      return;
    }
    if (msg.eventId !== undefined) {
      if (this.seen.has(msg.eventId)) {
        this.m.duplicates.inc();
        return;
      }
      this.remember(this.seen, msg.eventId, MAX_SEEN_EVENTS);
    }
    this.event(kiosk, msg.event, msg.atMs);
  }

  private event(kiosk: string, e: FleetEvent, atMs: number | undefined): void {
    this.m.events.inc({ type: e.type === 'other' ? ((EVENT_TYPES as readonly string[]).includes(e.name) ? e.name : 'other') : e.type });
    switch (e.type) {
      case 'session_started':
        if (atMs !== undefined) {
          this.openSessions.delete(`${kiosk}/${e.sessionId}`);
          this.remember(this.openSessions, `${kiosk}/${e.sessionId}`, MAX_OPEN_SESSIONS, atMs);
        }
        return;
      case 'session_finished': {
        this.m.sessions.inc({ verdict: e.verdict });
        for (const r of new Set(e.reasons)) this.m.sessionReasons.inc({ verdict: e.verdict, reason: (REASONS as readonly string[]).includes(r) ? r : 'other' });
        if (e.verdict === 'reject' && e.reasons.includes('presentation_attack')) this.m.padRejects.inc();
        const key = `${kiosk}/${e.sessionId}`;
        const started = this.openSessions.get(key);
        this.openSessions.delete(key);
        // Both times are the kiosk's own clock, so its offset to ours does not matter.
        if (started !== undefined && atMs !== undefined && atMs >= started) this.m.timeToVerdict.observe({ verdict: e.verdict }, (atMs - started) / 1000);
        return;
      }
      case 'dispensed':
      case 'dispense_failed':
        this.m.dispenses.inc({ outcome: e.type === 'dispensed' ? 'dispensed' : 'failed' });
        return;
      case 'tamper':
        this.m.tamperOpen.set({ kiosk }, e.open ? 1 : 0);
        if (e.open) this.m.tamperAlarms.inc({ kiosk });
        return;
      case 'out_of_service':
      case 'in_service':
        this.m.inService.set({ kiosk }, e.type === 'in_service' ? 1 : 0);
        return;
      case 'certificate_renewed':
        this.notAfter.set(kiosk, e.notAfterMs);
        return;
      case 'update':
        this.m.updateReports.inc({ kind: e.kind, state: e.state });
        return;
      case 'other':
        return;
    }
  }

  /** True when the kiosk is tracked (now or already); its alarm counter starts at 0 on first sight. */
  private track(kiosk: string): boolean {
    if (this.kiosks.has(kiosk)) return true;
    if (this.kiosks.size >= this.maxKiosks) return false;
    this.kiosks.add(kiosk);
    this.m.tamperAlarms.inc({ kiosk }, 0);
    return true;
  }

  private remember<K>(store: Set<K> | Map<K, number>, key: K, max: number, value = 0): void {
    if (store.size >= max) {
      const oldest = store.keys().next().value as K;
      store.delete(oldest);
    }
    if (store instanceof Set) store.add(key);
    else store.set(key, value);
  }
}
