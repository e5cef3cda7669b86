/**
 * `carrier verifier-service` on two "hosts" (two processes, two service certificates) sharing one
 * PostgreSQL store and the broker's shared subscription: every result a kiosk publishes is accepted
 * exactly once, even when a thief holding captured tokens published them first under his own kiosk
 * certificate; the same results published again are never accepted a second time; a host without the
 * verifier role is refused by the broker; a host with no CA key still verifies.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import mqtt from 'mqtt';
import t from 'tap';
import { openCarrierStores } from '../../carrier/store/open.js';
import { ResultSigner } from '../../provisioning/result-signer.js';
import { TestBroker, tlsOf } from '../helpers/mosquitto.js';
import { hasPostgres, noPostgresReason, startPostgres } from '../helpers/postgres.js';
import { TestPki } from '../helpers/pki.js';
import { ownTempDir } from '../helpers/tempdir.js';
import { waitFor } from '../helpers/wait.js';

const RESULTS = 40;

interface Line {
  ready?: boolean;
  status?: string;
  jti?: string;
  reason?: string;
  instance?: string;
}

t.test(
  'verifier-service: two hosts, one PostgreSQL store, each result accepted once',
  { skip: hasPostgres ? false : noPostgresReason, timeout: 120_000 },
  async (t) => {
    const dir = ownTempDir(t, 'verifier-service-');
    const pg = await startPostgres(join(dir, 'pg'));
    t.teardown(() => pg.stop());
    const pki = await TestPki.create(join(dir, 'pki'));
    t.teardown(() => pki.ca.stop());
    const kiosk = await pki.issue('kiosk-001');
    const thief = await pki.issue('kiosk-002');
    const hosts = await Promise.all(['carrier-verifier-a', 'carrier-verifier-b'].map((cn) => pki.issue(cn, 'service')));
    const stranger = await pki.issue('carrier-metrics', 'service');
    const broker = await TestBroker.start(pki, join(dir, 'broker'), {
      devices: ['kiosk-001', 'kiosk-002'],
      verifiers: hosts.map((h) => h.cn),
      monitors: [stranger.cn],
    });
    t.teardown(() => broker.stop());
    const stores = await openCarrierStores({ kind: 'postgres', url: pg.url });
    t.teardown(() => stores.close());

    // A verifier host's directory holds the CA certificate only, no CA key.
    const hostDir = join(dir, 'host');
    mkdirSync(hostDir);
    copyFileSync(pki.caPath, join(hostDir, 'ca.crt'));

    const lines: Line[] = [];
    const children: ChildProcess[] = [];
    const startHost = (id: { cn: string; certPath: string; keyPath: string }) => {
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          'carrier/cli/main.ts',
          'verifier-service',
          '--dir',
          hostDir,
          '--store',
          pg.url,
          '--broker',
          broker.url,
          '--cert',
          id.certPath,
          '--key',
          id.keyPath,
          '--client-id',
          id.cn,
          '--skip-plan-check',
          '--skip-policy-check',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KIOSK_CARRIER_STORE: '', KIOSK_LOG_LEVEL: 'warn' } },
      );
      children.push(child);
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      createInterface({ input: child.stdout! }).on('line', (l) => lines.push({ ...(JSON.parse(l) as Line), instance: id.cn }));
      return { child, stderr: () => stderr };
    };
    t.teardown(() => {
      for (const c of children) c.kill('SIGKILL');
    });

    const a = startHost(hosts[0]!);
    const b = startHost(hosts[1]!);
    await waitFor('both hosts ready', () => lines.filter((l) => l.ready).length === 2, 60_000);

    const nonces = await stores.nonces.issueMany(Array(RESULTS).fill('kiosk-001'), new Date());
    const signer = new ResultSigner({ keyStore: kiosk.keyStore, certificate: kiosk.certificate, measurements: [], dbgstat: 'disabled' });
    const tokens = await Promise.all(nonces.map(async (n) => (await signer.sign(n, { verdict: 'accept', reasons: [] })).token));

    const publisher = (id: { keyPath: string; certPath: string; cn: string }) =>
      mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: id.cn, ...tlsOf(pki, id), rejectUnauthorized: true, reconnectPeriod: 0 });
    // A thief who captured tokens in flight (his own kiosk certificate) publishes them under his topic
    // before the kiosk's own delivery arrives: refused before their nonces are touched.
    const th = await publisher(thief);
    t.teardown(() => th.endAsync());
    for (const tok of tokens.slice(0, 10)) await th.publishAsync('kiosk/v1/kiosk-002/result', tok, { qos: 1 });
    await waitFor('the thief’s copies verified', () => lines.filter((l) => l.status).length >= 10, 60_000);
    t.same(
      lines.filter((l) => l.status).map((l) => `${l.status}:${l.reason}`),
      Array(10).fill('rejected:device_mismatch'),
      'published under another kiosk: rejected',
    );
    lines.splice(0, lines.length, ...lines.filter((l) => !l.status));

    const k = await publisher(kiosk);
    t.teardown(() => k.endAsync());
    for (const tok of tokens) await k.publishAsync('kiosk/v1/kiosk-001/result', tok, { qos: 1 });
    await waitFor('every result verified', () => lines.filter((l) => l.status).length >= RESULTS, 60_000);

    const accepted = lines.filter((l) => l.status === 'accepted');
    t.equal(accepted.length, RESULTS, `${RESULTS} results accepted, the ten the thief sent first included`);
    t.equal(new Set(accepted.map((l) => l.jti)).size, RESULTS, 'each once');
    t.ok(
      hosts.every((h) => accepted.some((l) => l.instance === h.cn)),
      `the broker spread them over both hosts (${hosts.map((h) => accepted.filter((l) => l.instance === h.cn).length).join(' + ')})`,
    );

    // The kiosk sends them all again (a redelivery, or a replay of its own traffic), twice over.
    const before = lines.length;
    for (const tok of [...tokens, ...tokens]) await k.publishAsync('kiosk/v1/kiosk-001/result', tok, { qos: 1 });
    await waitFor('the copies verified', () => lines.length >= before + 2 * RESULTS, 60_000);
    const copies = lines.slice(before);
    t.equal(copies.filter((l) => l.status === 'accepted').length, 0, 'no copy accepted');
    t.equal(copies.filter((l) => l.status === 'duplicate').length, 2 * RESULTS, 'each copy is a duplicate of a result already taken');

    // A host whose certificate has another role is refused its subscription by the broker.
    const before2 = lines.length;
    const wrong = startHost(stranger);
    const code = await new Promise<number | null>((resolve) => wrong.child.once('exit', resolve));
    t.not(code, 0, 'a service without the verifier role does not run');
    t.equal(lines.slice(before2).filter((l) => l.ready).length, 0, 'and never said ready');

    for (const h of [a, b]) h.child.kill('SIGTERM');
    const exits = await Promise.all([a, b].map((h) => new Promise<number | null>((resolve) => h.child.once('exit', resolve))));
    t.same(exits, [0, 0], `both hosts stop cleanly on SIGTERM ${a.stderr()}${b.stderr()}`);
  },
);
