// The CLI's start-up cost is set by what `register()` of every command imports (all commands are
// registered on every run). This checks the structure, not a time: printing help must not load the
// inference runtimes, image/video decoders, MQTT, SQLite, PKCS#11, the config validator, the logger or
// anything under provisioning/.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ownTempDir } from '../helpers/tempdir.js';

const HEAVY = [
  /node_modules\/onnxruntime/,
  /node_modules\/@tensorflow\//,
  /node_modules\/sharp\//,
  /node_modules\/mqtt\//,
  /node_modules\/better-sqlite3\//,
  /node_modules\/pkcs11js\//,
  /node_modules\/ajv\//,
  /node_modules\/pino\//,
  /\/provisioning\//,
  /\/models\/face-engine/,
];

for (const args of [['--help'], ['eval', '--help'], ['provision', '--help']]) {
  t.test(`kiosk-agent ${args.join(' ')} loads no heavy module`, async (t) => {
    const dir = ownTempDir(t, 'cli-startup-');
    const record = join(dir, 'imports.txt');
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--import', './test/fixtures/hooks/record-imports.mjs', 'agent/cli/main.ts', ...args], {
      encoding: 'utf8',
      env: { ...process.env, KIOSK_RECORD_IMPORTS: record },
    });
    t.equal(r.status, 0, r.stderr);
    t.match(r.stdout, /Usage: kiosk-agent/);
    const urls = readFileSync(record, 'utf8').trim().split('\n');
    t.ok(
      urls.some((u) => u.includes('/agent/cli/commands')),
      'the hook saw the command modules load',
    );
    const heavy = urls.filter((u) => HEAVY.some((re) => re.test(u)));
    t.same(heavy, [], 'no heavy module loaded');
  });
}

t.test('the carrier tools are a program of their own, not a kiosk-agent command', async (t) => {
  const carrier = spawnSync(process.execPath, ['--import', 'tsx', 'carrier/cli/main.ts', '--help'], { encoding: 'utf8' });
  t.equal(carrier.status, 0, carrier.stderr);
  t.match(carrier.stdout, /Usage: kiosk-carrier/);
  t.match(carrier.stdout, /sign-csr/);
  const kiosk = spawnSync(process.execPath, ['--import', 'tsx', 'agent/cli/main.ts', 'carrier', 'ca', 'init'], { encoding: 'utf8' });
  t.not(kiosk.status, 0, 'kiosk-agent has no carrier command');
  t.match(kiosk.stderr, /unknown command 'carrier'/);
});
