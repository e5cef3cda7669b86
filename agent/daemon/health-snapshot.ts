/**
 * The daemon's health figures: whether the frame loop and the transport are healthy (pure
 * decisions below), the snapshot that /health, /metrics and telemetry report, the systemd STATUS
 * line, and the timers that send STATUS, WATCHDOG and telemetry. `DaemonHealth` only reads the
 * components it is given; the daemon tells it about finished sessions with `recordResult`.
 */
import type { FrameSource } from '../../device/camera/frame-source.js';
import type { SystemdNotifier } from '../../device/systemd/notify.js';
import type { x509 } from '../../base/keys/x509.js';
import type { KioskConfig } from '../config/types.js';
import { toKioskError } from '../../base/errors.js';
import type { Logger } from '../../base/log.js';
import type { Outbox } from '../outbox/outbox.js';
import type { SessionResult } from '../session/types.js';
import type { MqttTransport } from '../transport/mqtt-transport.js';
import { cpuTemperature, diskFree, type HealthSnapshot } from './health.js';
import type { UpdateStatus } from './update-wiring.js';

type Check = { ok: boolean; reason: string };

/** The frame loop: healthy while a running camera delivers frames (or it only runs during sessions and none runs). */
export function frameLoopHealth(i: {
  capture: KioskConfig['camera']['capture'];
  sessionBusy: boolean;
  running: boolean;
  sinceFrameMs: number;
  frameStallMs: number;
}): Check {
  if (i.capture === 'session' && !i.sessionBusy) return { ok: true, reason: 'idle (camera runs during sessions)' };
  if (!i.running) return { ok: false, reason: 'not capturing' };
  if (i.sinceFrameMs > i.frameStallMs) return { ok: false, reason: `no frame for ${Math.round(i.sinceFrameMs / 1000)} s` };
  return { ok: true, reason: 'capturing' };
}

/** The transport: healthy online, offline within the grace period, or with no broker configured. */
export function transportHealth(i: { configured: boolean; online: boolean; offlineMs: number; graceMs: number }): Check {
  if (!i.configured) return { ok: true, reason: 'no broker configured' };
  if (i.online) return { ok: true, reason: 'online' };
  return { ok: i.offlineMs <= i.graceMs, reason: `offline for ${Math.round(i.offlineMs / 1000)} s` };
}

/** The systemd STATUS= line. */
export function statusLine(i: { outOfService: string | null; frameLoop: Check; transport: Check; sessionBusy: boolean; sessionId?: string }): string {
  if (i.outOfService) return `out of service (${i.outOfService}); waiting for the carrier's clear_alarm`;
  if (!i.frameLoop.ok) return `unhealthy: camera ${i.frameLoop.reason}`;
  if (!i.transport.ok) return `unhealthy: transport ${i.transport.reason}`;
  return i.sessionBusy ? `session running (${i.sessionId ?? 'starting'})` : `idle; transport ${i.transport.reason}`;
}

export interface DaemonHealthDeps {
  config: KioskConfig;
  camera: FrameSource;
  /** Absent: no broker configured. */
  transport?: MqttTransport;
  notifier: Pick<SystemdNotifier, 'status' | 'watchdog' | 'watchdogIntervalMs'>;
  outbox: Pick<Outbox, 'stats'>;
  sessions: { readonly busy: boolean; readonly sessionId?: string; readonly decisionsFailed: number };
  dispenser: { readonly dispensed: number; readonly failed: number };
  /** Daemon events waiting for the broker. */
  eventsQueued: () => number;
  /** Daemon events dropped over the event queue's lifetime. */
  eventsDropped: () => number;
  /** Why the kiosk is out of service; null while in service. */
  outOfService: () => string | null;
  /** The device certificate in use. */
  certificate: () => x509.X509Certificate;
  /** Fleet updates, when enabled. */
  update?: () => UpdateStatus;
  logger: Logger;
}

/** Tracks the figures between snapshots and runs the STATUS, WATCHDOG and telemetry timers. */
export class DaemonHealth {
  private timers: NodeJS.Timeout[] = [];
  private startedAt = Date.now();
  private offlineSince: number | null = null;
  private online = false;
  private lastFrameAt = Date.now();
  private lastCaptured = 0;
  private lastStatus = '';
  private lastResult?: SessionResult;
  private verdicts = { accept: 0, reject: 0, retry: 0 };

  constructor(private readonly deps: DaemonHealthDeps) {}

  /**
   * Follows the transport's online/offline events (registered before it starts: its `online` comes
   * after the command subscription). Counts as offline from now; returns the unregistration.
   */
  watchTransport(): () => void {
    const transport = this.deps.transport;
    if (!transport) return () => {};
    const offline = () => {
      this.offlineSince ??= Date.now();
      this.online = false;
    };
    const online = () => {
      this.offlineSince = null;
      this.online = true;
    };
    transport.events.on('offline', offline);
    transport.events.on('online', online);
    this.offlineSince = Date.now();
    return () => {
      transport.events.off('offline', offline);
      transport.events.off('online', online);
    };
  }

