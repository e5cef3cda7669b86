/**
 * Fleet benchmark (not a test): N kiosks (default 500) with their own certificates publish M signed
 * results each over mutual TLS to a local mosquitto; V verifier processes consume them through the
 * MQTT 5 shared subscription. Reports connected devices, results verified per second (median of
 * the per-second counts over the run), CPU seconds of the simulator, the verifiers and mosquitto,
 * lost results (must be 0) and duplicates.
 *
 * With one attacker (a stolen kiosk certificate, sim/attacker.ts) trying every broker-level attack
 * during the run; it must fail every time and no kiosk may lose its connection.
 *
 *   npm run bench:fleet -- [--devices 500] [--results 20] [--verifiers 2] [--no-attacker]
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { runFleet } from '../sim/fleet.js';

const { values } = parseArgs({
  options: {
    devices: { type: 'string', default: '500' },
    results: { type: 'string', default: '20' },
    verifiers: { type: 'string', default: '2' },
    'no-attacker': { type: 'boolean', default: false },
  },
});
const devices = Number(values.devices);
const results = Number(values.results);
const verifiers = Number(values.verifiers);

// Each kiosk is one TLS socket in this process and one in mosquitto (which inherits this limit).
const limits = readFileSync('/proc/self/limits', 'utf8').match(/Max open files\s+(\d+)/);
const nofile = limits ? Number(limits[1]) : undefined;
if (nofile !== undefined && nofile < devices + 256) {
  process.stderr.write(`open-file limit ${nofile} is too low for ${devices} devices: raise it (ulimit -n ${devices + 1024})\n`);
  process.exit(2);
}

const dir = mkdtempSync(join(tmpdir(), 'kiosk-bench-fleet-'));
chmodSync(dir, 0o755);
try {
  const r = await runFleet({ devices, results, verifiers, dir, logger: pino({ level: 'warn' }), attacker: !values['no-attacker'] });
  const a = r.attacks;
  const attackLine = a
    ? Object.keys(a.tried)
        .map((k) => `${k} ${a.succeeded[k as keyof typeof a.tried]}/${a.tried[k as keyof typeof a.tried]}`)
        .join(', ')
    : 'none (--no-attacker)';
  const attacksSucceeded = a ? Object.values(a.succeeded).reduce((x, y) => x + y, 0) : 0;
  const cpuTotal = r.cpuSeconds.simulator + r.cpuSeconds.verifiers.reduce((a, b) => a + b, 0) + (r.cpuSeconds.mosquitto ?? 0);
  const lines = [
    `fleet benchmark: ${devices} devices x ${results} results, ${verifiers} verifiers, ${cpus().length} cores, open-file limit ${nofile ?? '?'}`,
    `  setup           pki ${r.setupMs.pki} ms, broker ${r.setupMs.broker} ms, connect ${r.setupMs.connect} ms`,
    `  connected       ${r.connected}/${r.devices}`,
    `  verified        ${r.verified}/${r.results} in ${(r.runMs / 1000).toFixed(1)} s (per verifier ${r.perVerifier.join(' / ')})`,
    `  verified/s      median ${r.verifiedPerSecond.median}, mean ${r.verifiedPerSecond.mean}`,
    `  CPU seconds     simulator ${r.cpuSeconds.simulator.toFixed(2)}, verifiers ${r.cpuSeconds.verifiers.map((c) => c.toFixed(2)).join(' + ')}, mosquitto ${r.cpuSeconds.mosquitto?.toFixed(2) ?? '?'} (total ${cpuTotal.toFixed(2)} over ${(r.runMs / 1000).toFixed(1)} s)`,
    `  lost            ${r.lost}`,
    `  duplicates      ${r.duplicates}`,
    `  rejected        ${r.rejected}${r.rejectReasons.length ? ` (${r.rejectReasons.join('; ')})` : ''}`,
    `  kiosk drops     ${r.kioskDrops}`,
    `  attacks         succeeded/tried: ${attackLine}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n${JSON.stringify(r)}\n`);
  if (r.lost > 0 || r.rejected > 0 || r.connected < r.devices || r.kioskDrops > 0 || attacksSucceeded > 0) process.exitCode = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
