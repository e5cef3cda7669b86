/**
 * The unit files pass `systemd-analyze verify` (with /usr/lib/kiosk-agent templated to a temp dir holding
 * a stand-in executable, since verify checks that ExecStart exists), and their exposure score from
 * `systemd-analyze security --offline=yes` is printed for the README.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';

const UNITS = ['kiosk-agent.service', 'kiosk-agent-provision.service'];
const analyze = spawnSync('sh', ['-c', 'command -v systemd-analyze'], { encoding: 'utf8' }).stdout.trim();

if (!analyze) {
  t.skip('systemd-analyze is not installed (Debian package systemd)', () => {});
} else {
  const dir = mkdtempSync(join(tmpdir(), 'units-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'bin'));
  for (const bin of ['kiosk-agent', 'kiosk-agent-exec']) {
    writeFileSync(join(dir, 'bin', bin), '#!/bin/sh\nexit 0\n');
    chmodSync(join(dir, 'bin', bin), 0o755);
  }
  for (const u of UNITS) writeFileSync(join(dir, u), readFileSync(join('systemd', u), 'utf8').replaceAll('/usr/lib/kiosk-agent', dir));
  const version = Number(/systemd (\d+)/.exec(execFileSync(analyze, ['--version'], { encoding: 'utf8' }))?.[1] ?? 0);

  t.test('systemd-analyze verify accepts both units without a warning', async (t) => {
    const r = spawnSync(analyze, ['verify', ...UNITS.map((u) => join(dir, u))], { encoding: 'utf8', cwd: dir });
    t.equal(r.status, 0, `exit 0 (${r.stderr.trim() || 'no output'})`);
    t.equal(r.stderr.trim(), '', 'nothing printed');
  });

  t.test('the main unit has the hardening the design asks for', async (t) => {
    const unit = readFileSync('systemd/kiosk-agent.service', 'utf8');
    const has = (line: string) => t.match(unit, new RegExp(`^${line.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'), line);
    for (const line of [
      'Type=notify',
      'WatchdogSec=30s',
      'Restart=on-failure',
      'RestartForceExitStatus=75',
      'StartLimitIntervalSec=300',
      'StartLimitBurst=5',
      'User=kiosk-agent',
      'NoNewPrivileges=yes',
      'ProtectSystem=strict',
      'ProtectHome=yes',
      'PrivateTmp=yes',
      'StateDirectory=kiosk-agent',
      'ReadWritePaths=/var/lib/kiosk-agent',
      'DevicePolicy=closed',
      'DeviceAllow=char-video4linux rw',
      'DeviceAllow=char-gpiochip rw',
      'SupplementaryGroups=video gpio',
      'CapabilityBoundingSet=',
      'AmbientCapabilities=',
    ])
      has(line);
    t.notMatch(unit, /^MemoryDenyWriteExecute=yes/m, 'no MemoryDenyWriteExecute (breaks the V8 JIT)');
    t.match(readFileSync('systemd/kiosk-agent-provision.service', 'utf8'), /^ConditionPathExists=!\/var\/lib\/kiosk-agent\/device\.crt$/m);
  });

  t.test('exposure score (systemd-analyze security --offline=yes)', { skip: version < 250 ? `systemd ${version} has no --offline` : false }, async (t) => {
    for (const u of UNITS) {
      const r = spawnSync(analyze, ['security', '--offline=yes', join(dir, u)], { encoding: 'utf8', cwd: dir });
      const m = /Overall exposure level for \S+: ([\d.]+) (\w+)/.exec(r.stdout);
      t.ok(m, `score printed for ${u}`);
      if (!m) continue;
      t.comment(`systemd-analyze security --offline=yes ${u} (systemd ${version}): ${m[1]} ${m[2]}`);
      t.ok(Number(m[1]) <= 2.5, `${u}: exposure ${m[1]} ${m[2]}`);
    }
  });
}
