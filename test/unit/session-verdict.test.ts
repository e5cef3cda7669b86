import t from 'tap';
import { DEFAULT_SESSION_CONFIG, type SessionConfig } from '../../agent/session/config.js';
import { createSession, step } from '../../agent/session/machine.js';
import { planFromSteps } from '../../protocol/plan.js';
import type { SessionState } from '../../agent/session/state.js';
import type { CancelReason, StepKind } from '../../agent/session/types.js';
import {
  drive,
  during,
  frontal,
  GENUINE,
  hasNumericArray,
  indexAt,
  performance,
  Script,
  tick,
  turned,
  type Answer,
  type DriveOptions,
} from '../helpers/session-frames.js';

const KINDS: StepKind[] = ['turn_left', 'blink', 'look_up'];
const session = (config: Partial<SessionConfig> = {}, kinds: StepKind[] = KINDS): SessionState =>
  createSession({ plan: planFromSteps(kinds), config: { allowWeakPlans: true, qualityStableMs: 0, ...config }, startMs: 1000 });
const run = (options: DriveOptions = {}, config: Partial<SessionConfig> = {}, kinds = KINDS, face = {}) =>
  drive(session(config, kinds), shift(performance(kinds, face).events), options);
/** Scripts start at 0; the sessions here start at 1000 ms. */
const shift = <E extends { tMs: number }>(events: E[]) => events.map((e) => ({ ...e, tMs: e.tMs + 1000 }));

t.test('genuine: accept, with the scores, timings and quality summary', async (t) => {
  const r = run();
  const res = r.result!;
  t.equal(res.verdict, 'accept');
  t.same(res.reasons, []);
  t.equal(res.cancelReason, null);
  t.equal(res.endedIn, 'deciding');
  t.notOk(
    run().effects.some((e) => e.type === 'progress' && e.phase === 'final_capture'),
    'no final capture phase: decided on the frame of the last step',
  );
  t.equal(res.scores.match.similarity, 0.7);
  t.ok(res.scores.match.samples >= 3, `${res.scores.match.samples} frontal samples: anchor and neutral frames of the challenge`);
  t.equal(res.scores.attack.aggregate, 0.1);
  t.ok(res.scores.attack.samples >= 5);
  t.equal(res.scores.continuity.minSimilarity, 0.85);
  t.equal(res.scores.continuity.outliers, 0);
  t.same(
    res.scores.motion.steps.map((m) => m.kind),
    ['turn_left', 'look_up'],
  );
  t.ok(res.scores.motion.residual! > 0.05, `motion residual ${res.scores.motion.residual}`);
  t.equal(res.scores.motion.planar, false);
  t.equal(res.timings.gatePassedAtMs, 67, 'session-relative times');
  t.ok(res.timings.challengeDoneAtMs! > res.timings.gatePassedAtMs!);
  t.equal(res.timings.finishedAtMs, res.timings.challengeDoneAtMs, 'verdict on the frame of the last step');
  t.equal(res.timings.lastStepToVerdictMs, 0);
  t.equal(res.timings.decisionsRequested, res.timings.decisionsReceived);
  t.equal(res.quality.anchor?.sharpness, 80);
  t.equal(res.quality.dominantIssue, null);
  t.same(res.plan, planFromSteps(KINDS));
});

t.test('the result carries no image, landmarks or embedding', async (t) => {
  const json = JSON.stringify(run().result);
  t.notOk(hasNumericArray(JSON.parse(json)), 'no numeric arrays at any depth');
  t.notMatch(json, /landmark|embedding|pixels|crop|image/i);
  // the state keeps anchor landmarks for the motion check, but the result must not
  t.ok(hasNumericArray({ x: [1, 2, 3, 4] }), 'the scanner itself works');
});

const attack =
  (score: number): DriveOptions['answer'] =>
  () =>
    ({ ...(GENUINE as object), attackScore: score }) as Answer;

t.test('replay or print: presentation_attack from the aggregated attack score', async (t) => {
  const r = run({ answer: attack(0.9) });
  t.equal(r.result?.verdict, 'reject');
  t.same(r.result?.reasons, ['presentation_attack']);
  t.equal(r.result?.scores.attack.median, 0.9);
  t.equal(r.result?.scores.attack.threshold, DEFAULT_SESSION_CONFIG.maxAttackScore, 'the calibrated operating threshold');
});

