/**
 * Fleet benchmark (not a test): N kiosks (default 500) with their own certificates publish M signed
 * results each over mutual TLS to a local mosquitto; V verifier processes, each standing for a host
 * with its own certificate, consume them through the MQTT 5 shared subscription and share one carrier
 * store: `--store sqlite` (today's SQLite files, one host; the default) or `--store postgres` (a
 * throwaway PostgreSQL cluster started here, or `--pg-url`). During the run one host is SIGKILLed and
 * started again (`--no-kill`: not), a replaying attacker hands captured results to several hosts at
 * once (`--replays`, default 1000), and an attacker with a stolen kiosk certificate tries every
 * broker-level attack (`--no-attacker`: not). Prints connected kiosks, verified per second (median of
 * the per-second counts), lost, duplicates (accepted twice), replays accepted, what the replays were
 * rejected as, the store's own audit, CPU seconds, then one JSON summary line. Exits 1 on any loss,
 * double acceptance, accepted replay, rejection, kiosk drop or successful attack.
 *
 *   npm run bench:fleet -- [--kiosks 500] [--results 20] [--verifiers 2] [--store sqlite|postgres] [--pg-url URL]
 *                          [--replays 1000] [--no-kill] [--no-attacker] [--separate-store N]
 *
 * `--separate-store N` (SQLite only) gives host N (1-based) its own copy of the store, as separate
 * hosts each with their own file would have: it shows what the shared store prevents (replays accepted).
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { runFleet, type FleetReport } from '../sim/fleet.js';
import type { StoreSpec } from '../carrier/store/types.js';
import { hasPostgres, noPostgresReason, startPostgres, type TestPostgres } from '../test/helpers/postgres.js';

const { values } = parseArgs({
  options: {
    kiosks: { type: 'string' },
    devices: { type: 'string' },
    results: { type: 'string', default: '20' },
    verifiers: { type: 'string', default: '2' },
    store: { type: 'string', default: 'sqlite' },
    'pg-url': { type: 'string' },
    replays: { type: 'string', default: '1000' },
    'no-kill': { type: 'boolean', default: false },
    'no-attacker': { type: 'boolean', default: false },
    'separate-store': { type: 'string' },
  },
});
const num = (name: string, v: string | undefined, min: number): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) {
    process.stderr.write(`--${name} must be an integer >= ${min}\n`);
    process.exit(2);
  }
  return n;
};
const devices = num('kiosks', values.kiosks ?? values.devices ?? '500', 1);
const results = num('results', values.results, 1);
const verifiers = num('verifiers', values.verifiers, 1);
const replays = num('replays', values.replays, 0);
const separate = values['separate-store'] !== undefined ? num('separate-store', values['separate-store'], 1) - 1 : undefined;
if (values.store !== 'sqlite' && values.store !== 'postgres') {
  process.stderr.write('--store is sqlite or postgres\n');
  process.exit(2);
}
if (separate !== undefined && (values.store !== 'sqlite' || separate >= verifiers)) {
  process.stderr.write('--separate-store N needs --store sqlite and N <= --verifiers\n');
  process.exit(2);
}

// Each kiosk is one TLS socket in this process and one in mosquitto (which inherits this limit).
const limits = readFileSync('/proc/self/limits', 'utf8').match(/Max open files\s+(\d+)/);
const nofile = limits ? Number(limits[1]) : undefined;
if (nofile !== undefined && nofile < devices + 256) {
  process.stderr.write(`open-file limit ${nofile} is too low for ${devices} devices: raise it (ulimit -n ${devices + 1024})\n`);
  process.exit(2);
}

const wall0 = Date.now();
// The machine is shared: the 1-minute load average before and after says how much else ran.
const loadBefore = loadavg()[0];
let loadAfter = loadBefore;
const dir = mkdtempSync(join(tmpdir(), 'kiosk-bench-fleet-'));
chmodSync(dir, 0o755);
let pg: TestPostgres | undefined;
try {
  let store: StoreSpec | undefined;
  let storeLine = 'sqlite (SQLite files on this host, shared by the verifier processes)';
  if (values.store === 'postgres') {
    if (values['pg-url']) {
      store = { kind: 'postgres', url: values['pg-url'] };
      storeLine = 'postgres (--pg-url)';
    } else {
      if (!hasPostgres) throw new Error(noPostgresReason);
      pg = await startPostgres(join(dir, 'postgres'));
      store = { kind: 'postgres', url: pg.url };
      storeLine = 'postgres (a throwaway cluster on 127.0.0.1, fsync on)';
    }
  }
  const r = await runFleet({
    devices,
    results,
    verifiers,
    dir,
    store,
    logger: pino({ level: 'warn' }),
    attacker: !values['no-attacker'],
    killAt: values['no-kill'] ? undefined : 0.3,
    replays,
    separateStoreFor: separate,
  });
  const wallMs = Date.now() - wall0;
  loadAfter = loadavg()[0];
  process.stdout.write(`${format(r, storeLine, wallMs).join('\n')}\n${JSON.stringify(summary(r, wallMs))}\n`);
  if (failed(r)) process.exitCode = 1;
} finally {
  await pg?.stop();
  rmSync(dir, { recursive: true, force: true });
}

function attacksSucceeded(r: FleetReport): number {
  return r.attacks ? Object.values(r.attacks.succeeded).reduce((x, y) => x + y, 0) : 0;
}

function failed(r: FleetReport): boolean {
  const auditOther = Object.values(r.audit.other).reduce((a, b) => a + b, 0);
  return (
    r.lost > 0 ||
    r.duplicates > 0 ||
    (r.replays?.accepted ?? 0) > 0 ||
    r.rejected > 0 ||
    r.connected < r.devices ||
    r.kioskDrops > 0 ||
    attacksSucceeded(r) > 0 ||
    r.audit.notConsumed > 0 ||
    auditOther > 0
  );
}

/** The human-readable lines. */
function format(r: FleetReport, storeLine: string, wallMs: number): string[] {
  const a = r.attacks;
  const attackLine = a
    ? Object.keys(a.tried)
        .map((k) => `${k} ${a.succeeded[k as keyof typeof a.tried]}/${a.tried[k as keyof typeof a.tried]}`)
        .join(', ')
    : 'none (--no-attacker)';
  const cpuTotal = r.cpuSeconds.simulator + r.cpuSeconds.verifiers.reduce((x, y) => x + y, 0) + (r.cpuSeconds.mosquitto ?? 0);
  const k = r.kill;
  const rp = r.replays;
  const outcomes = rp
    ? Object.entries(rp.outcomes)
        .sort((x, y) => y[1] - x[1])
        .map(([name, n]) => `${name} ${n}`)
        .join(', ')
    : '';
  const other = Object.entries(r.audit.other).map(([name, n]) => `${name} ${n}`);
  return [
    `fleet benchmark: ${r.devices} kiosks x ${r.results / r.devices} results, ${r.verifiers} verifier hosts, store ${storeLine}, ${cpus().length} cores, open-file limit ${nofile ?? '?'}`,
    `  setup           pki ${r.setupMs.pki} ms, broker ${r.setupMs.broker} ms, connect ${r.setupMs.connect} ms`,
    `  connected       ${r.connected}/${r.devices}`,
    `  verified        ${r.verified}/${r.results} in ${(r.runMs / 1000).toFixed(1)} s (accepted per host ${r.perVerifier.join(' / ')})`,
    `  verified/s      median ${r.verifiedPerSecond.median}, mean ${r.verifiedPerSecond.mean}`,
    `  CPU seconds     simulator ${r.cpuSeconds.simulator.toFixed(2)}, verifiers ${r.cpuSeconds.verifiers.map((c) => c.toFixed(2)).join(' + ')}, mosquitto ${r.cpuSeconds.mosquitto?.toFixed(2) ?? '?'} (total ${cpuTotal.toFixed(2)} over ${(r.runMs / 1000).toFixed(1)} s)`,
    `  lost            ${r.lost}`,
    `  duplicates      ${r.duplicates} (results accepted more than once, any host, any path)`,
    `  redelivered     ${r.redelivered} (deliveries the store found consumed by the same result: acknowledged, not accepted again)`,
    `  rejected        ${r.rejected}${r.rejectReasons.length ? ` (${r.rejectReasons.join('; ')})` : ''}`,
    k
      ? `  kill            verifier-${k.slot + 1} SIGKILLed at ${(k.atMs / 1000).toFixed(1)} s (${k.verifiedBefore} verified), ${k.subscribed ? 'subscribed again' : 'NOT subscribed yet (it kept trying)'} ${(k.downMs / 1000).toFixed(1)} s later (its start: ${(k.startMs / 1000).toFixed(1)} s), then accepted ${k.acceptedAfterRestart}${k.error ? ` (${k.error})` : ''}`
      : '  kill            none (--no-kill)',
    rp
      ? `  replays         ${rp.tokens} captured results (${rp.inFlight} captured in flight), ${rp.copies} copies (${rp.tokens ? rp.copies / rp.tokens : 0} of each, handed over at once, to ${Math.min(r.verifiers, rp.tokens ? rp.copies / rp.tokens : 0)} different hosts when ${r.verifiers > 1 ? 'all are' : 'it is'} up); outcomes: ${outcomes}`
      : '  replays         none (--replays 0)',
    rp
      ? `  replays accepted ${rp.accepted} (${rp.firstAcceptedByCopy} in-flight results were first accepted through a copy, their kiosk's own delivery then found them consumed: ${rp.preempted})`
      : '  replays accepted 0 (none sent)',
    `  store audit     ${r.audit.consumed}/${r.results} nonces consumed by their own result, ${r.audit.notConsumed} not consumed${other.length ? `, ${other.join(', ')}` : ''}`,
    `  kiosk drops     ${r.kioskDrops}`,
    `  attacks         succeeded/tried: ${attackLine}`,
    `  wall time       ${(wallMs / 1000).toFixed(1)} s (setup, run, audit), load average ${loadBefore.toFixed(1)} before, ${loadAfter.toFixed(1)} after`,
  ];
}

/** The machine-readable summary line. */
function summary(r: FleetReport, wallMs: number) {
  return {
    bench: 'fleet',
    kiosks: r.devices,
    results: r.results,
    verifiers: r.verifiers,
    store: r.store,
    connected: r.connected,
    verified: r.verified,
    verifiedPerSecondMedian: r.verifiedPerSecond.median,
    verifiedPerSecondMean: r.verifiedPerSecond.mean,
    runMs: r.runMs,
    wallMs,
    loadAverage: [loadBefore, loadAfter],
    lost: r.lost,
    duplicates: r.duplicates,
    redelivered: r.redelivered,
    rejected: r.rejected,
    replaysAccepted: r.replays?.accepted ?? 0,
    replays: r.replays ?? null,
    kill: r.kill ?? null,
    audit: r.audit,
    kioskDrops: r.kioskDrops,
    attacksSucceeded: attacksSucceeded(r),
    cpuSeconds: r.cpuSeconds,
    ok: !failed(r),
  };
}
