/**
 * Fleet updates end to end on this machine's real components: a real reprepro repository signed with
 * gpg and read by apt-get, model bundles over HTTP, mosquitto with mutual TLS, the kiosk agent as a
 * separate process started like systemd starts it (test/helpers/service-manager.ts: ExecStartPre
 * guard, Type=notify READY, watchdog, Restart=on-failure, RestartForceExitStatus=75, from our unit
 * file), launched through systemd/kiosk-agent-exec from a "packaged" agent, and the carrier's
 * signed `update` commands.
 *
 * Each release is this checkout's agent from source (test/helpers/apt-repo.ts makeTestApp), packed as
 * a real .deb; a release that "does not start" has a launcher that exits 1. Model releases are built
 * with the carrier's builder from the repository's models and two photos of one person.
 */
import { copyFile, writeFile } from 'node:fs/promises';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { basename, join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import mqtt, { type MqttClient } from 'mqtt';
import t from 'tap';
import { CommandSigner } from '../../carrier/commands/signer.js';
import { buildModelsBundle } from '../../carrier/release/models-bundle.js';
import { makeReleaseKey, signRelease } from '../../carrier/release/sign.js';
import type { KioskConfigInput } from '../../agent/config/types.js';
import { computeSelfTestExpected } from '../../scripts/release/models-expected.js';
import { packDeb } from '../../scripts/release/pack-deb.js';
import { makeAptRepo, makeTestApp, serveDir } from '../helpers/apt-repo.js';
import { dataPath, hasData, NO_DATA } from '../helpers/data.js';
import { freePort, TestBroker, tlsOf } from '../helpers/mosquitto.js';
import { TestPki } from '../helpers/pki.js';
import { ServiceManager, unitSettings } from '../helpers/service-manager.js';
import { ownTempDir } from '../helpers/tempdir.js';
import { waitFor } from '../helpers/wait.js';

const DEVICE = 'kiosk-update';
const PREFIX = `kiosk/v1/${DEVICE}/`;
const DEEPFACE = 'deepface-verify/tests/unit/dataset';
const IMAGES = [dataPath(`${DEEPFACE}/img1.jpg`), dataPath(`${DEEPFACE}/img2.jpg`)] as const;
const MODELS = join(import.meta.dirname, '../../models');
const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const missing = ['reprepro', 'apt-get', 'dpkg-deb', 'gpg', 'python3', 'systemd-notify', 'mosquitto'].filter((c) => !has(c) && !existsSync(`/usr/sbin/${c}`));

// The whole file takes about 160 s alone; tell the runner (whose default is .taprc's 300 s) it may take longer beside other tests.
t.setTimeout(900_000);

type Report = Record<string, unknown> & { type: string; jobId: string; state: string; reason?: string; version: number };

t.test(
  'fleet updates under a systemd-like manager',
  { skip: !hasData ? NO_DATA : missing.length ? `needs ${missing.join(', ')}` : false, timeout: 900_000 },
  async (t) => {
    const dir = ownTempDir(t, 'update-daemon-');
    // Runs before the folder's removal: on a failure, keep the agent's logs and the MQTT trace for the report.
    t.teardown(() => {
      if (!t.passing())
        spawnSync('sh', ['-c', `mkdir -p /tmp/update-daemon-failed && cp ${dir}/*.log ${dir}/state/update/job.json /tmp/update-daemon-failed/ 2>/dev/null`]);
    });
    const pki = await TestPki.create(join(dir, 'pki'));
    const dev = await pki.issue(DEVICE);
    const opsId = await pki.issue('carrier-ops', 'service');
    const verifierId = await pki.issue('carrier-verifier', 'service');
    const broker = await TestBroker.start(pki, join(dir, 'broker'), { devices: [DEVICE], dispatchers: ['carrier-ops'], verifiers: ['carrier-verifier'] });
    t.teardown(() => broker.stop());

    // The carrier: command key, release key, apt repository, bundle server, operations client.
    const commandKey = await CommandSigner.generate();
    const releaseKey = await makeReleaseKey();
    const apt = await makeAptRepo(join(dir, 'apt'));
    t.teardown(() => apt.stop());
    const aptServer = await apt.serve();
    t.teardown(() => aptServer.close());
    const bundles = join(dir, 'bundles');
    const bundleServer = await serveDir(bundles);
    t.teardown(() => bundleServer.close());

    const healthPort = await freePort();
    const reports: Report[] = [];
    const events: Array<Record<string, unknown> & { type: string }> = [];
    const replies = new Map<string, Record<string, unknown>>();
    const ops = await mqtt.connectAsync(broker.url, {
      protocolVersion: 5,
      clientId: `ops-${randomUUID().slice(0, 8)}`,
      reconnectPeriod: 300,
      ...tlsOf(pki, opsId),
    });
    t.teardown(() => ops.endAsync(true));
    ops.on('message', (topic, payload) => {
      appendFileSync(join(dir, 'mqtt.log'), `${topic} ${payload.toString().slice(0, 300)}\n`);
      if (topic.startsWith(`${PREFIX}reply/`)) replies.set(topic.slice(`${PREFIX}reply/`.length), JSON.parse(payload.toString()) as Record<string, unknown>);
      if (topic !== `${PREFIX}events`) return;
      const e = JSON.parse(payload.toString()) as Report;
      events.push(e);
      if (e.type === 'update') reports.push(e);
      appendFileSync(join(dir, 'events.jsonl'), `${payload.toString()}\n`);
    });
    const subscribe = (c: MqttClient) => c.subscribeAsync([`${PREFIX}events`, `${PREFIX}reply/#`], { qos: 1 });
    ops.on('connect', () => void subscribe(ops));
    await subscribe(ops);
    // A command reaches only a connected kiosk (its session does not outlive a restart): wait for it.
    const kioskOnline = () =>
      waitFor(
        'kiosk online',
        async () => {
          const r = await fetch(`http://127.0.0.1:${healthPort}/health`).catch(() => undefined);
          return r ? ((await r.json()) as { transport: { online: boolean } }).transport.online : false;
        },
        180_000,
      );
    const send = async (jobId: string, release: string) =>
      (await kioskOnline()) && ops.publishAsync(`${PREFIX}cmd/update`, await commandKey.sign(DEVICE, 'update', { job_id: jobId, release }), { qos: 1 });
    const final = (jobId: string, timeoutMs = 240_000) =>
      waitFor(`final report of ${jobId}`, () => reports.find((r) => r.jobId === jobId && ['committed', 'rolled_back', 'failed'].includes(r.state)), {
        timeoutMs,
        detail: () => `reports: ${JSON.stringify(reports.filter((r) => r.jobId === jobId).map((r) => r.state))}`,
      });
    const statesOf = (jobId: string) => [...new Set(reports.filter((r) => r.jobId === jobId).map((r) => r.state))];

    // Releases.
    const agentRelease = async (version: number, o: { breakStart?: boolean } = {}) => {
      const app = await makeTestApp(join(dir, `app-${version}`), { version: `0.0.${version}`, ...o });
      await copyFile(join('systemd', 'kiosk-agent-exec'), join(app, 'bin', 'kiosk-agent-exec'));
      const deb = await packDeb({ app, version, out: join(dir, 'debs') });
      await apt.publish(deb.path);
      const token = await signRelease(
        {
          kind: 'agent',
          version,
          name: `kiosk-agent ${version}`,
          createdAt: new Date().toISOString(),
          files: [{ path: basename(deb.path), sha256: deb.sha256, size: deb.size }],
        },
        releaseKey,
      );
      return { token, deb };
    };
    const expected = await computeSelfTestExpected({ modelsDir: MODELS, images: IMAGES });
    const modelsRelease = async (version: number, breakExpected = false) => {
      const outputs = breakExpected ? { ...(expected.outputs as object), similarity: 0.05 } : expected.outputs;
      const b = await buildModelsBundle({
        modelsDir: MODELS,
        outDir: join(bundles, String(version)),
        version,
        name: `models ${version}`,
        key: releaseKey,
        selfTest: { images: IMAGES, expected: { ...expected, outputs } },
      });
      return b.token;
    };

    // The "packaged" agent (what apt installed in /usr/lib/kiosk-agent) and the kiosk's config.
    const pkg = await makeTestApp(join(dir, 'pkg', 'usr', 'lib', 'kiosk-agent'), { version: '0.0.1' });
    await copyFile(join('systemd', 'kiosk-agent-exec'), join(pkg, 'bin', 'kiosk-agent-exec'));
    const stateDir = join(dir, 'state');
    const cfgPath = join(dir, 'config.json');
    const config = (): KioskConfigInput => ({
      deviceId: DEVICE,
      simulate: true,
      stateDir,
      gpio: { driver: 'fake' },
      camera: {
        kind: 'replay',
        path: dataPath('tranvanluyt-replay-headturn/videos/real.mp4'),
        pace: 'asap',
        capture: 'session',
        allowVirtual: true,
        maxWidth: 240,
      },
      reference: { allowedDirs: [dataPath('')] },
      transport: { url: broker.url, caFile: pki.caPath, certFile: dev.certPath, keyFile: dev.keyPath, backoffBaseMs: 200, backoffCapMs: 1000 },
      health: { httpPort: healthPort, telemetryIntervalMs: 2000 },
      sim: { autoConfirmMs: 0, terminal: false },
      screen: { enabled: false },
      commands: { keys: [commandKey.entry] },
      update: {
        enabled: true,
        releaseKeys: [{ kid: releaseKey.kid, publicKey: releaseKey.publicJwk }],
        aptUrl: aptServer.url,
        aptKeyring: apt.keyring,
        modelsUrl: bundleServer.url,
        // Long enough for a trial on a loaded machine (self-test about 1.5 s, then the broker), short
        // enough for the case where the broker is gone.
        trialTimeoutMs: 45_000,
      },
    });
    await writeFile(cfgPath, JSON.stringify(config()));
    const exec = join(pkg, 'bin', 'kiosk-agent-exec');
    const manager = new ServiceManager({
      dir,
      execStartPre: [exec, '--guard', 'update', 'guard', '--config', cfgPath],
      execStart: [exec, 'run', '--config', cfgPath],
      env: { ...process.env, KIOSK_AGENT_RELEASES: join(stateDir, 'update', 'agent'), KIOSK_LOG_LEVEL: 'info' },
      // The unit's values; the restart delay shortened, and the start limit (5 in 5 minutes, which a
      // kiosk's update uses 1-3 of) raised: this test restarts the agent some 20 times in a few minutes.
      settings: { ...unitSettings(), restartMs: 300, startLimitBurst: 100 },
    });
    t.teardown(() => manager.stop());

    /** The app directory the running agent was started from (its command line names it). */
    const runningFrom = () => {
      const pid = manager.current?.pid;
      if (!pid || manager.current?.exit) return undefined;
      try {
        const main = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
          .split('\0')
          .find((a) => a.endsWith('main.ts'));
        return main && resolve(main);
      } catch {
        return undefined;
      }
    };
    const readyOn = async (what: RegExp, label: string) => {
      await waitFor(`${label}: ready`, () => manager.current?.ready && !manager.current.exit, 180_000);
      t.match(runningFrom(), what, `${label}: runs ${what}`);
    };
    const status = async () => {
      const r = spawnSync(exec, ['update', 'status', '--config', cfgPath], {
        encoding: 'utf8',
        env: { ...process.env, KIOSK_AGENT_RELEASES: join(stateDir, 'update', 'agent') },
      });
      return JSON.parse(r.stdout || 'null') as {
        agent: { current: number | null; floor: number; trial: number | null };
        models: { current: number | null; floor: number };
      };
    };

    await manager.start();
    await readyOn(/pkg\/usr\/lib\/kiosk-agent\/agent\/cli\/main\.ts$/, 'packaged agent');

    await t.test('a models release installs, passes its self-test on the real engine and is committed', async (t) => {
      const token = await modelsRelease(1);
      await send('job-models-1', token);
      const r = await final('job-models-1');
      t.equal(r.state, 'committed', `${r.state} ${r.reason ?? ''} ${String(r.message ?? '')}`);
      t.same(statesOf('job-models-1'), ['queued', 'downloading', 'verifying', 'installing', 'trial', 'committed']);
      t.match(await status(), { models: { current: 1, floor: 1 } });
    });

    await t.test('an agent release from the signed apt repository installs, passes its trial and is committed', async (t) => {
      const { token } = await agentRelease(2);
      await send('job-agent-2', token);
      const r = await final('job-agent-2');
      t.equal(r.state, 'committed', `${r.state} ${r.reason ?? ''} ${String(r.message ?? '')}`);
      t.same(statesOf('job-agent-2'), ['queued', 'downloading', 'verifying', 'installing', 'trial', 'committed']);
      await readyOn(/update\/agent\/releases\/2\/usr\/lib\/kiosk-agent\/agent\/cli\/main\.ts$/, 'release 2');
      t.match(await status(), { agent: { current: 2, floor: 2, trial: null } });
    });

    await t.test('a release whose agent does not start is rolled back by the guard and reported by the old one', async (t) => {
      const { token } = await agentRelease(3, { breakStart: true });
      await send('job-agent-3', token);
      const r = await final('job-agent-3');
      t.equal(r.state, 'rolled_back');
      t.equal(r.reason, 'start');
      t.equal(r.running, 2, 'the report says release 2 runs again');
      await readyOn(/releases\/2\//, 'back on release 2');
      t.match(await status(), { agent: { current: 2, floor: 2, trial: null } });
    });

    await t.test('a models release that fails its self-test is rolled back before any session', async (t) => {
      const token = await modelsRelease(2, true);
      await send('job-models-2', token);
      const r = await final('job-models-2');
      t.equal(r.state, 'rolled_back');
      t.equal(r.reason, 'self_test');
      t.match(String(r.message), /similarity/, 'the failed check is named');
      t.match(await status(), { models: { current: 1, floor: 1 } });
      await readyOn(/releases\/2\//, 'agent 2 with models 1');
    });

    await t.test('a release that cannot reach the broker during its trial is rolled back and reported once the broker is back', async (t) => {
      const { token } = await agentRelease(4);
      await send('job-agent-4', token);
      await waitFor('installing', () => reports.find((r) => r.jobId === 'job-agent-4' && r.state === 'installing'), 240_000);
      await broker.stop();
      t.teardown(async () => {
        if (broker.pid === undefined) await broker.restart(); // the later cases need it, also when this one fails
      });
      // The new release comes up (READY), cannot reach the broker, and rolls back at its deadline.
      await waitFor(
        'rolled back on disk',
        async () => {
          const st = await status();
          return st?.agent.trial === null && st.agent.current === 2;
        },
        120_000,
      );
      await broker.restart();
      const r = await final('job-agent-4');
      t.equal(r.state, 'rolled_back');
      t.equal(r.reason, 'broker');
    });

    await t.test('a power loss at each stage ends on a working release, and the outbox loses nothing', async (t) => {
      // A signed result waits in the outbox: no verifier listens yet (the kiosk publishes results only to a subscriber).
      const nonce = randomUUID().replaceAll('-', '');
      await kioskOnline();
      await ops.publishAsync(
        `${PREFIX}cmd/start_session`,
        await commandKey.sign(DEVICE, 'start_session', {
          nonce,
          reference: `${dataPath('tranvanluyt-replay-headturn/videos/real.mp4')}#frame=600`,
          session_id: 's-before-updates',
        }),
        { qos: 1 },
      );
      const finished = await waitFor(
        'the session before the updates',
        () => events.find((e) => e.type === 'session_finished' && e.sessionId === 's-before-updates'),
        180_000,
      );
      const jti = finished.jti as string;
      t.ok(jti, `the session produced a signed result (${String(finished.verdict)})`);
      const at = (jobId: string, state: string, pred: (r: Report) => boolean = () => true) =>
        waitFor(`${jobId} ${state}`, () => reports.find((r) => r.jobId === jobId && r.state === state && pred(r)), 240_000);

      // Mid-download: the server sends half of the package and stalls; the power goes.
      const r5 = await agentRelease(5);
      aptServer.faults.stallNext = basename(r5.deb.path);
      await send('job-power-download', r5.token);
      await at('job-power-download', 'downloading', (r) => {
        const p = r.progress as { bytes: number; total: number } | undefined;
        return p !== undefined && p.bytes > 0 && p.bytes < p.total;
      });
      const before = aptServer.requests.length;
      manager.powerLoss();
      t.equal((await final('job-power-download')).state, 'committed', 'mid-download: resumed after the restart and committed');
      const resumed = aptServer.requests.slice(before).filter((r) => r.path.endsWith(basename(r5.deb.path)));
      t.ok(
        resumed.some((r) => /^bytes=[1-9]\d*-$/.test(r.range ?? '')),
        `the package download resumed with a Range request (${JSON.stringify(resumed.map((r) => r.range ?? 'whole'))})`,
      );
      await readyOn(/releases\/5\//, 'release 5');

      // After the download (verifying) and in the switch (installing).
      for (const [version, state] of [
        [6, 'verifying'],
        [7, 'installing'],
      ] as const) {
        const rel = await agentRelease(version);
        const job = `job-power-${state}`;
        await send(job, rel.token);
        await at(job, state);
        manager.powerLoss();
        const r = await final(job);
        t.equal(r.state, 'committed', `power loss at ${state}: ${r.state} ${r.reason ?? ''}`);
        await readyOn(new RegExp(`releases/${version}/`), `release ${version}`);
      }

      // During the trial: a second start without a commit is a failed trial.
      const r8 = await agentRelease(8);
      await send('job-power-trial', r8.token);
      await at('job-power-trial', 'trial');
      manager.powerLoss();
      const r = await final('job-power-trial');
      t.match(r, { state: 'rolled_back', reason: 'start' }, 'power loss in the trial: rolled back');
      await readyOn(/releases\/7\//, 'back on release 7');
      t.match(await status(), { agent: { current: 7, floor: 7, trial: null } });

      // The result signed before all of this reaches the carrier's verifiers now.
      const verifier = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'carrier-verifier', ...tlsOf(pki, verifierId) });
      t.teardown(() => verifier.endAsync(true));
      const results: string[] = [];
      verifier.on('message', (_topic, payload) => results.push(payload.toString()));
      await verifier.subscribeAsync(`$share/verifiers/${PREFIX}result`, { qos: 1 });
      const token = await waitFor(
        'the result from before the updates',
        () => results.find((p) => JSON.parse(Buffer.from(p.split('.')[1]!, 'base64url').toString()).jti === jti),
        120_000,
      );
      t.ok(token, 'delivered after five restarts and four power losses');
    });

    await t.test('refused releases: bad signature, lower than the floor, wrong sha256', async (t) => {
      const other = await makeReleaseKey();
      const { deb } = await agentRelease(9);
      const manifest = {
        kind: 'agent' as const,
        version: 9,
        name: 'x',
        createdAt: new Date().toISOString(),
        files: [{ path: basename(deb.path), sha256: deb.sha256, size: deb.size }],
      };
      // A command signed by a key the kiosk does not trust: refused before anything else looks at it.
      const stranger = await CommandSigner.generate();
      await kioskOnline();
      const before = await status();
      await ops.publishAsync(
        `${PREFIX}cmd/update`,
        await stranger.sign(DEVICE, 'update', { job_id: 'job-stranger', release: await signRelease(manifest, releaseKey) }),
        {
          qos: 1,
          properties: { responseTopic: `${PREFIX}reply/stranger`, correlationData: Buffer.from('stranger') },
        },
      );
      t.match(await waitFor('reply to the stranger', () => replies.get('stranger')), { ok: false, reason: 'unknown_key' }, 'command key unknown: refused');
      t.notOk(
        reports.some((r) => r.jobId === 'job-stranger'),
        'no job for it',
      );
      await send('job-bad-signature', await signRelease(manifest, other));
      t.match(await final('job-bad-signature'), { state: 'failed', reason: 'signature' });
      await send('job-downgrade', await signRelease({ ...manifest, version: 1 }, releaseKey));
      t.match(await final('job-downgrade'), { state: 'failed', reason: 'downgrade' });
      await send('job-bad-sha', await signRelease({ ...manifest, files: [{ ...manifest.files[0]!, sha256: 'ab'.repeat(32) }] }, releaseKey));
      t.match(await final('job-bad-sha'), { state: 'failed', reason: 'hash' });
      t.match(await status(), { agent: { current: before.agent.current } }, 'still on the release it ran before');
    });
  },
);
