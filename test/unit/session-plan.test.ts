import t, { type Test } from 'tap';
import { createHash, createHmac } from 'node:crypto';
import { DEFAULT_TIME_LIMITS_MS, derivePlan, drawNonce, drawReplacements, isStrongPlan, PLAN_LABEL, PLAN_VERSION, planFromSteps } from '../../protocol/plan.js';
import { STEP_KINDS, type StepKind } from '../../agent/session/types.js';

const kinds = (nonce: string) => derivePlan(nonce).steps.map((s) => s.kind);

/** Reproducible test nonces: the first 128 bits of sha256("nonce-" + i). */
const nonceOf = (i: number) => createHash('sha256').update(`nonce-${i}`).digest('hex').slice(0, 32);

function throwsCode(t: Test, fn: () => unknown, code: string, why: string) {
  t.throws(fn, { code }, `${why}: ${code}`);
}

/**
 * The carrier's view: the algorithm written again from the doc comment of `derivePlan` alone,
 * with a precomputed byte buffer instead of a lazy stream.
 */
function carrierRecompute(nonceHex: string, failures: { failed: StepKind; previous: StepKind | null }[] = []): StepKind[] {
  const key = Buffer.from(nonceHex, 'hex');
  const blocks: Buffer[] = [];
  for (let i = 0; i < 8; i++) {
    const msg = Buffer.concat([Buffer.from(PLAN_LABEL, 'ascii'), Buffer.from([0, (i >>> 24) & 255, (i >>> 16) & 255, (i >>> 8) & 255, i & 255])]);
    blocks.push(createHmac('sha256', key).update(msg).digest());
  }
  const bytes = Buffer.concat(blocks);
  let pos = 0;
  const drawN = (n: number) => {
    for (;;) {
      const b = bytes[pos++];
      if (b < 256 - (256 % n)) return b % n;
    }
  };
  const order: StepKind[] = ['blink', 'turn_left', 'turn_right', 'look_up', 'look_down'];
  const count = 2 + drawN(3);
  const out = [order[drawN(5)]];
  while (out.length < count) {
    const c = order.filter((k) => k !== out[out.length - 1]);
    out.push(c[drawN(4)]);
  }
  if (failures.length === 0) return out;
  // Step 7: replacements continue the same stream.
  return failures.map(({ failed, previous }) => {
    const c = order.filter((k) => k !== failed && k !== previous);
    return c[drawN(c.length)];
  });
}

t.test('the same nonce always gives the same plan; case does not matter', async (t) => {
  const n = '00112233445566778899aabbccddeeff';
  t.same(derivePlan(n), derivePlan(n));
  t.same(derivePlan(n.toUpperCase()), derivePlan(n));
  t.equal(derivePlan(n.toUpperCase()).nonce, n);
  t.equal(derivePlan(n).version, PLAN_VERSION);
  t.equal(derivePlan(n).nonceSource, 'carrier');
});

t.test('frozen vectors of plan version 1 (a change here breaks every carrier)', async (t) => {
  t.same(kinds('00112233445566778899aabbccddeeff'), ['blink', 'look_down', 'look_up', 'blink']);
  t.same(kinds('ffffffffffffffff'), ['blink', 'turn_right', 'look_down']);
  t.same(kinds('0000000000000000'), ['blink', 'turn_left', 'look_down']);
  t.same(kinds('DEADBEEFCAFEBABE0123456789ABCDEF'), ['look_down', 'look_up', 'blink']);
});

t.test('a carrier recomputing from the documented algorithm gets the same plans', async (t) => {
  let same = 0;
  for (let i = 0; i < 500; i++) if (JSON.stringify(carrierRecompute(nonceOf(i))) === JSON.stringify(kinds(nonceOf(i)))) same++;
  t.equal(same, 500);
});

t.test('plans spread over all lengths and kinds, never repeat a kind back to back', async (t) => {
  const N = 4000;
  const lengths: Record<number, number> = { 2: 0, 3: 0, 4: 0 };
  const first: Record<string, number> = {};
  const all: Record<string, number> = {};
  const pairs = new Set<string>();
  let total = 0;
  let repeats = 0;
  const distinct = new Set<string>();
  for (let i = 0; i < N; i++) {
    const k = kinds(nonceOf(i));
    lengths[k.length] = (lengths[k.length] ?? 0) + 1;
    first[k[0]] = (first[k[0]] ?? 0) + 1;
    for (let j = 0; j < k.length; j++) {
      all[k[j]] = (all[k[j]] ?? 0) + 1;
      total++;
      if (j > 0) {
        if (k[j] === k[j - 1]) repeats++;
        pairs.add(`${k[j - 1]}>${k[j]}`);
      }
    }
    distinct.add(k.join(','));
  }
  t.same(Object.keys(lengths).sort(), ['2', '3', '4'], 'only 2 to 4 steps');
  for (const n of [2, 3, 4]) t.ok(lengths[n] / N > 0.29 && lengths[n] / N < 0.38, `length ${n}: ${lengths[n]} of ${N}`);
  for (const kind of STEP_KINDS) {
    t.ok(first[kind] / N > 0.17 && first[kind] / N < 0.23, `${kind} first: ${first[kind]}`);
    t.ok(all[kind] / total > 0.17 && all[kind] / total < 0.23, `${kind} overall: ${all[kind]} of ${total}`);
  }
  t.equal(repeats, 0, 'no kind twice in a row');
  t.equal(pairs.size, 20, 'every ordered pair of different kinds occurs');
  // 5*4 + 5*4*4 + 5*4*4*4 = 420 possible plans
  t.ok(distinct.size > 400, `${distinct.size} distinct plans`);
});

