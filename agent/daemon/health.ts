/**
 * Health: a snapshot of the daemon's figures, rendered as Prometheus text (GET /metrics) and JSON
 * (GET /health) on a loopback-only HTTP server, sent as telemetry over MQTT, and used to decide
 * whether systemd gets its WATCHDOG=1. The same server carries the simulated kiosk's /sim/* routes.
 * Loopback binding keeps the network out, not a browser on this machine: every request must name a
 * loopback host and this port (DNS rebinding), come from this loopback origin when it has an Origin,
 * not be cross-site, and a POST must be `application/json` (an HTML form cannot send that).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFile, statfs } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../../base/log.js';
import { checkLoopbackRequest } from '../../base/loopback.js';
import type { UpdateStatus } from './update-wiring.js';

/** Everything the health endpoints and telemetry report. No image, score of a face or key material. */
export interface HealthSnapshot {
  healthy: boolean;
  frameLoop: { ok: boolean; reason: string };
  transport: { ok: boolean; reason: string; configured: boolean; online: boolean };
  inService: boolean;
  outOfServiceReason: string | null;
  session: { running: boolean; id: string | null };
  camera: { running: boolean; fps: number; captured: number; dropped: number; restarts: number; latencyMs: number; identity: string | null };
  inference: { analyzeMedianMs: number | null; analyzeP95Ms: number | null; decisionsFailed: number };
  sessions: Record<'accept' | 'reject' | 'retry', number>;
  dispenses: { dispensed: number; failed: number };
  outbox: { pending: number; parked: number; expired: number; pendingBytes: number };
  eventsQueued: number;
  /** Events dropped (queue bound, or refused by the broker) since the event queue was created; survives restarts. */
  eventsDropped: number;
  cpuTemperatureC: number | null;
  memory: { rssBytes: number; heapUsedBytes: number };
  disk: { freeBytes: number | null };
  uptimeS: number;
  /** The device certificate in use (a renewal replaces it). */
  certificate: { serial: string; notAfter: string };
  /** Fleet updates (only with `update.enabled`): the job, its download progress, the releases running. */
  update?: UpdateStatus;
}

/** CPU temperature from a thermal zone (millidegrees), or null when the file is absent (containers, VMs). */
export async function cpuTemperature(path: string): Promise<number | null> {
  try {
    const v = Number((await readFile(path, 'utf8')).trim());
    return Number.isFinite(v) ? Math.round(v / 100) / 10 : null;
  } catch {
    return null;
  }
}

/** Free bytes for an unprivileged user on the filesystem of `dir`, or null. */
export async function diskFree(dir: string): Promise<number | null> {
  try {
    const s = await statfs(dir);
    return s.bavail * s.bsize;
  } catch {
    return null;
  }
}

type Metric = [name: string, type: 'gauge' | 'counter', help: string, samples: Array<[labels: string, value: number | null]>];

/** The snapshot in the Prometheus text exposition format 0.0.4. */
export function prometheusText(s: HealthSnapshot): string {
  const b = (x: boolean) => (x ? 1 : 0);
  const metrics: Metric[] = [
    ['kiosk_healthy', 'gauge', '1 when the frame loop and the transport are healthy (WATCHDOG is sent)', [['', b(s.healthy)]]],
    ['kiosk_frame_loop_healthy', 'gauge', '1 when the camera delivers frames', [['', b(s.frameLoop.ok)]]],
    ['kiosk_transport_online', 'gauge', '1 when connected to the broker', [['', b(s.transport.online)]]],
    ['kiosk_in_service', 'gauge', '0 while out of service (tamper) until the carrier clears it', [['', b(s.inService)]]],
    ['kiosk_session_running', 'gauge', '1 while a verification session runs', [['', b(s.session.running)]]],
    ['kiosk_camera_fps', 'gauge', 'camera capture rate over the last 2 s, frames per second', [['', s.camera.fps]]],
    ['kiosk_camera_frames_captured_total', 'counter', 'frames read from the camera since it started', [['', s.camera.captured]]],
    ['kiosk_camera_frames_dropped_total', 'counter', 'frames dropped because the consumer was busy', [['', s.camera.dropped]]],
    ['kiosk_camera_restarts_total', 'counter', 'capture process restarts', [['', s.camera.restarts]]],
    ['kiosk_camera_latency_ms', 'gauge', 'mean capture-to-consumer latency, ms', [['', s.camera.latencyMs]]],
    [
      'kiosk_inference_analyze_ms',
      'gauge',
      'per-frame analysis time of the last session, ms',
      [
        ['{quantile="0.5"}', s.inference.analyzeMedianMs],
        ['{quantile="0.95"}', s.inference.analyzeP95Ms],
      ],
    ],
    ['kiosk_decisions_failed_total', 'counter', 'decision-path calls (embedding, attack score) that failed or timed out', [['', s.inference.decisionsFailed]]],
    ['kiosk_sessions_total', 'counter', 'finished sessions by verdict', Object.entries(s.sessions).map(([v, n]) => [`{verdict="${v}"}`, n])],
    [
      'kiosk_dispenses_total',
      'counter',
      'dispenses by outcome',
      [
        ['{outcome="dispensed"}', s.dispenses.dispensed],
        ['{outcome="failed"}', s.dispenses.failed],
      ],
    ],
    [
      'kiosk_outbox_messages',
      'gauge',
      'results in the outbox by state',
      [
        ['{state="pending"}', s.outbox.pending],
        ['{state="parked"}', s.outbox.parked],
        ['{state="expired"}', s.outbox.expired],
      ],
    ],
    ['kiosk_outbox_pending_bytes', 'gauge', 'payload bytes of pending results', [['', s.outbox.pendingBytes]]],
    ['kiosk_events_queued', 'gauge', 'events waiting for the broker', [['', s.eventsQueued]]],
    [
      'kiosk_events_dropped_total',
      'counter',
      'events dropped (queue full, or refused by the broker) since the event queue was created',
      [['', s.eventsDropped]],
    ],
    ['kiosk_cpu_temperature_celsius', 'gauge', 'CPU temperature (absent when the thermal zone is)', [['', s.cpuTemperatureC]]],
    ['kiosk_memory_rss_bytes', 'gauge', 'resident set size', [['', s.memory.rssBytes]]],
    ['kiosk_memory_heap_used_bytes', 'gauge', 'V8 heap in use', [['', s.memory.heapUsedBytes]]],
    ['kiosk_disk_free_bytes', 'gauge', 'free bytes on the state directory filesystem', [['', s.disk.freeBytes]]],
    ['kiosk_uptime_seconds', 'gauge', 'seconds since the daemon started', [['', s.uptimeS]]],
    [
      'kiosk_certificate_expiry_timestamp_seconds',
      'gauge',
      'notAfter of the device certificate in use, Unix time',
      [['', Math.floor(Date.parse(s.certificate.notAfter) / 1000)]],
    ],
  ];
  const out: string[] = [];
  for (const [name, type, help, samples] of metrics) {
    const present = samples.filter(([, v]) => v !== null && Number.isFinite(v));
    if (present.length === 0) continue;
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of present) out.push(`${name}${labels} ${v}`);
  }
  return `${out.join('\n')}\n`;
}

