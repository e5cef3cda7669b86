import t from 'tap';
import { join } from 'node:path';
import type { RolloutRules } from '../../carrier/rollout/plan.js';
import { type RolloutRelease, RolloutStore, jobIdFor } from '../../carrier/rollout/store.js';
import { ownTempDir } from '../helpers/tempdir.js';

const rules: RolloutRules = { canary: { count: 1 }, wave: { percent: 50 }, abortFailureRate: 0.2, minFinished: 2, kioskTimeoutMs: 60_000 };
const release: RolloutRelease = { token: 'a.b.c', sha256: 'f'.repeat(64), kind: 'agent', version: 7 };
const targets = ['kiosk-003', 'kiosk-001', 'kiosk-002'];

t.test('job ids are stable per rollout and kiosk, distinct, and fit the job id pattern', async (t) => {
  const a = jobIdFor('r-1', 'kiosk-001');
  t.equal(jobIdFor('r-1', 'kiosk-001'), a);
  t.not(jobIdFor('r-1', 'kiosk-002'), a);
  t.not(jobIdFor('r-2', 'kiosk-001'), a);
  t.match(a, /^[A-Za-z0-9_-]{8,64}$/);
});

t.test('a restarted run resumes: same targets in order, sent kiosks not sent again, abort kept', async (t) => {
  const path = join(ownTempDir(t, 'rollout-store-'), 'rollout.db');
  const s1 = new RolloutStore(path);
  const r = await s1.begin('r-1', release, targets, rules, 100);
  t.same(r.targets, targets);
  t.ok(await s1.markSent('r-1', 'kiosk-003', 0, 200));
  t.notOk(await s1.markSent('r-1', 'kiosk-003', 0, 300), 'a second send of the same job is refused');
  t.equal(await s1.report('r-1', jobIdFor('r-1', 'kiosk-003'), 'committed', undefined, 400), 'applied');
  await s1.abort('r-1', 'first', 1);
  await s1.abort('r-1', 'second', 2);
  await s1.stop();

  const s2 = new RolloutStore(path);
  t.teardown(() => s2.stop());
  const again = await s2.begin('r-1', release, ['kiosk-009'], { ...rules, minFinished: 99 }, 500);
  t.same(again.targets, targets, 'the stored targets win over a new list');
  t.equal(again.rules.minFinished, 2, 'the stored rules win');
  t.same(again.aborted, { reason: 'first', wave: 1 }, 'the first abort is kept');
  t.notOk(await s2.markSent('r-1', 'kiosk-003', 1, 600), 'the kiosk that has a job is not sent one again');
  const k = await s2.kiosks('r-1');
  t.same(k.get('kiosk-003'), { state: 'committed', wave: 0, sentAt: 200, updatedAt: 400 });
  t.same(k.get('kiosk-001'), { state: 'pending' });
  await t.rejects(s2.begin('r-1', { ...release, sha256: '0'.repeat(64) }, targets, rules, 700), { code: 'E_USAGE' }, 'same id, another release');
});

t.test('reports never move a kiosk backwards; duplicates change nothing; unknown jobs are told apart', async (t) => {
  const s = new RolloutStore(join(ownTempDir(t, 'rollout-store-'), 'rollout.db'));
  t.teardown(() => s.stop());
  await s.begin('r-2', release, targets, rules, 0);
  const job = jobIdFor('r-2', 'kiosk-001');
  await s.markSent('r-2', 'kiosk-001', 0, 10);
  t.equal(await s.report('r-2', job, 'downloading', undefined, 20), 'applied');
  t.equal(await s.report('r-2', job, 'queued', undefined, 21), 'ignored', 'queued after downloading (out of order)');
  t.equal(await s.report('r-2', job, 'trial', undefined, 22), 'applied');
  t.equal(await s.report('r-2', job, 'trial', undefined, 23), 'ignored', 'a duplicate');
  t.equal(await s.report('r-2', job, 'committed', undefined, 24), 'applied');
  t.equal(await s.report('r-2', job, 'committed', undefined, 25), 'ignored', 'the committed report delivered twice');
  t.equal(await s.report('r-2', job, 'installing', undefined, 26), 'ignored', 'a stale report after the kiosk restarted');
  t.equal(await s.report('r-2', job, 'rolled_back', 'start', 27), 'ignored', 'committed stays committed');
  t.same((await s.kiosks('r-2')).get('kiosk-001'), { state: 'committed', wave: 0, sentAt: 10, updatedAt: 24 });
  t.equal(await s.report('r-2', jobIdFor('r-1', 'kiosk-001'), 'committed', undefined, 30), 'unknown_job', "another rollout's job");
  t.equal(await s.jobKiosk('r-2', job), 'kiosk-001');
  t.equal(await s.jobKiosk('r-2', 'nope-nope'), undefined);
});

t.test("the carrier's timeout verdict yields to a late final report from the kiosk, but not to a stale one", async (t) => {
  const s = new RolloutStore(join(ownTempDir(t, 'rollout-store-'), 'rollout.db'));
  t.teardown(() => s.stop());
  await s.begin('r-3', release, targets, rules, 0);
  const job = jobIdFor('r-3', 'kiosk-002');
  await s.markSent('r-3', 'kiosk-002', 0, 10);
  await s.report('r-3', job, 'trial', undefined, 20);
  await s.markTimedOut('r-3', ['kiosk-002', 'kiosk-001'], 100);
  t.same((await s.kiosks('r-3')).get('kiosk-002'), { state: 'failed', wave: 0, sentAt: 10, updatedAt: 100, reason: 'timeout' });
  t.same((await s.kiosks('r-3')).get('kiosk-001'), { state: 'pending' }, 'a pending kiosk does not time out');
  t.equal(await s.report('r-3', job, 'trial', undefined, 110), 'ignored');
  t.equal(await s.report('r-3', job, 'rolled_back', 'self_test', 120), 'applied');
  t.equal((await s.kiosks('r-3')).get('kiosk-002')?.reason, 'self_test');
  t.equal(await s.report('r-3', job, 'committed', undefined, 130), 'ignored', "the kiosk's own final report is final");
});

t.test('a send whose publish failed is taken back: the kiosk is pending again', async (t) => {
  const s = new RolloutStore(join(ownTempDir(t, 'rollout-store-'), 'rollout.db'));
  t.teardown(() => s.stop());
  await s.begin('r-4', release, targets, rules, 0);
  await s.markSent('r-4', 'kiosk-001', 0, 10);
  await s.unmarkSent('r-4', 'kiosk-001');
  t.same((await s.kiosks('r-4')).get('kiosk-001'), { state: 'pending' });
  t.ok(await s.markSent('r-4', 'kiosk-001', 0, 20));
});
