import t from 'tap';
import {
  type KioskStatus,
  type PlanInput,
  type RolloutRules,
  checkRules,
  countRollout,
  nextStep,
  orderTargets,
  parseSize,
  sizeOf,
  timedOut,
} from '../../carrier/rollout/plan.js';

const ids = (n: number) => Array.from({ length: n }, (_, i) => `kiosk-${String(i + 1).padStart(3, '0')}`);
const rules: RolloutRules = { canary: { percent: 10 }, wave: { percent: 30 }, abortFailureRate: 0.2, minFinished: 5, kioskTimeoutMs: 60_000 };

/** A plan input over `targets`, everyone online unless said, statuses from `kiosks`. */
function input(targets: string[], kiosks: Record<string, KioskStatus> = {}, o: Partial<PlanInput> = {}): PlanInput {
  return { targets, rules, kiosks: new Map(Object.entries(kiosks)), online: new Set(targets), now: 1000, ...o };
}
const final = (state: 'committed' | 'rolled_back' | 'failed', wave = 0): KioskStatus => ({ state, wave, sentAt: 0, updatedAt: 10 });

t.test('selection is deterministic in the seed, takes the percentage of the group rounded up, and keeps no duplicate', async (t) => {
  const all = ids(40);
  const a = orderTargets(all, 'seed-1', 25);
  t.equal(a.length, 10, '25% of 40');
  t.same(orderTargets([...all].reverse(), 'seed-1', 25), a, 'same seed, same kiosks in the same order, whatever the input order');
  t.not(orderTargets(all, 'seed-2', 25).join(), a.join(), 'another seed picks otherwise');
  t.equal(orderTargets(ids(7), 's', 10).length, 1, '10% of 7 rounds up to 1');
  t.equal(orderTargets([...ids(3), 'kiosk-001'], 's').length, 3, 'duplicates count once');
  t.ok(
    orderTargets(all, 'seed-1', 50)
      .slice(0, 10)
      .every((k, i) => k === a[i]),
    'a larger percentage keeps the smaller one as its prefix',
  );
  t.throws(() => orderTargets(all, 's', 0), { code: 'E_USAGE' });
  t.throws(() => orderTargets(all, 's', 101), { code: 'E_USAGE' });
});

t.test('sizes: counts, percentages rounded up, at least one; parsing and rule checks name the option', async (t) => {
  t.equal(sizeOf({ percent: 5 }, 500), 25);
  t.equal(sizeOf({ percent: 5 }, 10), 1);
  t.equal(sizeOf({ count: 50 }, 20), 20);
  t.same(parseSize('5%', '--canary'), { percent: 5 });
  t.same(parseSize('12', '--wave'), { count: 12 });
  for (const bad of ['0', '0%', '101%', '-3', '2.5', 'x']) t.throws(() => parseSize(bad, '--canary'), { code: 'E_USAGE', subject: '--canary' }, bad);
  t.throws(() => checkRules({ ...rules, abortFailureRate: 1.5 }), { code: 'E_USAGE' });
  t.throws(() => checkRules({ ...rules, minFinished: 0 }), { code: 'E_USAGE' });
});

t.test('the canary goes first, alone, and no wave starts before it finished', async (t) => {
  const targets = ids(20);
  const first = nextStep(input(targets));
  t.same(first, { kind: 'send', wave: 0, kiosks: targets.slice(0, 2) }, 'canary = 10% of 20, the first targets in order');
  const running = input(targets, { [targets[0]]: { state: 'trial', wave: 0, sentAt: 900 }, [targets[1]]: final('committed') });
  t.same(nextStep(running), { kind: 'wait', wave: 0, inFlight: 1 }, 'one canary kiosk still in trial: wait');
  const sentOnly = input(targets, { [targets[0]]: { state: 'sent', wave: 0, sentAt: 900 }, [targets[1]]: { state: 'sent', wave: 0, sentAt: 900 } });
  t.equal(nextStep(sentOnly).kind, 'wait', 'jobs sent but nothing reported: wait');
  const done = input(targets, { [targets[0]]: final('committed'), [targets[1]]: final('committed') });
  t.same(nextStep(done), { kind: 'send', wave: 1, kiosks: targets.slice(2, 8) }, 'canary finished: the first wave, 30% of 20');
});

