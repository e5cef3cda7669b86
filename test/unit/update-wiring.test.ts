/**
 * The daemon's updater in process, on a real release store and real signed bundles: a job waits
 * while a customer, a session or a dispense holds the kiosk and outside the update window; the
 * same job sent again is answered from its record; a release on trial that fails its self-test is
 * rolled back before anything else starts; a trial commits only once the broker took its report.
 */
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { pino } from 'pino';
import t, { type Test } from 'tap';
import { validateConfig } from '../../agent/config/load.js';
import type { DaemonEvents } from '../../agent/daemon/events.js';
import type { Stager } from '../../agent/daemon/update-job.js';
import { UpdateWiring, updatePaths } from '../../agent/daemon/update-wiring.js';
import { KioskError } from '../../base/errors.js';
import { stageFromDirectory } from '../../provisioning/update/bundle.js';
import { readJob } from '../../provisioning/update/job-record.js';
import { ReleaseStore } from '../../provisioning/update/release-store.js';
import type { UpdateReport } from '../../protocol/update.js';
import { bytes, releaseKey, writeBundle } from '../helpers/release-fixtures.js';
import { ownTempDir } from '../helpers/tempdir.js';
import { waitFor } from '../helpers/wait.js';

async function fixture(t: Test, o: { window?: string; now?: () => number } = {}) {
  const dir = ownTempDir(t, 'update-wiring-');
  const key = await releaseKey();
  const config = validateConfig({
    deviceId: 'kiosk-wiring',
    stateDir: join(dir, 'state'),
    update: { enabled: true, releaseKeys: [{ kid: key.kid, publicKey: key.publicKey }], window: o.window ?? '', diskMarginBytes: 0, trialTimeoutMs: 10_000 },
  });
  const bus = new EventEmitter<DaemonEvents>();
  const reports: UpdateReport[] = [];
  bus.on('update', (r) => reports.push(r));
  const state = { busy: undefined as string | undefined, online: true, queued: 0, selfTest: undefined as Error | undefined };
  const restarts: string[] = [];
  const bundle = async (v: number) => {
    const src = join(dir, `bundle-${v}`);
    return { src, token: await writeBundle(src, key, v, { 'model.bin': bytes(2000 + v, v) }) };
  };
  const sources = new Map<number, string>();
  const stage: Stager = (release, staging) => stageFromDirectory(sources.get(release.manifest.version)!, release, staging);
  const make = () =>
    new UpdateWiring({
      config,
      bus,
      busy: () => state.busy,
      online: () => state.online,
      eventsQueued: () => state.queued,
      selfTest: async () => {
        if (state.selfTest) throw state.selfTest;
      },
      stagers: { models: stage },
      restart: (why) => restarts.push(why),
      logger: pino({ level: 'silent' }),
      pollMs: 20,
      ...(o.now ? { now: o.now } : {}),
    });
  const release = async (v: number) => {
    const b = await bundle(v);
    sources.set(v, b.src);
    return b.token;
  };
  return { dir, config, reports, state, restarts, make, release, paths: updatePaths(config) };
}

const states = (reports: UpdateReport[], jobId: string) => [...new Set(reports.filter((r) => r.jobId === jobId).map((r) => r.state))];

t.test('a job waits for an idle kiosk, then switches and asks for a restart', async (t) => {
  const f = await fixture(t);
  const w = f.make();
  await w.start();
  t.teardown(() => w.stop());
  f.state.busy = 'a session is running';
  t.match(await w.handle({ job_id: 'job-idle-0001', release: await f.release(1) }), { ok: true, body: { state: 'queued' } });
  await new Promise((r) => setTimeout(r, 200));
  t.same(states(f.reports, 'job-idle-0001'), ['queued'], 'nothing starts while a session runs');
  t.same(f.restarts, []);
  f.state.busy = 'a SIM is being dispensed';
  await new Promise((r) => setTimeout(r, 100));
  t.same(states(f.reports, 'job-idle-0001'), ['queued'], 'nor while a SIM is dispensed');
  f.state.busy = undefined;
  await waitFor('restart', () => f.restarts.length > 0, 5000);
  t.same(states(f.reports, 'job-idle-0001'), ['queued', 'downloading', 'verifying', 'installing']);
  t.match((await ReleaseStore.open({ root: f.paths.models })).state, { current: 1, trial: 1 });
  t.match(
    await w.handle({ job_id: 'job-idle-0001', release: await f.release(1) }),
    { ok: true, body: { state: 'installing' } },
    'the same job again: its state',
  );
});