  /** A finished session: its verdict is counted, its timings reported. */
  recordResult(r: SessionResult): void {
    this.lastResult = r;
    this.verdicts[r.verdict]++;
  }

  /** STATUS every second when it changes, WATCHDOG at the notifier's interval while healthy, telemetry with a broker. */
  start(): void {
    const { config, notifier } = this.deps;
    this.timers.push(setInterval(() => this.tick(), 1000));
    const wd = notifier.watchdogIntervalMs();
    if (wd !== undefined && config.health.watchdog) {
      this.timers.push(
        setInterval(() => {
          const h = this.healthNow();
          if (h.frameLoop.ok && h.transport.ok) void notifier.watchdog().catch(() => undefined);
        }, wd),
      );
    }
    if (this.deps.transport) {
      this.timers.push(setInterval(() => void this.telemetry(), config.health.telemetryIntervalMs));
    }
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }

  statusLine(): string {
    const h = this.healthNow();
    return statusLine({ outOfService: this.deps.outOfService(), ...h, sessionBusy: this.deps.sessions.busy, sessionId: this.deps.sessions.sessionId });
  }

  healthNow(): Pick<HealthSnapshot, 'frameLoop' | 'transport'> {
    const { config, camera, transport, sessions } = this.deps;
    const s = camera.stats();
    const frameLoop = frameLoopHealth({
      capture: config.camera.capture,
      sessionBusy: sessions.busy,
      running: s.running,
      sinceFrameMs: Date.now() - this.lastFrameAt,
      frameStallMs: config.health.frameStallMs,
    });
    const online = transport !== undefined && this.online && transport.online;
    const offlineMs = this.offlineSince === null ? 0 : Date.now() - this.offlineSince;
    const t = transportHealth({ configured: transport !== undefined, online, offlineMs, graceMs: config.health.transportGraceMs });
    return { frameLoop, transport: { ...t, configured: transport !== undefined, online } };
  }

  /** Everything /health, /metrics and telemetry report. */
  async snapshot(): Promise<HealthSnapshot> {
    const { camera, config, outbox, sessions, dispenser } = this.deps;
    const h = this.healthNow();
    const s = camera.stats();
    const id = camera.identity;
    const mem = process.memoryUsage();
    const a = this.lastResult?.timings.analyzeMs;
    const outOfService = this.deps.outOfService();
    const cert = this.deps.certificate();
    return {
      healthy: h.frameLoop.ok && h.transport.ok,
      ...h,
      inService: outOfService === null,
      outOfServiceReason: outOfService,
      session: { running: sessions.busy, id: sessions.sessionId ?? null },
      camera: {
        running: s.running,
        fps: s.fps,
        captured: s.captured,
        dropped: s.dropped,
        restarts: s.restarts,
        latencyMs: Math.round(s.latencyMs.mean * 10) / 10,
        identity: id ? `${id.kind}:${id.card ?? id.driver ?? id.device}` : null,
      },
      inference: { analyzeMedianMs: a?.median ?? null, analyzeP95Ms: a?.p95 ?? null, decisionsFailed: this.deps.sessions.decisionsFailed },
      sessions: { ...this.verdicts },
      dispenses: { dispensed: dispenser.dispensed, failed: dispenser.failed },
      outbox: await outbox.stats(),
      eventsQueued: this.deps.eventsQueued(),
      eventsDropped: this.deps.eventsDropped(),
      cpuTemperatureC: await cpuTemperature(config.health.thermalPath),
      memory: { rssBytes: mem.rss, heapUsedBytes: mem.heapUsed },
      disk: { freeBytes: await diskFree(config.stateDir) },
      uptimeS: Math.round((Date.now() - this.startedAt) / 1000),
      certificate: { serial: cert.serialNumber, notAfter: cert.notAfter.toISOString() },
      ...(this.deps.update ? { update: this.deps.update() } : {}),
    };
  }

  private tick(): void {
    const s = this.deps.camera.stats();
    if (s.captured !== this.lastCaptured || s.captured < this.lastCaptured) this.lastFrameAt = Date.now();
    this.lastCaptured = s.captured;
    const line = this.statusLine();
    if (line !== this.lastStatus) {
      this.lastStatus = line;
      void this.deps.notifier.status(line).catch(() => undefined);
    }
  }

  private async telemetry(): Promise<void> {
    try {
      const s = await this.snapshot();
      await this.deps.transport?.telemetry({
        fps: s.camera.fps,
        framesDropped: s.camera.dropped,
        cameraRestarts: s.camera.restarts,
        inferenceMs: s.inference.analyzeMedianMs,
        cpuTemperatureC: s.cpuTemperatureC,
        memoryRssBytes: s.memory.rssBytes,
        diskFreeBytes: s.disk.freeBytes,
        outboxDepth: s.outbox.pending,
        eventsQueued: s.eventsQueued,
        eventsDropped: s.eventsDropped,
        inService: s.inService,
        healthy: s.healthy,
        uptimeS: s.uptimeS,
        certificateNotAfter: s.certificate.notAfter,
      });
    } catch (err) {
      this.deps.logger.debug({ err: toKioskError(err).toJSON() }, 'telemetry not sent');
    }
  }
}
