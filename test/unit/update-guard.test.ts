/**
 * The trial guard (systemd ExecStartPre) on a real release store: it counts the starts of a release
 * on trial, rolls back one that starts again without committing or whose deadline passed, records
 * why in the job record for the old release to report, and returns a first release to the packaged
 * agent (no previous release).
 */
import t, { type Test } from 'tap';
import { join } from 'node:path';
import { readBundleToken, stageFromDirectory } from '../../provisioning/update/bundle.js';
import { guardTrials, parseRollbackReason, rollbackReason } from '../../provisioning/update/guard.js';
import { readJob, writeJob, type UpdateJobRecord } from '../../provisioning/update/job-record.js';
import { ReleaseStore } from '../../provisioning/update/release-store.js';
import { bytes, releaseKey, releaseVerifier, writeBundle } from '../helpers/release-fixtures.js';
import { ownTempDir } from '../helpers/tempdir.js';
import { lstat } from 'node:fs/promises';

async function fixture(t: Test) {
  const dir = ownTempDir(t, 'update-guard-');
  const key = await releaseKey();
  const verifier = await releaseVerifier(key);
  const root = join(dir, 'models');
  const store = await ReleaseStore.open({ root, diskMarginBytes: 0 });
  const install = async (v: number) => {
    const src = join(dir, `bundle-${v}`);
    await writeBundle(src, key, v, { 'a.bin': bytes(1000 + v, v) });
    const release = await verifier.verify(await readBundleToken(src));
    await store.install(await stageFromDirectory(src, release, await store.prepareStaging(release)));
    return release.token;
  };
  const job = (v: number, token: string, over: Partial<UpdateJobRecord> = {}): UpdateJobRecord => ({
    jobId: `job-000${v}-abcdef`,
    kind: 'models',
    version: v,
    token,
    state: 'installing',
    from: v - 1,
    reported: ['queued', 'downloading', 'verifying', 'installing'],
    at: new Date().toISOString(),
    ...over,
  });
  const guard = (now?: number) => guardTrials({ stores: [{ kind: 'models', root }], jobDir: dir, maxStarts: 1, ...(now ? { now: () => now } : {}) });
  return { dir, root, store, install, job, guard };
}

t.test('no trial: nothing to do', async (t) => {
  const f = await fixture(t);
  t.same(await f.guard(), [{ kind: 'models', action: 'none' }]);
});

t.test('the first start of a trial is counted; a second start rolls back and records why', async (t) => {
  const f = await fixture(t);
  await f.install(1);
  await f.store.switchTo(1);
  await f.store.startTrial();
  await f.store.commit();
  const token = await f.install(2);
  await writeJob(f.dir, f.job(2, token, { trialDeadline: new Date(Date.now() + 60_000).toISOString() }));
  await f.store.switchTo(2);

  t.match(await f.guard(), [{ action: 'trial_start', version: 2, starts: 1 }]);
  const second = await f.guard();
  t.match(second, [{ action: 'rolled_back', version: 2, reason: 'start' }]);
  const after = await ReleaseStore.open({ root: f.root });
  t.equal(after.state.current, 1, 'back on release 1');
  t.equal(after.state.trial, null);
  t.match(after.state.lastRollback, { version: 2 });
  t.equal(parseRollbackReason(after.state.lastRollback!.reason).reason, 'start');
  const job = await readJob(f.dir);
  t.equal(job?.state, 'rolled_back');
  t.equal(job?.reason, 'start');
  t.notOk(job?.reported.includes('rolled_back'), 'left for the old release to report');
});

t.test('a trial past its deadline is rolled back at the next start', async (t) => {
  const f = await fixture(t);
  await f.install(1);
  await f.store.switchTo(1);
  await f.store.startTrial();
  await f.store.commit();
  const token = await f.install(2);
  const deadline = Date.now() + 1000;
  await writeJob(f.dir, f.job(2, token, { trialDeadline: new Date(deadline).toISOString() }));
  await f.store.switchTo(2);
  t.match(await f.guard(deadline + 1), [{ action: 'rolled_back', reason: 'trial_timeout' }]);
});

t.test('a first release that fails goes back to the packaged agent: no current link', async (t) => {
  const f = await fixture(t);
  const token = await f.install(1);
  await writeJob(f.dir, f.job(1, token));
  await f.store.switchTo(1);
  await f.guard();
  t.match(await f.guard(), [{ action: 'rolled_back', version: 1 }]);
  await t.rejects(lstat(join(f.root, 'current')), { code: 'ENOENT' });
  t.equal((await ReleaseStore.open({ root: f.root })).state.current, null);
});

t.test('rollback reasons round-trip', async (t) => {
  t.same(parseRollbackReason(rollbackReason('self_test', 'similarity 0.1: expected 0.8')), { reason: 'self_test', message: 'similarity 0.1: expected 0.8' });
  t.same(parseRollbackReason('free text'), { reason: 'internal', message: 'free text' });
});
