import t from 'tap';
import {
  checkAttempt,
  countsAsFailure,
  createAbuseState,
  DEFAULT_ABUSE_CONFIG,
  prune,
  recordFailure,
  recordSuccess,
  type AbuseState,
} from '../../agent/session/abuse.js';

const MIN = 60_000;

function failAt(state: AbuseState, id: string, times: number[]): AbuseState {
  return times.reduce((s, now) => recordFailure(s, id, now), state);
}

t.test('defaults: 5 failures in 3 minutes, then a 10-minute cool-down', async (t) => {
  t.same({ ...DEFAULT_ABUSE_CONFIG }, { maxFailures: 5, windowMs: 3 * MIN, cooldownMs: 10 * MIN, maxTracked: 10_000 });
});

t.test('four failures are allowed, the fifth within the window starts the cool-down', async (t) => {
  let s = failAt(createAbuseState(), 'ref-a', [0, 10_000, 20_000, 30_000]);
  t.same(checkAttempt(s, 'ref-a', 40_000), { allowed: true, failuresInWindow: 4 });
  s = recordFailure(s, 'ref-a', 40_000);
  t.same(checkAttempt(s, 'ref-a', 40_001), { allowed: false, retryAfterMs: 10 * MIN - 1 });
  t.same(checkAttempt(s, 'ref-b', 40_001), { allowed: true, failuresInWindow: 0 }, 'other references are not affected');
  t.equal(checkAttempt(s, 'ref-a', 40_000 + 10 * MIN - 1).allowed, false, 'still cooling down 1 ms before the end');
  t.same(checkAttempt(s, 'ref-a', 40_000 + 10 * MIN), { allowed: true, failuresInWindow: 0 }, 'allowed again afterwards, count reset');
});

t.test('failures older than the window do not count', async (t) => {
  const s = failAt(createAbuseState(), 'ref', [0, MIN, 2 * MIN, 3 * MIN, 3 * MIN + 1]);
  // the failure at 0 left the window at 3 min: four in the window
  t.same(checkAttempt(s, 'ref', 3 * MIN + 2), { allowed: true, failuresInWindow: 4 });
  const s2 = recordFailure(s, 'ref', 3 * MIN + 2);
  t.equal(checkAttempt(s2, 'ref', 3 * MIN + 3).allowed, false);
});

t.test('failures during a cool-down do not extend it; after it the count starts again', async (t) => {
  let s = failAt(createAbuseState(), 'ref', [0, 1, 2, 3, 4]);
  s = recordFailure(s, 'ref', 5 * MIN);
  t.same(checkAttempt(s, 'ref', 5 * MIN), { allowed: false, retryAfterMs: 5 * MIN + 4 }, 'the cool-down still ends 10 min after the 5th failure');
  s = recordFailure(s, 'ref', 10 * MIN + 4);
  t.same(checkAttempt(s, 'ref', 10 * MIN + 5), { allowed: true, failuresInWindow: 1 });
});

t.test('a success clears the count but not a cool-down in force', async (t) => {
  let s = failAt(createAbuseState(), 'ref', [0, 1, 2]);
  s = recordSuccess(s, 'ref', 3);
  t.same(checkAttempt(s, 'ref', 4), { allowed: true, failuresInWindow: 0 });
  s = failAt(s, 'ref', [10, 11, 12, 13, 14]);
  t.equal(recordSuccess(s, 'ref', 15), s, 'blocked: unchanged');
  t.equal(checkAttempt(recordSuccess(s, 'ref', 15), 'ref', 16).allowed, false);
});

t.test('pure: every call returns a new state and leaves the old one as it was', async (t) => {
  const s0 = createAbuseState();
  const s1 = recordFailure(s0, 'ref', 0);
  t.not(s0, s1);
  t.equal(s0.entries.size, 0);
  t.equal(s1.entries.size, 1);
});

t.test('prune forgets references with nothing to remember; the tracked count is bounded', async (t) => {
  let s = failAt(createAbuseState(), 'old', [0]);
  s = failAt(s, 'blocked', [0, 1, 2, 3, 4]);
  s = failAt(s, 'recent', [4 * MIN]);
  const p = prune(s, 4 * MIN);
  t.same([...p.entries.keys()].sort(), ['blocked', 'recent']);
  t.equal(prune(p, 4 * MIN), p, 'nothing to prune: same state');
  let small = createAbuseState({ maxTracked: 2 });
  small = failAt(small, 'a', [1]);
  small = failAt(small, 'b', [2]);
  small = failAt(small, 'c', [3]);
  t.same([...small.entries.keys()], ['b', 'c'], 'least recently failed forgotten first');
});

t.test('which results count as failed attempts', async (t) => {
  t.equal(countsAsFailure({ verdict: 'reject', cancelReason: null }), true);
  t.equal(countsAsFailure({ verdict: 'reject', cancelReason: 'tamper' }), true);
  t.equal(countsAsFailure({ verdict: 'reject', cancelReason: 'customer_left' }), true);
  t.equal(countsAsFailure({ verdict: 'reject', cancelReason: 'operator' }), false);
  t.equal(countsAsFailure({ verdict: 'reject', cancelReason: 'shutdown' }), false);
  t.equal(countsAsFailure({ verdict: 'retry', cancelReason: null }), false);
  t.equal(countsAsFailure({ verdict: 'accept', cancelReason: null }), false);
});

t.test('invalid settings are refused naming the key', async (t) => {
  for (const bad of [{ maxFailures: 0 }, { windowMs: -1 }, { cooldownMs: 1.5 }, { bogus: 3 } as never]) {
    t.throws(() => createAbuseState(bad), { code: 'E_CONFIG_INVALID', subject: `abuse.${Object.keys(bad)[0]}` }, JSON.stringify(bad));
  }
});
