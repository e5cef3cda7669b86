/**
 * sd_notify through the real systemd-notify tool into a real unix datagram socket, bound by a small
 * Python receiver (Node cannot bind one) that prints each datagram as a JSON line.
 */
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import t from 'tap';
import { SystemdNotifier } from '../../device/systemd/notify.js';
import { NOTIFY_RECEIVER } from '../helpers/service-manager.js';

const has = (cmd: string) => {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

t.test('without NOTIFY_SOCKET every call is a no-op', async (t) => {
  const n = new SystemdNotifier({ env: {} });
  t.notOk(n.enabled);
  t.equal(await n.ready('up'), false);
  t.equal(n.watchdogIntervalMs(), undefined);
});

t.test('watchdog interval is half of WATCHDOG_USEC, only for our PID', async (t) => {
  t.equal(new SystemdNotifier({ env: { WATCHDOG_USEC: '20000000' } }).watchdogIntervalMs(), 10_000);
  t.equal(new SystemdNotifier({ env: { WATCHDOG_USEC: '20000000', WATCHDOG_PID: '42' }, pid: 42 }).watchdogIntervalMs(), 10_000);
  t.equal(new SystemdNotifier({ env: { WATCHDOG_USEC: '20000000', WATCHDOG_PID: '43' }, pid: 42 }).watchdogIntervalMs(), undefined);
});

t.test(
  'READY, STATUS, WATCHDOG and STOPPING reach a real notify socket, in order',
  { skip: !has('systemd-notify') || !has('python3') ? 'needs systemd-notify and python3' : false },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'notify-'));
    const socket = join(dir, 'notify.sock');
    const rx = spawn('python3', ['-c', NOTIFY_RECEIVER, socket], { stdio: ['ignore', 'pipe', 'inherit'] });
    t.teardown(() => {
      rx.kill();
      rmSync(dir, { recursive: true, force: true });
    });
    const lines: string[] = [];
    const waiters: Array<() => void> = [];
    createInterface({ input: rx.stdout! }).on('line', (l) => {
      lines.push(JSON.parse(l) as string);
      waiters.splice(0).forEach((w) => w());
    });
    // Python may take seconds to start on a loaded machine: wait up to 15 s for the socket (not a timing assertion).
    for (let i = 0; i < 750 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 20));
    t.ok(existsSync(socket), 'receiver bound');
    const n = new SystemdNotifier({ env: { NOTIFY_SOCKET: socket, PATH: process.env.PATH }, pid: process.pid });
    t.ok(n.enabled);
    t.equal(await n.ready('camera 30 fps, broker online'), true);
    await Promise.all([n.watchdog(), n.watchdog(), n.status('line one\nline two')]);
    await n.stopping();
    const messages = () => lines.filter((l) => !l.startsWith('BARRIER=')); // systemd-notify waits for PID 1 with a barrier message
    while (messages().length < 4) await new Promise<void>((r) => waiters.push(r));
    const parsed = messages().map((m) =>
      Object.fromEntries(
        m
          .split('\n')
          .filter(Boolean)
          .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
      ),
    );
    t.match(parsed[0], { READY: '1', STATUS: 'camera 30 fps, broker online', MAINPID: String(process.pid) });
    t.match(parsed[1], { WATCHDOG: '1' });
    t.match(parsed[2], { STATUS: 'line one line two' }, 'the second watchdog ping was coalesced; newlines cannot split a field');
    t.match(parsed[3], { STOPPING: '1' });
    t.equal(parsed.length, 4);
  },
);

t.test('a missing systemd-notify is a coded error', async (t) => {
  const n = new SystemdNotifier({ env: { NOTIFY_SOCKET: '/nonexistent.sock' }, systemdNotifyPath: '/nonexistent/systemd-notify' });
  await t.rejects(n.ready(), { code: 'E_DEVICE', message: /systemd-notify not found/ });
});