t.test('one odd attack score neither fails a live session nor passes an attack', async (t) => {
  let n = 0;
  const oneHigh = run({ answer: () => ({ ...(GENUINE as object), attackScore: n++ === 3 ? 0.99 : 0.1 }) as Answer });
  t.equal(oneHigh.result?.verdict, 'accept');
  t.equal(oneHigh.result?.scores.attack.max, 0.99);
  n = 0;
  const oneLow = run({ answer: () => ({ ...(GENUINE as object), attackScore: n++ === 3 ? 0.01 : 0.9 }) as Answer });
  t.same(oneLow.result?.reasons, ['presentation_attack']);
  n = 0;
  const trimmed = run(
    { answer: () => ({ ...(GENUINE as object), attackScore: n++ % 4 === 0 ? 0.95 : 0.2 }) as Answer },
    {
      attackAggregate: 'trimmed_mean',
    },
  );
  t.equal(trimmed.result?.scores.attack.method, 'trimmed_mean');
  t.ok(trimmed.result!.scores.attack.aggregate! > 0.2 && trimmed.result!.scores.attack.aggregate! < 0.5);
  t.equal(trimmed.result?.verdict, 'accept');
});

t.test('turned captures do not feed the attack score', async (t) => {
  const r = run({
    answer: (c, tMs) => ({ ...(GENUINE as object), attackScore: c.purpose === 'challenge' && tMs > 1400 && tMs < 1900 ? 0.95 : 0.1 }) as Answer,
  });
  t.equal(r.result?.verdict, 'accept');
  t.ok(r.result!.scores.attack.samples < r.result!.timings.decisionsRequested, 'some captures were left out');
});

t.test('face swap mid-session: identity_changed', async (t) => {
  const swap = (_c: { purpose: string }, tMs: number): Answer => ({ ...(GENUINE as object), anchorSimilarity: tMs > 2000 ? 0.1 : 0.85 }) as Answer;
  const r = run({ answer: swap });
  t.equal(r.result?.verdict, 'reject');
  t.same(r.result?.reasons, ['identity_changed']);
  t.ok(r.result!.scores.continuity.outliers >= 2);
  t.equal(r.result?.scores.continuity.minSimilarity, 0.1);
  let n = 0;
  const oneBlurred = run({ answer: () => ({ ...(GENUINE as object), anchorSimilarity: n++ === 2 ? 0.2 : 0.8 }) as Answer });
  t.equal(oneBlurred.result?.verdict, 'accept', 'one outlier is tolerated');
  t.equal(oneBlurred.result?.scores.continuity.outliers, 1);
});

t.test('another person than the reference: no_match', async (t) => {
  const r = run({ answer: () => ({ ...(GENUINE as object), referenceSimilarity: 0.15 }) as Answer });
  t.equal(r.result?.verdict, 'reject');
  t.same(r.result?.reasons, ['no_match']);
  t.equal(r.result?.scores.match.similarity, 0.15);
});

t.test('several failures are all reported, in a fixed order', async (t) => {
  const r = run({ answer: () => ({ attackScore: 0.95, referenceSimilarity: 0.1, anchorSimilarity: 0.1 }) });
  t.same(r.result?.reasons, ['presentation_attack', 'identity_changed', 'no_match']);
});

t.test('a tilted flat photo: motion_inconsistent, unless motion may not reject', async (t) => {
  const flat = run({}, {}, KINDS, { flat: true });
  t.equal(flat.result?.verdict, 'reject');
  t.same(flat.result?.reasons, ['motion_inconsistent']);
  t.ok(flat.result!.scores.motion.residual! < 1e-6);
  t.equal(flat.result?.scores.motion.planar, true);
  const recorded = run({}, { motionCanReject: false }, KINDS, { flat: true });
  t.equal(recorded.result?.verdict, 'accept');
  t.equal(recorded.result?.scores.motion.planar, true, 'still recorded');
  const blinkOnly = run({}, {}, ['blink'], { flat: true });
  t.equal(blinkOnly.result?.scores.motion.residual, null, 'no head move: no motion measurement');
  t.equal(blinkOnly.result?.scores.motion.planar, null);
});