t.test('outside the update window the job is deferred', async (t) => {
  const hour = new Date().getHours();
  const closed = `${String((hour + 2) % 24).padStart(2, '0')}:00-${String((hour + 3) % 24).padStart(2, '0')}:00`;
  const f = await fixture(t, { window: closed });
  const w = f.make();
  await w.start();
  t.teardown(() => w.stop());
  await w.handle({ job_id: 'job-window-01', release: await f.release(1) });
  await new Promise((r) => setTimeout(r, 200));
  t.same(states(f.reports, 'job-window-01'), ['queued'], `window ${closed}: still queued`);
  t.same(w.status().job, { jobId: 'job-window-01', kind: 'models', version: 1, state: 'queued' }, '/health shows the queued job');
});

/** A store with release 1 committed and release 2 switched to (on trial), as after a job's restart. */
async function onTrial(f: Awaited<ReturnType<typeof fixture>>) {
  const w = f.make();
  await w.start();
  await w.handle({ job_id: 'job-first-01', release: await f.release(1) });
  await waitFor('switch 1', () => f.restarts.length === 1, 5000);
  await w.stop();
  const w1 = f.make();
  await w1.start();
  w1.afterStart();
  await waitFor('commit 1', () => f.reports.some((r) => r.jobId === 'job-first-01' && r.state === 'committed'), 5000);
  await w1.handle({ job_id: 'job-second-1', release: await f.release(2) });
  await waitFor('switch 2', () => f.restarts.length === 2, 5000);
  await w1.stop();
}

t.test('a trial that fails its self-test rolls back before the daemon goes on', async (t) => {
  const f = await fixture(t);
  await onTrial(f);
  f.state.selfTest = new KioskError('E_MODEL_SELFTEST', 'similarity 0.1, expected 0.8 ± 0.03', { subject: 'models' });
  const w = f.make();
  await t.rejects(w.start(), { code: 'E_UPDATE_TRIAL' }, 'start fails: no session runs on it');
  t.match(f.reports.at(-1), { jobId: 'job-second-1', state: 'rolled_back', reason: 'self_test', running: 1 });
  t.match((await ReleaseStore.open({ root: f.paths.models })).state, { current: 1, trial: null, floor: 1 });
});

t.test('a trial commits only after the broker took its report; offline past the deadline it rolls back', async (t) => {
  const f = await fixture(t);
  await onTrial(f);
  f.state.queued = 1; // the trial report is not acknowledged yet
  const w = f.make();
  await w.start();
  w.afterStart();
  await new Promise((r) => setTimeout(r, 200));
  t.equal((await ReleaseStore.open({ root: f.paths.models })).state.trial, 2, 'not committed while the report waits');
  f.state.queued = 0;
  await waitFor('committed', () => f.reports.some((r) => r.jobId === 'job-second-1' && r.state === 'committed'), 5000);
  await w.stop();
  t.match((await ReleaseStore.open({ root: f.paths.models })).state, { current: 2, floor: 2, trial: null });
  t.same((await readJob(f.paths.dir))?.reported, ['queued', 'downloading', 'verifying', 'installing', 'trial', 'committed']);
});

t.test('offline through the trial: rolled back with reason broker, and a restart asked for', async (t) => {
  let clock = Date.now();
  const f = await fixture(t, { now: () => clock });
  await onTrial(f);
  f.state.online = false;
  const w = f.make();
  await w.start();
  w.afterStart();
  clock += 11_000; // past trialTimeoutMs
  await waitFor('rolled back', () => f.reports.some((r) => r.jobId === 'job-second-1' && r.state === 'rolled_back'), 5000);
  await w.stop();
  t.match(f.reports.at(-1), { state: 'rolled_back', reason: 'broker', running: 1 });
  t.match(f.restarts.at(-1), /rolled back/);
});