t.test('a job without a final report after the kiosk timeout counts as failed (timeout), and lets the rollout go on', async (t) => {
  const targets = ids(20);
  const kiosks = { [targets[0]]: { state: 'downloading' as const, wave: 0, sentAt: 0 }, [targets[1]]: final('committed') };
  t.equal(nextStep(input(targets, kiosks, { now: 59_999 })).kind, 'wait');
  const late = input(targets, kiosks, { now: 60_000 });
  t.same(timedOut(late.kiosks, late.now, rules.kioskTimeoutMs), [targets[0]]);
  t.equal(countRollout(late).failed, 1);
  t.equal(nextStep(late).kind, 'send', 'below min-finished the failure does not abort; the next wave goes');
});

t.test('abort when the failure rate passes the threshold, never below min-finished, never at the threshold', async (t) => {
  const targets = ids(100);
  const statuses = (committed: number, failed: number, rolledBack = 0): Record<string, KioskStatus> => {
    const o: Record<string, KioskStatus> = {};
    let i = 0;
    for (let n = 0; n < committed; n++) o[targets[i++]] = final('committed');
    for (let n = 0; n < failed; n++) o[targets[i++]] = final('failed');
    for (let n = 0; n < rolledBack; n++) o[targets[i++]] = final('rolled_back');
    return o;
  };
  const below = nextStep(input(targets, statuses(0, 2, 2)));
  t.equal(below.kind, 'send', '4 of 4 failed but only 4 finished (min 5): no abort yet');
  const at = nextStep(input(targets, statuses(8, 1, 1)));
  t.equal(at.kind, 'send', '2 of 10 = 0.2, at the threshold: goes on');
  const above = nextStep(input(targets, statuses(7, 2, 1)));
  t.equal(above.kind, 'abort', '3 of 10 = 0.3 > 0.2: abort');
  if (above.kind === 'abort') {
    t.match(above.reason, /failure rate 0\.300 \(1 rolled back \+ 2 failed of 10 finished\) is above 0\.2/);
    t.equal(above.counts.failureRate, 0.3);
  }
  const mid = { ...statuses(7, 2, 1), [targets[50]]: { state: 'trial' as const, wave: 1, sentAt: 900 } };
  t.equal(nextStep(input(targets, mid)).kind, 'abort', 'aborts while a wave is still in flight, without waiting for it');
});

t.test('after an abort no job is sent: wait for jobs in flight, then done (aborted)', async (t) => {
  const targets = ids(20);
  const aborted = { reason: 'failure rate', wave: 0 };
  const inFlight = input(targets, { [targets[0]]: final('rolled_back'), [targets[1]]: { state: 'installing', wave: 0, sentAt: 900 } }, { aborted });
  t.same(nextStep(inFlight), { kind: 'wait', wave: 0, inFlight: 1 });
  const over = input(targets, { [targets[0]]: final('rolled_back'), [targets[1]]: final('committed') }, { aborted });
  const step = nextStep(over);
  t.equal(step.kind, 'done');
  if (step.kind === 'done') {
    t.equal(step.aborted, true);
    t.equal(step.counts.pending, 18, 'the others stayed put');
  }
});

t.test('offline kiosks are skipped, stay pending and are reported as staying put', async (t) => {
  const targets = ids(10);
  const online = new Set(targets.filter((_, i) => i % 2 === 1));
  const first = nextStep(input(targets, {}, { online }));
  t.same(first, { kind: 'send', wave: 0, kiosks: [targets[1]] }, 'the canary is the first online target');
  const all: Record<string, KioskStatus> = {};
  for (const k of online) all[k] = final('committed', 1);
  const end = nextStep(input(targets, all, { online }));
  t.equal(end.kind, 'done', 'no online kiosk left to send to: done');
  if (end.kind === 'done') {
    t.equal(end.aborted, false);
    t.equal(end.counts.pending, 5, 'five offline kiosks stayed put');
    t.equal(end.counts.committed, 5);
  }
});

t.test('a duplicate or stale report does not change the decision (the plan reads states, not report counts)', async (t) => {
  const targets = ids(20);
  const kiosks = { [targets[0]]: final('committed'), [targets[1]]: final('committed') };
  t.same(nextStep(input(targets, kiosks)), nextStep(input(targets, { ...kiosks })), 'same states, same decision');
  t.equal(countRollout(input(targets, kiosks)).committed, 2);
});