t.test('one bit of the nonce changes the plan often', async (t) => {
  let changed = 0;
  for (let i = 0; i < 300; i++) {
    const n = nonceOf(i);
    const flipped = (parseInt(n[0], 16) ^ 1).toString(16) + n.slice(1);
    if (kinds(n).join() !== kinds(flipped).join()) changed++;
  }
  t.ok(changed > 270, `${changed} of 300 plans changed`);
});

t.test('bad nonces are refused with E_CHALLENGE_INVALID', async (t) => {
  throwsCode(t, () => derivePlan('00112233445566'), 'E_CHALLENGE_INVALID', '56 bits');
  throwsCode(t, () => derivePlan(''), 'E_CHALLENGE_INVALID', 'empty');
  throwsCode(t, () => derivePlan('00112233445566778g'), 'E_CHALLENGE_INVALID', 'non-hex');
  throwsCode(t, () => derivePlan('0x112233445566778899'), 'E_CHALLENGE_INVALID', '0x prefix');
  throwsCode(t, () => derivePlan('00112233 44556677'), 'E_CHALLENGE_INVALID', 'space');
  throwsCode(t, () => derivePlan('00112233445566778'), 'E_CHALLENGE_INVALID', 'odd digit count');
  throwsCode(t, () => derivePlan('ab'.repeat(129)), 'E_CHALLENGE_INVALID', 'over 1024 bits');
  throwsCode(t, () => derivePlan(42 as unknown as string), 'E_CHALLENGE_INVALID', 'not a string');
  t.equal(derivePlan('0011223344556677').steps.length >= 2, true, 'exactly 64 bits is enough');
});

t.test('time limits come from the kind and can be overridden without changing the steps', async (t) => {
  const n = nonceOf(7);
  const plan = derivePlan(n);
  for (const s of plan.steps) t.equal(s.timeLimitMs, DEFAULT_TIME_LIMITS_MS[s.kind]);
  const custom = derivePlan(n, { timeLimitsMs: { blink: 1234, turn_left: 999, turn_right: 999, look_up: 999, look_down: 999 } });
  t.same(
    custom.steps.map((s) => s.kind),
    plan.steps.map((s) => s.kind),
  );
  for (const s of custom.steps) t.equal(s.timeLimitMs, s.kind === 'blink' ? 1234 : 999);
  throwsCode(t, () => derivePlan(n, { timeLimitsMs: { blink: 0 } }), 'E_CONFIG_INVALID', 'zero limit');
  throwsCode(t, () => derivePlan(n, { timeLimitsMs: { wink: 100 } as never }), 'E_CONFIG_INVALID', 'unknown kind');
});

t.test('device nonces: 128 bits, fresh each time, flagged in the plan', async (t) => {
  const a = drawNonce();
  const b = drawNonce();
  t.match(a, /^[0-9a-f]{32}$/);
  t.not(a, b);
  t.equal(
    drawNonce(() => new Uint8Array(16).fill(0xab)),
    'ab'.repeat(16),
    'uses the random source it is given',
  );
  const plan = derivePlan(a, { nonceSource: 'device' });
  t.equal(plan.nonceSource, 'device');
  t.equal(plan.nonce, a);
});

t.test('explicit plans from a list or a --challenge string', async (t) => {
  const p = planFromSteps('blink, turn_left');
  t.same(
    p.steps.map((s) => s.kind),
    ['blink', 'turn_left'],
  );
  t.equal(p.nonceSource, 'explicit');
  t.equal(p.nonce, null);
  t.equal(p.version, PLAN_VERSION);
  t.same(planFromSteps(['look_up']).steps, [{ kind: 'look_up', timeLimitMs: DEFAULT_TIME_LIMITS_MS.look_up }]);
  t.equal(planFromSteps('turn_right', { timeLimitsMs: { turn_right: 100 } }).steps[0].timeLimitMs, 100);
  throwsCode(t, () => planFromSteps(''), 'E_CHALLENGE_INVALID', 'empty');
  throwsCode(t, () => planFromSteps([]), 'E_CHALLENGE_INVALID', 'empty list');
  throwsCode(t, () => planFromSteps('blink,wink'), 'E_CHALLENGE_INVALID', 'unknown step');
  throwsCode(t, () => planFromSteps('blink,,turn_left'), 'E_CHALLENGE_INVALID', 'empty item');
  throwsCode(t, () => planFromSteps(Array(9).fill('blink')), 'E_CHALLENGE_INVALID', 'too many');
});

t.test('replacement steps: recomputable from the nonce and the failed steps, never the failed kind nor the one before', async (t) => {
  for (let i = 0; i < 200; i++) {
    const nonce = nonceOf(i);
    const plan = kinds(nonce);
    const failures = [
      { failed: plan[0], previous: null },
      { failed: plan[1], previous: plan[0] },
    ];
    const drawn = drawReplacements(nonce, failures);
    t.same(drawn, carrierRecompute(nonce, failures), `nonce ${i}: the carrier recomputes them`);
    t.not(drawn[0], plan[0]);
    t.ok(drawn[1] !== plan[1] && drawn[1] !== plan[0]);
    t.same(drawReplacements(nonce, failures.slice(0, 1)), drawn.slice(0, 1), 'the n-th replacement does not depend on later ones');
  }
});

t.test('a strong plan has two steps or more and a head move', async (t) => {
  t.ok(isStrongPlan(planFromSteps('blink,turn_left')));
  t.notOk(isStrongPlan(planFromSteps('turn_left')), 'one step');
  t.notOk(isStrongPlan(planFromSteps('blink,blink')), 'no head move');
  for (let i = 0; i < 200; i++) t.ok(isStrongPlan(derivePlan(nonceOf(i))), 'every derived plan is strong');
});
