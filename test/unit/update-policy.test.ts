import t from 'tap';
import { decideJob, inWindow, unreported } from '../../agent/daemon/update-policy.js';
import type { UpdateJobRecord } from '../../provisioning/update/job-record.js';

const at = (hm: string) => {
  const [h, m] = hm.split(':').map(Number);
  const d = new Date(2026, 11, 7, h, m);
  return d;
};

t.test('update window: empty is always, same-day and across midnight', async (t) => {
  t.ok(inWindow('', at('12:00')));
  t.ok(inWindow('01:00-05:00', at('01:00')));
  t.notOk(inWindow('01:00-05:00', at('05:00')), 'the end is outside');
  t.notOk(inWindow('01:00-05:00', at('12:00')));
  t.ok(inWindow('22:00-06:00', at('23:59')));
  t.ok(inWindow('22:00-06:00', at('00:30')));
  t.notOk(inWindow('22:00-06:00', at('06:00')));
  t.notOk(inWindow('22:00-06:00', at('21:59')));
});

const job = (over: Partial<UpdateJobRecord> = {}): UpdateJobRecord => ({
  jobId: 'job-aaaaaaaa',
  kind: 'agent',
  version: 5,
  token: 'x',
  state: 'downloading',
  from: 4,
  reported: ['queued', 'downloading'],
  at: '2026-12-07T00:00:00Z',
  ...over,
});

t.test('job decisions', async (t) => {
  const base = { jobId: 'job-bbbbbbbb', version: 6, current: undefined, running: 5, floor: 5, onTrial: false };
  t.same(decideJob(base), { take: true });
  t.match(decideJob({ ...base, current: job() }), { take: false, state: 'busy' }, 'another job unfinished');
  t.same(decideJob({ ...base, current: job({ state: 'committed' }) }), { take: true }, 'the last job finished');
  t.match(decideJob({ ...base, jobId: 'job-aaaaaaaa', current: job() }), { take: false, duplicate: true }, 'the same job again');
  t.match(decideJob({ ...base, onTrial: true }), { take: false, state: 'busy' }, 'a trial is running');
  t.match(decideJob({ ...base, version: 5 }), { state: 'failed', reason: 'already_current' });
  t.match(decideJob({ ...base, version: 4 }), { state: 'failed', reason: 'downgrade' });
  t.same(decideJob({ ...base, version: 4, floor: 3, running: 5 }), { take: true }, 'below the running version but above the floor');
});

t.test('unreported states', async (t) => {
  t.same(unreported(job()), []);
  t.same(unreported(job({ state: 'rolled_back' })), ['rolled_back']);
});
