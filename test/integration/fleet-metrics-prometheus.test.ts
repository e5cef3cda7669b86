/**
 * The fleet exporter against Debian's Prometheus during a small fleet simulation: four kiosks (the
 * agent's real MqttTransport and EventPublisher, each with its own certificate) publish status,
 * telemetry and events through mosquitto with this project's broker policy; the exporter reads them
 * as a carrier service; Prometheus scrapes it every second and evaluates the shipped alerts.yml every
 * second. Read back over Prometheus's HTTP API: the scraped figures match what the fleet did, and the
 * tamper alert fires. Skips without /usr/bin/prometheus.
 */
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { MemoryEventQueue } from '../../agent/daemon/event-queue.js';
import { EventPublisher, type DaemonEvents } from '../../agent/daemon/events.js';
import { MqttTransport } from '../../agent/transport/mqtt-transport.js';
import { systemClock } from '../../base/clock.js';
import { FleetExporter } from '../../carrier/metrics/exporter.js';
import { freePort, TestBroker, tlsOf } from '../helpers/mosquitto.js';
import { TestPki, type TestIdentity } from '../helpers/pki.js';
import { ownTempDir } from '../helpers/tempdir.js';
import { waitFor } from '../helpers/wait.js';

const PROMETHEUS = '/usr/bin/prometheus';
const RULES = fileURLToPath(new URL('../../carrier/metrics/alerts.yml', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const logger = pino({ level: process.env.H7_DEBUG ? 'warn' : 'silent' });

/** One simulated kiosk: the agent's transport and event publisher, a bus the test emits on, a clock it can move. */
class SimKiosk {
  readonly bus = new EventEmitter<DaemonEvents>();
  /** Added to the wall time of the events (to make a session last a known time without waiting). */
  offsetMs = 0;
  readonly transport: MqttTransport;
  readonly publisher: EventPublisher;

  constructor(
    readonly id: TestIdentity,
    url: string,
    pki: TestPki,
  ) {
    this.transport = new MqttTransport({ options: { url, deviceId: id.cn, ...tlsOf(pki, id), backoff: { baseMs: 100, capMs: 1000 } }, logger });
    this.publisher = new EventPublisher({
      bus: this.bus,
      transport: this.transport,
      queue: new MemoryEventQueue(),
      logger,
      clock: { ...systemClock, wallNow: () => Date.now() + this.offsetMs },
    });
  }

  async start(): Promise<void> {
    this.publisher.start();
    await this.transport.start();
    await waitFor(`${this.id.cn} online`, () => this.transport.online, 10_000);
  }

  /** Emits the events and waits until each has its PUBACK. */
  async emit(...events: { [K in keyof DaemonEvents]: [K, ...DaemonEvents[K]] }[keyof DaemonEvents][]): Promise<void> {
    for (const [name, payload] of events) (this.bus as EventEmitter).emit(name, payload);
    await waitFor(`${this.id.cn} events sent`, async () => {
      await this.publisher.idle();
      return this.publisher.queued === 0;
    });
  }

  async telemetry(o: { outboxDepth: number; inService: boolean }): Promise<void> {
    await this.transport.telemetry({ ...o, healthy: true, fps: 15, certificateNotAfter: this.id.certificate.notAfter.toISOString() });
  }

  async stop(): Promise<void> {
    await this.publisher.stop();
    await this.transport.stop();
  }
}

/** Starts Prometheus on a free loopback port with a temp config and storage; resolves once it is ready. */
async function startPrometheus(dir: string, target: string): Promise<{ api: string; child: ChildProcess; output: () => string }> {
  const port = await freePort();
  const config = join(dir, 'prometheus.yml');
  writeFileSync(
    config,
    [
      'global: { scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s }',
      `rule_files: [${JSON.stringify(RULES)}]`,
      'scrape_configs:',
      `  - { job_name: kiosk-fleet, static_configs: [{ targets: [${JSON.stringify(target)}] }] }`,
      '',
    ].join('\n'),
  );
  const child = spawn(PROMETHEUS, [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${port}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d) => (out += String(d)));
  child.stderr?.on('data', (d) => (out += String(d)));
  const api = `http://127.0.0.1:${port}`;
  await waitFor(
    'prometheus ready',
    async () =>
      child.exitCode === null &&
      (await fetch(`${api}/-/ready`).then(
        (r) => r.ok,
        () => false,
      )),
    { timeoutMs: 20_000, intervalMs: 200, detail: () => out.slice(-2000) },
  );
  return { api, child, output: () => out };
}

t.test(
  'Prometheus scrapes the exporter during a fleet simulation and fires the tamper alert',
  { skip: existsSync(PROMETHEUS) ? false : `${PROMETHEUS} absent (apt-get install prometheus)` },
  async (t) => {
    const started = Date.now();
    const dir = ownTempDir(t, 'fleet-metrics-');
    const pki = await TestPki.create(join(dir, 'pki'));
    const ids = await Promise.all(['kiosk-001', 'kiosk-002', 'kiosk-003', 'kiosk-004'].map((cn) => pki.issue(cn)));
    const service = await pki.issue('carrier-metrics', 'service');
    const stranger = await pki.issue('kiosk-099');
    const cliService = await pki.issue('carrier-metrics-cli', 'service');
    // The exporter has the monitor role: status, telemetry and events only.
    const broker = await TestBroker.start(pki, join(dir, 'broker'), {
      devices: [...ids.map((i) => i.cn), 'kiosk-099'],
      monitors: ['carrier-metrics', 'carrier-metrics-cli'],
    });
    t.teardown(() => broker.stop());

    const exporter = new FleetExporter({ options: { url: broker.url, ...tlsOf(pki, service), clientId: 'carrier-metrics', listen: { port: 0 } }, logger });
    await exporter.start();
    t.teardown(() => exporter.stop());
    t.equal(exporter.address.host, '127.0.0.1', '/metrics on loopback by default');

    const prom = await startPrometheus(dir, `127.0.0.1:${exporter.address.port}`);
    t.teardown(async () => {
      prom.child.kill('SIGTERM');
      if (prom.child.exitCode === null) await new Promise((r) => prom.child.once('exit', r));
    });

    const [k1, k2, k3, k4] = ids.map((id) => new SimKiosk(id, broker.url, pki));
    const kiosks = [k1, k2, k3, k4];
    t.teardown(() => Promise.all(kiosks.map((k) => k.stop())));
    await Promise.all(kiosks.map((k) => k.start()));
    await Promise.all(kiosks.map((k, i) => k.telemetry({ outboxDepth: i, inService: true })));

    // What the fleet does: two sessions (an accept with a dispense, a presentation attack), a tamper
    // that takes kiosk-003 out of service, an update on kiosk-004 which then goes offline, a bad payload.
    await k1.emit(['session_started', { sessionId: 'sess-a', trigger: 'presence', nonceSource: 'carrier', steps: 3 }]);
    k1.offsetMs = 7000;
    await k1.emit(
      ['session_finished', { sessionId: 'sess-a', jti: 'jti-a', verdict: 'accept', reasons: [], cancelReason: null }],
      ['dispense_started', { jti: 'jti-a' }],
      ['dispensed', { jti: 'jti-a', confirmMs: 900 }],
    );
    await k2.emit(['session_started', { sessionId: 'sess-b', trigger: 'command', nonceSource: 'carrier', steps: 3 }]);
    k2.offsetMs = 25_000;
    await k2.emit(['session_finished', { sessionId: 'sess-b', jti: 'jti-b', verdict: 'reject', reasons: ['presentation_attack'], cancelReason: null }]);
    await k3.emit(['tamper', { open: true }], ['out_of_service', { reason: 'tamper' }]);
    await k3.telemetry({ outboxDepth: 2, inService: false });
    await k4.emit(['update', { jobId: 'job-00000001', kind: 'agent', version: 2, state: 'committed' }]);
    await k4.stop();
    await k1.transport.publish(k1.transport.topics.events, '{"type":"session_finished","verdict":', { qos: 1 });

    const query = async (expr: string): Promise<number | undefined> => {
      const r = (await (await fetch(`${prom.api}/api/v1/query?query=${encodeURIComponent(expr)}`)).json()) as {
        data: { result: { value: [number, string] }[] };
      };
      return r.data.result.length === 1 ? Number(r.data.result[0].value[1]) : undefined;
    };
    const expected: [string, number][] = [
      ['count(kiosk_fleet_kiosk_online)', 4],
      ['sum(kiosk_fleet_kiosk_online)', 3],
      ['kiosk_fleet_kiosk_online{kiosk="kiosk-004"}', 0],
      ['kiosk_fleet_sessions_total{verdict="accept"}', 1],
      ['kiosk_fleet_sessions_total{verdict="reject"}', 1],
      ['kiosk_fleet_session_reasons_total{verdict="reject",reason="presentation_attack"}', 1],
      ['kiosk_fleet_presentation_attack_rejects_total', 1],
      ['kiosk_fleet_time_to_verdict_seconds_bucket{verdict="accept",le="5"}', 0],
      ['kiosk_fleet_time_to_verdict_seconds_bucket{verdict="accept",le="10"}', 1],
      ['kiosk_fleet_time_to_verdict_seconds_bucket{verdict="reject",le="20"}', 0],
      ['kiosk_fleet_time_to_verdict_seconds_bucket{verdict="reject",le="30"}', 1],
      ['kiosk_fleet_dispenses_total{outcome="dispensed"}', 1],
      ['kiosk_fleet_kiosk_tamper_open{kiosk="kiosk-003"}', 1],
      ['kiosk_fleet_tamper_alarms_total{kiosk="kiosk-003"}', 1],
      ['sum(kiosk_fleet_tamper_alarms_total)', 1],
      ['kiosk_fleet_kiosk_in_service{kiosk="kiosk-003"}', 0],
      ['sum(kiosk_fleet_kiosk_in_service)', 3],
      ['kiosk_fleet_outbox_pending{kiosk="kiosk-002"}', 1],
      ['kiosk_fleet_update_reports_total{kind="agent",state="committed"}', 1],
      ['kiosk_fleet_events_total{type="dispense_started"}', 1],
      ['kiosk_fleet_malformed_messages_total{topic_kind="events",code="not_json"}', 1],
      ['kiosk_fleet_exporter_broker_connected', 1],
    ];
    let last: string[] = [];
    await waitFor(
      'Prometheus to have scraped what the fleet did',
      async () => {
        const got = await Promise.all(expected.map(async ([e]) => query(e)));
        last = expected.flatMap(([e, v], i) => (got[i] === v ? [] : [`${e}: want ${v}, got ${got[i]}`]));
        return last.length === 0;
      },
      { timeoutMs: 20_000, intervalMs: 500, detail: () => last.join('; ') },
    );
    for (const [e, v] of expected) t.equal(await query(e), v, e);
    const left = await query('kiosk_fleet_certificate_expiry_seconds{kiosk="kiosk-001"}');
    const want = (ids[0].certificate.notAfter.getTime() - Date.now()) / 1000;
    t.ok(left !== undefined && Math.abs(left - want) < 30, `certificate seconds left from the kiosk's telemetry (${left} vs ${Math.round(want)})`);

    type Alert = { labels: Record<string, string>; state: string };
    let alerts: Alert[] = [];
    await waitFor(
      'the tamper alert firing',
      async () => {
        alerts = ((await (await fetch(`${prom.api}/api/v1/alerts`)).json()) as { data: { alerts: Alert[] } }).data.alerts;
        return alerts.some((a) => a.labels.alertname === 'KioskTamperAlarm' && a.state === 'firing');
      },
      { timeoutMs: 15_000, intervalMs: 500, detail: () => JSON.stringify(alerts) },
    );
    const tamper = alerts.filter((a) => a.labels.alertname === 'KioskTamperAlarm');
    t.same(
      tamper.map((a) => [a.labels.kiosk, a.labels.severity, a.state]),
      [['kiosk-003', 'critical', 'firing']],
      'KioskTamperAlarm fires for kiosk-003 only',
    );
    const oos = alerts.filter((a) => a.labels.alertname === 'KioskOutOfService');
    // Pending: it fires after 1 min (alerts.test.yml shows it firing); firing only on a machine slow enough to get here after that.
    t.same(
      oos.map((a) => [a.labels.kiosk, a.state === 'firing' ? 'pending' : a.state]),
      [['kiosk-003', 'pending']],
      `KioskOutOfService is active for kiosk-003 only (${oos.map((a) => a.state).join(',')})`,
    );
    t.notMatch(prom.output(), /level=error/, 'Prometheus logged no error (rules loaded, scrapes fine)');
    const runMs = Date.now() - started;
    t.comment(`fleet metrics with Prometheus: ${runMs} ms`);

    // A service without a role that reads the fleet is refused at SUBSCRIBE, with a coded error.
    const refused = new FleetExporter({ options: { url: broker.url, ...tlsOf(pki, stranger), clientId: 'kiosk-099', listen: { port: 0 } }, logger });
    await t.rejects(refused.start(), { code: 'E_NOT_AUTHORIZED' }, 'a kiosk certificate cannot run the exporter (SUBACK 0x87)');

    // The command line (`npm run carrier -- metrics`): ready line, /metrics with the retained statuses, clean stop on SIGTERM.
    const port = await freePort();
    const cli = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'carrier/cli/main.ts',
        'metrics',
        '--broker',
        broker.url,
        '--ca',
        pki.caPath,
        '--cert',
        cliService.certPath,
        '--key',
        cliService.keyPath,
        ...['--client-id', 'carrier-metrics-cli', '--listen', `127.0.0.1:${port}`],
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let cliOut = '';
    cli.stdout?.on('data', (d) => (cliOut += String(d)));
    cli.stderr?.on('data', (d) => (cliOut += String(d)));
    const exited = new Promise<number | null>((r) => cli.once('exit', (code) => r(code)));
    t.teardown(() => cli.kill('SIGKILL'));
    await waitFor('the metrics command ready', () => cliOut.includes('"ready":true'), { timeoutMs: 20_000, detail: () => cliOut });
    t.match(cliOut, `"metrics":"http://127.0.0.1:${port}/metrics"`);
    const text = await waitFor('kiosk statuses on /metrics', async () => {
      const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      return /kiosk_fleet_kiosk_online\{kiosk="kiosk-001"\} 1/.test(body) && body;
    });
    t.match(text, /kiosk_fleet_kiosk_online\{kiosk="kiosk-004"\} 0/, 'retained statuses reach a newly started exporter');
    t.equal((await fetch(`http://127.0.0.1:${port}/other`)).status, 404, 'only /metrics is served');
    cli.kill('SIGTERM');
    t.equal(await exited, 0, 'exits 0 on SIGTERM');
  },
);