t.test('too few usable attack scores: retry insufficient_samples, unless the attack is evident', async (t) => {
  const fail = (c: { purpose: string }): Answer => (c.purpose === 'anchor' ? GENUINE : 'fail');
  const r = run({ answer: fail });
  t.equal(r.result?.verdict, 'retry');
  t.same(r.result?.reasons, ['insufficient_samples']);
  t.ok(
    r.captures.some((c) => c.purpose === 'final'),
    'failed answers: it kept capturing frontal frames after the last step',
  );
  t.equal(r.result?.timings.decisionsRequested, 30, 'until the budget was spent');
  t.ok(r.result!.timings.decisionsFailed > 0);
  // Failing answers after the gate, frontal frames after the last step: final captures until the limit.
  const timed = run({ answer: fail }, { maxDecisions: 1000 });
  t.equal(timed.state.phase, 'final_capture');
  const more = (st: SessionState) => during(st.nowMs + 1, st.phaseStartedMs + 3100, frontal);
  const tr = drive(timed.state, more(timed.state), { answer: fail });
  t.same(tr.result?.reasons, ['insufficient_samples'], 'after finalCaptureTimeoutMs');
  t.ok(tr.result!.timings.finishedAtMs + 1000 - timed.state.phaseStartedMs > 3000);
  const evidentRun = run({ answer: (c) => (c.purpose === 'anchor' ? ({ ...(GENUINE as object), attackScore: 0.97 } as Answer) : 'fail') });
  t.same(evidentRun.result?.reasons, ['presentation_attack'], 'a reject is never turned into a retry');
});

t.test('too few frontal samples: retry insufficient_samples', async (t) => {
  // Eyes half closed (EAR 0.18: not a closure, but not open enough for the gate) after the gate:
  // attack samples, but no frontal one besides the anchor, and none after the last step either.
  const halfClosed = () =>
    shift(new Script().frontal(100).frontal(1500, { ear: 0.18 }).move('turn_left', 30, { ear: 0.18 }).frontal(3500, { ear: 0.18 }).events);
  const r = drive(session({}, ['turn_left']), halfClosed());
  t.equal(r.result?.scores.match.samples, 1);
  t.ok(r.result!.scores.attack.samples >= 5);
  t.same(r.result?.reasons, ['insufficient_samples']);
  const one = drive(session({ minFrontalSamples: 1 }, ['turn_left']), halfClosed());
  t.equal(one.result?.verdict, 'accept', 'with minFrontalSamples 1 the anchor suffices');
  t.equal(one.result?.timings.lastStepToVerdictMs, 0);
});

t.test('no answer for the first face: retry decision_unavailable', async (t) => {
  const r = run({ answer: (c) => (c.purpose === 'anchor' ? 'fail' : GENUINE) });
  t.equal(r.result?.verdict, 'retry');
  t.same(r.result?.reasons, ['decision_unavailable']);
});

t.test('deciding waits for outstanding decisions, then for at most decisionTimeoutMs', async (t) => {
  const r = run({ answer: () => 'none' });
  t.equal(r.state.phase, 'deciding');
  t.equal(r.prompts[r.prompts.length - 1], 'please_wait');
  const pending = r.captures.map((c) => c.frameIndex);
  let s = r.state;
  for (const [i, frameIndex] of pending.entries()) {
    t.equal(s.phase, 'deciding', `still waiting before answer ${i + 1}`);
    s = step(s, { type: 'decision', tMs: s.nowMs + 10, frameIndex, attackScore: 0.1, referenceSimilarity: 0.7, anchorSimilarity: i === 0 ? null : 0.8 }).state;
  }
  t.equal(s.result?.verdict, 'accept');
  t.equal(s.result?.timings.lastStepToVerdictMs, r.state.nowMs + 10 * pending.length - r.state.challengeDoneMs!, 'the verdict waited for the answers');
  t.ok(s.result!.timings.lastStepToVerdictMs! > 0);
  const late = drive(r.state, [tick(r.state.phaseStartedMs + 3000)]);
  t.equal(late.state.phase, 'deciding');
  const timedOut = drive(r.state, [tick(r.state.phaseStartedMs + 3001)]);
  t.same(timedOut.result?.reasons, ['decision_unavailable']);
});

