/**
 * The fleet exporter: a carrier service that subscribes (mutual TLS) to every kiosk's status,
 * telemetry and events, keeps FleetMetrics up to date, and serves them on `/metrics` for Prometheus.
 * It publishes nothing. Its session is persistent, so events raised while it restarts are delivered
 * when it is back (the broker's queue limit applies); statuses are retained, telemetry comes again.
 */
import { createServer, type Server } from 'node:http';
import mqtt, { type MqttClient } from 'mqtt';
import { KioskError, toKioskError } from '../../base/errors.js';
import type { Clock } from '../../base/clock.js';
import type { Logger } from '../../base/log.js';
import { tlsIdentity, type MqttTlsEndpoint } from '../../protocol/endpoint.js';
import { DEFAULT_PREFIX } from '../../protocol/names.js';
import { parseFleetMessage } from './fleet-message.js';
import { FleetMetrics } from './fleet-metrics.js';

/** Default `/metrics` address: loopback; expose it wider only on purpose (`--listen`). */
export const DEFAULT_LISTEN = { host: '127.0.0.1', port: 9466 };

export interface FleetExporterOptions extends MqttTlsEndpoint {
  /** The certificate's CN (the broker makes it the client id anyway); default carrier-metrics. */
  clientId?: string;
  /** Session expiry, seconds (default 3600): how long the broker keeps events for a stopped exporter. */
  sessionExpirySec?: number;
  /** Where `/metrics` is served (default 127.0.0.1:9466; port 0 picks a free one). */
  listen?: { host?: string; port?: number };
  /** Most kiosks tracked (default 10000). */
  maxKiosks?: number;
}

export class FleetExporter {
  readonly metrics: FleetMetrics;
  private client?: MqttClient;
  private server?: Server;

  constructor(private readonly deps: { options: FleetExporterOptions; logger: Logger; clock?: Clock }) {
    this.metrics = new FleetMetrics({ logger: deps.logger, clock: deps.clock, maxKiosks: deps.options.maxKiosks });
  }

  /** The address `/metrics` is served on (after start). */
  get address(): { host: string; port: number } {
    const a = this.server?.address();
    if (!a || typeof a === 'string') throw new KioskError('E_USAGE', 'the exporter is not started', { subject: 'metrics' });
    return { host: a.address, port: a.port };
  }

  /** Serves `/metrics`, then connects and subscribes; resolves once subscribed (E_NOT_AUTHORIZED when the broker refuses). */
  async start(): Promise<void> {
    try {
      await this.serve();
      await this.connect();
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  private async connect(): Promise<void> {
    const o = this.deps.options;
    const prefix = o.prefix ?? DEFAULT_PREFIX;
    const client = mqtt.connect(o.url, {
      protocolVersion: 5,
      clientId: o.clientId ?? 'carrier-metrics',
      clean: false,
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
      properties: { sessionExpiryInterval: o.sessionExpirySec ?? 3600 },
      ...tlsIdentity(o),
      rejectUnauthorized: true,
    });
    this.client = client;
    client.on('message', (topic, payload) => {
      const msg = parseFleetMessage(topic, payload, prefix);
      if ('malformed' in msg) this.metrics.malformed(msg, topic);
      else this.metrics.apply(msg);
    });
    client.on('close', () => this.metrics.setConnected(false));
    client.on('error', (err) => this.deps.logger.warn({ err: { message: err.message } }, 'metrics exporter mqtt error'));
    const filters = ['status', 'telemetry', 'events'].map((t) => `${prefix}+/${t}`);
    // Subscribed again at every connect (cheap, and right whether or not the broker kept the session).
    const subscribe = async (): Promise<void> => {
      let granted: { topic: string; qos: number }[];
      try {
        granted = await client.subscribeAsync(filters, { qos: 1 });
      } catch (err) {
        const codes = (err as { packet?: { granted?: number[] } }).packet?.granted ?? [];
        if (!codes.some((c) => c >= 0x80)) throw toKioskError(err, 'E_TRANSPORT');
        granted = filters.map((topic, i) => ({ topic, qos: codes[i] ?? 0x80 }));
      }
      const refused = granted.filter((g) => g.qos > 2).map((g) => g.topic);
      if (refused.length > 0)
        throw new KioskError(
          'E_NOT_AUTHORIZED',
          'the broker refused the subscription (SUBACK 0x87): this service needs a role that reads status, telemetry and events',
          {
            subject: refused.join(','),
          },
        );
      this.metrics.setConnected(true);
    };
    let first = true;
    await new Promise<void>((resolve, reject) => {
      client.once('error', (err) => first && reject(toKioskError(err, 'E_TRANSPORT')));
      client.on('connect', () => {
        subscribe().then(
          () => {
            if (first) resolve();
            first = false;
          },
          (err: KioskError) => {
            this.deps.logger.error({ err: err.toJSON() }, 'metrics exporter not subscribed');
            if (first) reject(err);
            first = false;
          },
        );
      });
    });
  }

  /** Disconnects and closes the HTTP server. */
  async stop(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    if (c) await c.endAsync().catch(() => undefined);
    this.metrics.setConnected(false);
    const s = this.server;
    this.server = undefined;
    if (s) {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
  }

  private async serve(): Promise<void> {
    const l = this.deps.options.listen ?? {};
    const server = createServer((req, res) => {
      if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
        return;
      }
      this.metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': this.metrics.registry.contentType }).end(text),
        (err: Error) => {
          this.deps.logger.error({ err: toKioskError(err).toJSON() }, 'metrics not rendered');
          res.writeHead(500, { 'content-type': 'text/plain' }).end('error\n');
        },
      );
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) =>
        reject(new KioskError('E_USAGE', `cannot listen: ${err.message}`, { subject: `${l.host ?? DEFAULT_LISTEN.host}:${l.port}` })),
      );
      server.listen(l.port ?? DEFAULT_LISTEN.port, l.host ?? DEFAULT_LISTEN.host, () => resolve());
    });
  }
}