/** A route of the local API: returns a JSON body, or throws an Error with `status`. */
export type Route = (query: URLSearchParams, body: Record<string, unknown>) => Promise<unknown> | unknown;

export interface HealthServerDeps {
  port: number;
  snapshot: () => Promise<HealthSnapshot>;
  /** Extra routes, e.g. `POST /sim/presence` (key: `METHOD path`). */
  routes?: Record<string, Route>;
  logger: Logger;
}

/** The loopback HTTP server (127.0.0.1 only: metrics and the simulator are not for the network). */
export class HealthServer {
  private server?: Server;

  constructor(private readonly deps: HealthServerDeps) {}

  /** The bound port (the configured one, or the one the kernel picked for port 0 in tests). */
  get port(): number | undefined {
    return (this.server?.address() as AddressInfo | null)?.port;
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.deps.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
      res.end(body);
    };
    const refused = checkLoopbackRequest(req.headers, this.port ?? this.deps.port) ?? jsonPostOnly(req);
    if (refused) {
      this.deps.logger.warn({ method: req.method, path: url.pathname, reason: refused.reason }, 'local API request refused');
      return send(refused.status, 'application/json', JSON.stringify({ error: 'request refused', code: refused.reason }));
    }
    try {
      if (req.method === 'GET' && url.pathname === '/metrics')
        return send(200, 'text/plain; version=0.0.4; charset=utf-8', prometheusText(await this.deps.snapshot()));
      if (req.method === 'GET' && url.pathname === '/health') {
        const s = await this.deps.snapshot();
        return send(s.healthy ? 200 : 503, 'application/json', JSON.stringify(s));
      }
      const route = this.deps.routes?.[`${req.method} ${url.pathname}`];
      if (!route) return send(404, 'application/json', JSON.stringify({ error: 'not found' }));
      const body = req.method === 'POST' ? await readJson(req) : {};
      return send(200, 'application/json', JSON.stringify((await route(url.searchParams, body)) ?? { ok: true }));
    } catch (err) {
      const status = (err as { status?: number }).status ?? 500;
      if (status >= 500) this.deps.logger.error({ err: { message: (err as Error).message } }, 'local API error');
      send(status, 'application/json', JSON.stringify({ error: (err as Error).message }));
    }
  }
}

/** A POST must say it carries JSON: the content types an HTML form can send are refused (415). */
function jsonPostOnly(req: IncomingMessage): { status: 415; reason: 'not_json' } | null {
  if (req.method !== 'POST') return null;
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  return type === 'application/json' ? null : { status: 415, reason: 'not_json' };
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  let text = '';
  for await (const chunk of req) {
    text += chunk;
    if (text.length > 16384) throw Object.assign(new Error('body too large'), { status: 413 });
  }
  if (!text.trim()) return {};
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    throw Object.assign(new Error('body is not JSON'), { status: 400 });
  }
}