t.test('decision answers that were not asked for, or are not numbers, are not trusted', async (t) => {
  const r = drive(session(), shift(new Script().frontal(100).events), { answer: () => 'none' });
  const anchor = r.captures[0].frameIndex;
  let s = step(r.state, { type: 'decision', tMs: 1100, frameIndex: 999, attackScore: 0, referenceSimilarity: 1, anchorSimilarity: 1 }).state;
  t.same(s.samples, r.state.samples, 'unknown frame ignored');
  s = step(s, { type: 'decision', tMs: 1100, frameIndex: anchor, attackScore: Number.NaN, referenceSimilarity: 1, anchorSimilarity: null }).state;
  t.equal(s.samples[0].status, 'failed');
  s = step(s, { type: 'decision', tMs: 1100, frameIndex: anchor, attackScore: 0, referenceSimilarity: 1, anchorSimilarity: null }).state;
  t.equal(s.samples[0].status, 'failed', 'a second answer does not overwrite');
});

t.test('the final capture waits for a frontal face, then gives up and decides', async (t) => {
  const kinds: StepKind[] = ['turn_left'];
  const stays = shift(new Script().frontal(100).add(4000, (tt) => turned(tt, 25)).events);
  const r = drive(session({}, kinds), stays);
  t.equal(r.result?.endedIn, 'deciding');
  t.equal(r.captures.filter((c) => c.purpose === 'final').length, 0);
  t.equal(r.result?.verdict, 'retry', 'turned captures do not count for the attack check');
  t.same(r.result?.reasons, ['insufficient_samples']);
});

const phases: [string, number][] = [
  ['waiting_face', 0],
  ['quality_gate', 1],
  ['challenge', 6],
  ['final_capture', 0],
  ['deciding', 0],
];
for (const [phase] of phases) {
  t.test(`cancel during ${phase}: reject cancelled`, async (t) => {
    const events = shift(performance(KINDS).events);
    let s = session();
    // Deciding: answers never come. Final capture: only the anchor's answer comes, the others fail.
    const answer =
      phase === 'deciding'
        ? () => 'none' as const
        : phase === 'final_capture'
          ? (c: { purpose: string }) => (c.purpose === 'anchor' ? GENUINE : ('fail' as const))
          : undefined;
    const config = phase === 'final_capture' ? { maxDecisions: 1000 } : {};
    if (phase !== 'waiting_face') s = session(config);
    for (const e of events) {
      if (s.phase === phase) break;
      s = drive(s, [e], { answer }).state;
    }
    t.equal(s.phase, phase);
    const reason: CancelReason = phase === 'challenge' ? 'tamper' : 'customer_left';
    const out = step(s, { type: 'cancel', tMs: s.nowMs + 5, reason });
    const done = out.effects.find((e) => e.type === 'done');
    t.ok(done && done.type === 'done');
    const res = out.state.result!;
    t.equal(res.verdict, 'reject');
    t.same(res.reasons, ['cancelled']);
    t.equal(res.cancelReason, reason);
    t.equal(res.endedIn, phase);
    if (phase === 'challenge') t.equal(res.steps[0].status, 'interrupted');
  });
}

t.test('done: every further event is ignored', async (t) => {
  const r = run();
  for (const e of [frontal(99999), tick(99999), { type: 'cancel', tMs: 99999, reason: 'operator' } as const]) {
    const out = step(r.state, e);
    t.equal(out.state, r.state);
    t.same(out.effects, []);
  }
});

t.test('pure and deterministic: the input state is never changed, the same events give the same effects', async (t) => {
  const events = shift(performance(KINDS).events);
  const a = run();
  const b = run();
  t.same(JSON.stringify(a.effects), JSON.stringify(b.effects));
  const s0 = session();
  const snapshot = JSON.stringify(s0);
  let s = s0;
  const seen: string[] = [];
  for (const e of events.slice(0, 40)) {
    const before = JSON.stringify(s);
    const next = step(s, e).state;
    t.equal(JSON.stringify(s), before);
    seen.push(before);
    s = next;
  }
  t.equal(JSON.stringify(s0), snapshot);
  t.equal(indexAt(1000 / 30), 1);
});

t.test('time never goes backwards inside the machine', async (t) => {
  const s = drive(session(), [tick(5000)]).state;
  const back = step(s, frontal(2000)).state;
  t.equal(back.nowMs, 5000);
});
