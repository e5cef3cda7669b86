/** Carrier CLI: `metrics`, the fleet exporter for Prometheus (carrier/metrics/). */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { intArg, reportError, untilStopped } from '../../base/cli.js';
import { DEFAULT_PREFIX } from '../../protocol/names.js';
import { DIR_OPTION as dirOpt } from './options.js';

/** Parses `host:port` (IPv6 in brackets); the port may be 0 (a free one). */
export function listenArg(value: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value.trim());
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535) throw new InvalidArgumentError('--listen must be host:port, e.g. 127.0.0.1:9466');
  return { host: m[1] ?? m[2], port };
}

/** Registers `metrics` on `carrier`. */
export function registerMetrics(carrier: Command): void {
  carrier
    .command('metrics')
    .description("serve the fleet's status, telemetry and events as Prometheus metrics on /metrics until SIGTERM (carrier/metrics/README.md)")
    .option(...dirOpt)
    .requiredOption('--broker <url>', 'broker URL (mqtts://...)')
    .requiredOption('--cert <file>', 'service certificate (OU=service) with a role that reads status, telemetry and events')
    .requiredOption('--key <file>', 'service key')
    .option('--ca <file>', 'CA certificate of the broker (default <dir>/ca.crt)')
    .option('--client-id <id>', 'MQTT client id (the certificate CN)', 'carrier-metrics')
    .option('--listen <host:port>', 'address of /metrics (default 127.0.0.1:9466: loopback only)', listenArg)
    .option('--prefix <prefix>', 'topic prefix', DEFAULT_PREFIX)
    .option('--max-kiosks <n>', 'most kiosks tracked (bounds the per-kiosk series)', intArg('--max-kiosks', 1), 10_000)
    .action(
      async (o: {
        dir: string;
        broker: string;
        cert: string;
        key: string;
        ca?: string;
        clientId: string;
        listen?: { host: string; port: number };
        prefix: string;
        maxKiosks: number;
      }) => {
        const [{ FleetExporter }, { createLogger }] = await Promise.all([import('../metrics/exporter.js'), import('../../base/log.js')]);
        const logger = createLogger().child({ component: 'metrics' });
        let exporter: InstanceType<typeof FleetExporter> | undefined;
        try {
          const [ca, cert, key] = await Promise.all([readFile(o.ca ?? join(resolve(o.dir), 'ca.crt')), readFile(o.cert), readFile(o.key)]);
          exporter = new FleetExporter({
            options: { url: o.broker, ca, cert, key, clientId: o.clientId, prefix: o.prefix, listen: o.listen, maxKiosks: o.maxKiosks },
            logger,
          });
          await exporter.start();
          const a = exporter.address;
          process.stdout.write(
            `${JSON.stringify({ ready: true, broker: o.broker, metrics: `http://${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}/metrics` })}\n`,
          );
          await untilStopped();
        } catch (err) {
          reportError(err);
        } finally {
          await exporter?.stop();
        }
      },
    );
}
