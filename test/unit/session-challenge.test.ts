import t from 'tap';
import type { SessionConfig } from '../../agent/session/config.js';
import { createSession } from '../../agent/session/machine.js';
import { derivePlan, drawReplacements, planFromSteps } from '../../protocol/plan.js';
import type { SessionState } from '../../agent/session/state.js';
import { MOVE_KINDS, type StepKind } from '../../agent/session/types.js';
import { drive, eyesClosed, frameOf, faceSignals, frontal, noFace, performance, pitched, Script, tick, turned, twoFaces } from '../helpers/session-frames.js';

const session = (steps: string, config: Partial<SessionConfig> = {}, limits?: Partial<Record<StepKind, number>>): SessionState =>
  createSession({ plan: planFromSteps(steps, { timeLimitsMs: limits }), config: { allowWeakPlans: true, qualityStableMs: 0, ...config }, startMs: 0 });

/** A session that has just passed the gate (anchor at t = 67), ready for step 1. */
const started = (steps: string, config: Partial<SessionConfig> = {}) => drive(session(steps, config), new Script().frontal(100).events);

for (const kind of ['blink', ...MOVE_KINDS] as StepKind[]) {
  t.test(`a single ${kind} step observed in time: accept`, async (t) => {
    const r = drive(session(kind), performance([kind]).events);
    t.equal(r.result?.verdict, 'accept', JSON.stringify(r.result?.reasons));
    const st = r.result!.steps[0];
    t.equal(st.status, 'passed');
    t.ok(st.durationMs! > 0 && st.durationMs! < 1500, `duration ${st.durationMs}`);
    if (kind === 'blink') t.equal(st.peakDeg, null);
    else t.ok(st.peakDeg! >= (kind.startsWith('turn') ? 20 : 15), `peak ${st.peakDeg}`);
    t.ok(r.prompts.includes(kind as never), `prompted ${kind}`);
  });
}

t.test('steps in order, progress after each, then straight to the verdict', async (t) => {
  const r = drive(session('turn_left,blink,turn_right'), performance(['turn_left', 'blink', 'turn_right']).events);
  t.equal(r.result?.verdict, 'accept');
  const progress = r.effects.flatMap((e) => (e.type === 'progress' ? [`${e.phase}:${e.completedSteps}`] : []));
  t.same(progress, ['quality_gate:0', 'challenge:0', 'challenge:1', 'challenge:2', 'deciding:3'], 'no final capture: the samples were all there');
  t.same(
    r.result!.steps.map((s) => s.status),
    ['passed', 'passed', 'passed'],
  );
  const [a, b, c] = r.result!.steps;
  t.ok(a.completedAtMs! <= b.startedAtMs! && b.completedAtMs! <= c.startedAtMs!, 'each step starts when the previous one is done');
});

t.test('the plan order matters: the right moves in the wrong order are rejected', async (t) => {
  const r = drive(session('turn_right,turn_left'), performance(['turn_left', 'turn_right']).events);
  t.equal(r.result?.verdict, 'reject');
  t.same(r.result?.reasons, ['challenge_wrong_action']);
  t.equal(r.result?.steps[0].status, 'wrong_action');
  t.equal(r.result?.steps[1].status, 'not_started');
  t.equal(r.result?.endedIn, 'challenge');
});

const wrong: [string, string, (t: number) => ReturnType<typeof frontal>][] = [
  ['turn_left', 'turning right', (t) => turned(t, -28)],
  ['turn_right', 'turning left', (t) => turned(t, 28)],
  ['look_up', 'looking down', (t) => pitched(t, -22)],
  ['look_down', 'looking up', (t) => pitched(t, 22)],
  ['blink', 'turning the head', (t) => turned(t, 28)],
  ['look_up', 'turning left', (t) => turned(t, 28)],
];
for (const [asked, done, make] of wrong) {
  t.test(`${asked} asked, ${done} done: challenge_wrong_action once held for 200 ms`, async (t) => {
    const brief = drive(started(asked).state, [make(100), make(133), make(167)]);
    t.equal(brief.state.phase, 'challenge', 'two or three frames (67 ms) are not a clear move yet');
    const r = drive(brief.state, [make(200), make(233), make(267), make(300)]);
    t.same(r.result?.reasons, ['challenge_wrong_action']);
    t.equal(r.result?.steps[0].status, 'wrong_action');
  });
}

t.test('a short wrong excursion is tolerated (pose noise, a glance)', async (t) => {
  const r = drive(started('turn_left').state, [turned(100, -28), turned(133, -28), frontal(167), turned(200, 25), turned(233, 25)]);
  t.equal(r.state.steps[0].status, 'passed');
  t.not(r.state.phase, 'challenge');
});

t.test('sway and overshoot are not wrong moves: only past the threshold + margin from the anchor AND the step start', async (t) => {
  // turn_right passes; coming back the head swings 22 degrees past neutral to the left, held 400 ms, then looks up.
  const s = drive(session('turn_right,look_up'), new Script().frontal(100).add(300, (t) => turned(t, -30)).events);
  t.equal(s.state.steps[0].status, 'passed');
  const back = drive(s.state, new Script(400).add(100, (t) => turned(t, -8)).add(400, (t) => turned(t, 22)).events);
  t.equal(back.state.phase, 'challenge', 'a 22 degree overshoot (below 20 + 5 from the anchor) is not a wrong action');
  const up = drive(back.state, new Script(900).add(200, (t) => frameOf(t, [faceSignals({ yaw: 12, pitch: 20 })])).events);
  t.equal(up.state.steps[1].status, 'passed', 'a diagonal look up (12 degrees of yaw with it) is a look up');
  // A head already held 12 degrees low when a look_up step starts: lowering it 12 more is not yet a clear look down.
  const low = drive(
    session('look_up,turn_left'),
    new Script()
      .frontal(100)
      .add(200, (t) => pitched(t, 20))
      .add(200, (t) => pitched(t, -12)).events,
  );
  t.equal(low.state.current?.index, 1);
  const lower = drive(low.state, new Script(500).add(400, (t) => pitched(t, -24)).events);
  t.equal(lower.state.phase, 'challenge', '24 degrees below the anchor but only 12 below the step start');
  const clear = drive(lower.state, new Script(900).add(400, (t) => pitched(t, -34)).events);
  t.same(clear.result?.reasons, ['challenge_wrong_action'], '34 below the anchor, 22 below the step start: clear');
});

t.test('a move below the threshold is not enough: challenge_timeout at the step limit', async (t) => {
  const s = drive(session('turn_left', {}, { turn_left: 2000 }), new Script().frontal(100).add(1900, (t) => turned(t, 15)).events);
  t.equal(s.state.phase, 'challenge', 'still waiting within the window');
  const r = drive(s.state, [turned(2066, 15), turned(2100, 15)]);
  t.equal(r.result?.verdict, 'reject');
  t.same(r.result?.reasons, ['challenge_timeout']);
  t.equal(r.result?.steps[0].status, 'timeout');
  t.ok(Math.abs(r.result!.steps[0].peakDeg! - 15) < 1e-9, 'the peak reached is reported');
});

t.test('challenge_timeout fires on ticks when frames stop', async (t) => {
  const r = drive(started('blink', { maxFaceLostMs: 10000 }).state, [tick(3000), tick(5067)]);
  t.equal(r.state.phase, 'challenge', 'not before the limit (started at 67 ms, 5000 ms window)');
  const r2 = drive(r.state, [tick(5068)]);
  t.same(r2.result?.reasons, ['challenge_timeout']);
});

t.test('the face-lost limit comes first when it is shorter than the window', async (t) => {
  const r = drive(started('blink').state, [tick(3000), tick(5068)]);
  t.same(r.result?.reasons, ['face_lost']);
});

t.test('a blink is open -> closed -> open within the limit', async (t) => {
  const closedFromStart = drive(session('blink'), [frontal(0, { ear: 0.25 }), frontal(33), frontal(67)]).state;
  t.equal(closedFromStart.phase, 'challenge');
  const r = drive(closedFromStart, [eyesClosed(100), eyesClosed(133), frontal(167)]);
  t.equal(r.state.steps[0].status, 'passed', 'the step was armed with open eyes, so this counts');
  t.equal(r.state.phase, 'final_capture', 'done 100 ms after the gate: attack and frontal samples are still missing');
  // Long closure (1.2 s) is not a blink; the next short one is.
  const s = drive(started('blink').state, new Script(100).add(1200, eyesClosed).frontal(100).events);
  t.equal(s.state.steps[0].status, 'not_started');
  const s2 = drive(s.state, new Script(1400).blink().events);
  t.equal(s2.state.steps[0].status, 'passed');
  // Eyes half-closed (between the thresholds) is not a closure.
  const half = drive(started('blink').state, new Script(100).add(300, (t) => frontal(t, { ear: 0.17 })).frontal(100).events);
  t.equal(half.state.steps[0].status, 'not_started');
});

t.test('eyes closed when the step starts, then opened, is not a blink (no open frame first)', async (t) => {
  const s = drive(session('turn_left,blink'), new Script().frontal(100).add(400, (t) => turned(t, 25)).events);
  t.equal(s.state.steps[0].status, 'passed');
  const r = drive(s.state, [eyesClosed(500), eyesClosed(533), frontal(567)]);
  t.equal(r.state.current?.armedMs, 533, 'armed on the second neutral frame (a release takes holdFrames frames), eyes closed');
  t.equal(r.state.steps[1].status, 'not_started', 'the reopening alone does not count');
  const flicker = drive(r.state, [eyesClosed(600), frontal(633)]);
  t.equal(flicker.state.steps[1].status, 'not_started', 'closed on one frame at 30 fps (33 ms): an eye-model flicker, not a blink');
  const r2 = drive(flicker.state, [eyesClosed(667), eyesClosed(700), frontal(733)]);
  t.equal(r2.state.steps[1].status, 'passed');
});

t.test('the next step counts once the last move is released: back below half its threshold, or overtaken', async (t) => {
  const s = drive(session('turn_left,look_up'), new Script().frontal(100).add(400, (t) => turned(t, 25)).events);
  t.equal(s.state.steps[0].status, 'passed');
  t.equal(s.prompts[s.prompts.length - 1], 'look_up', 'the next step is asked at once');
  const still = drive(s.state, new Script(500).add(600, (t) => frameOf(t, [faceSignals({ yaw: 25, pitch: 12 })])).events);
  t.equal(still.state.current?.armedMs, null, 'still turned left (25/20 of the turn threshold, more than 12/15 up): not armed');
  t.equal(still.state.steps[1].status, 'not_started');
  const over = drive(still.state, [
    frameOf(1100, [faceSignals({ yaw: 25, pitch: 35 })]),
    frameOf(1133, [faceSignals({ yaw: 25, pitch: 35 })]),
    frameOf(1167, [faceSignals({ yaw: 25, pitch: 35 })]),
    frameOf(1200, [faceSignals({ yaw: 25, pitch: 35 })]),
  ]);
  t.equal(over.state.steps[1].status, 'passed', 'up further than left (35/15 > 25/20): the turn is over, the look up counts');
  const back = drive(s.state, [turned(533, 9), pitched(567, 20), pitched(600, 20), pitched(633, 20)]);
  t.equal(back.state.current, null);
  t.equal(back.state.steps[1].status, 'passed', 'back below 10 degrees: released, then up');
});

t.test('angles are relative to the anchor pose (camera above the screen)', async (t) => {
  const down = { pitch: -12 };
  const s = drive(session('look_down'), new Script(0, down).frontal(100).events);
  t.equal(s.state.phase, 'challenge');
  const r = drive(s.state, [pitched(100, -20), pitched(133, -20), pitched(167, -20)]);
  t.equal(r.state.steps[0].status, 'not_started', '8 degrees below the anchor is not a look down');
  const r2 = drive(r.state, [pitched(200, -28), pitched(233, -28)]);
  t.equal(r2.state.steps[0].status, 'passed');
});

t.test('a short face dropout is tolerated; a long one is face_lost', async (t) => {
  const s = drive(started('turn_left').state, [noFace(100), noFace(400), noFace(1000), frontal(1100)]);
  t.equal(s.state.phase, 'challenge');
  t.ok(s.prompts.includes('look_at_camera'));
  t.equal(s.prompts[s.prompts.length - 1], 'turn_left', 'the step prompt comes back with the face');
  const r = drive(s.state, [noFace(1200), noFace(2500), noFace(2601)]);
  t.same(r.result?.reasons, ['face_lost']);
  t.equal(r.result?.verdict, 'reject');
  t.equal(r.result?.steps[0].status, 'interrupted');
  const ticks = drive(started('turn_left').state, [tick(1000), tick(1568)]);
  t.same(ticks.result?.reasons, ['face_lost'], 'also on ticks');
});

t.test('a second person during the challenge: multiple_faces after 3 frames', async (t) => {
  const s = drive(started('blink').state, [twoFaces(100), twoFaces(133), frontal(167), twoFaces(200), twoFaces(233)]);
  t.equal(s.state.phase, 'challenge', 'two frames are tolerated (detector noise)');
  t.equal(s.prompts[s.prompts.length - 1], 'only_one_person');
  const r = drive(s.state, [twoFaces(267)]);
  t.equal(r.result?.verdict, 'reject');
  t.same(r.result?.reasons, ['multiple_faces']);
});

t.test('captures: anchor first, missing samples soon after the gate, then at intervals, step marks, no final capture', async (t) => {
  const kinds: StepKind[] = ['turn_left', 'blink', 'look_down'];
  const r = drive(session(kinds.join(',')), performance(kinds).events);
  t.equal(r.result?.verdict, 'accept');
  const c = r.captures;
  t.equal(c[0].purpose, 'anchor');
  t.equal(new Set(c.map((x) => x.frameIndex)).size, c.length, 'no frame twice');
  t.equal(c.filter((x) => x.purpose === 'final').length, 0, 'nothing missing after the last step: no final capture');
  const challenge = c.filter((x) => x.purpose === 'challenge');
  // Until 5 attack and 3 frontal samples are in: every 60 ms (2 frames at 30 fps); then every 300 ms.
  const early = challenge.slice(0, 4);
  for (let i = 1; i < early.length; i++) t.ok(early[i].frameIndex - early[i - 1].frameIndex >= 2, 'catch-up captures at least 60 ms apart');
  t.ok(early[3].frameIndex - c[0].frameIndex <= 10, `the first 5 samples within ~300 ms of the gate (frames ${c[0].frameIndex}..${early[3].frameIndex})`);
  const later = challenge.slice(4);
  t.ok(later.length >= 3, `${later.length} interval captures`);
  for (let i = 1; i < later.length; i++) t.ok(later[i].frameIndex - later[i - 1].frameIndex >= 9, 'then at least 300 ms apart');
  const marks = c.filter((x) => x.purpose === 'step');
  t.ok(marks.length >= 2, `${marks.length} step marks`);
  t.equal(c[c.length - 1].purpose, 'step', 'the frame completing the last step is sampled');
  t.equal(c[c.length - 1].frameIndex, r.state.samples[r.state.samples.length - 1].frameIndex);
  t.equal(r.result!.timings.lastStepToVerdictMs, 0, 'verdict on the frame of the last step');
});

t.test('the budget: interval captures leave room for every step mark and the reserve', async (t) => {
  const kinds: StepKind[] = ['turn_left', 'turn_right', 'look_up', 'look_down'];
  // 8 decisions: the reserve (3) and the 4 step marks (3 arming frames after the anchor + the last step) leave 1 interval capture after the anchor.
  const few = drive(session(kinds.join(','), { maxDecisions: 8 }), performance(kinds).events);
  t.ok(few.captures.length <= 8, 'the budget holds');
  const marks = few.captures.filter((x) => x.purpose === 'step');
  t.equal(marks.length, 4, 'steps 2-4 armed and the last one completed: each sampled');
  t.equal(few.captures[few.captures.length - 1].purpose === 'step' || few.captures[few.captures.length - 1].purpose === 'final', true);
  t.ok(few.state.samples.length - few.captures.filter((x) => x.purpose === 'final').length <= 8 - 3, 'the reserve was left for after the last step');
  // A swap after the interval budget is spent is still caught at the step marks.
  let swapped = false;
  const swap = drive(session(kinds.join(','), { maxDecisions: 8 }), performance(kinds).events, {
    answer: (cap, tMs) => {
      if (cap.purpose === 'step' && tMs > 1500) swapped = true;
      return { attackScore: 0.1, referenceSimilarity: 0.7, anchorSimilarity: swapped ? 0.05 : 0.85 };
    },
  });
  t.equal(swap.result?.verdict, 'reject');
  t.same(swap.result?.reasons, ['identity_changed']);
});

t.test('explicit plans of one step or without a head move are refused unless allowed', async (t) => {
  for (const steps of ['blink', 'turn_left', 'blink,blink']) {
    t.throws(() => createSession({ plan: planFromSteps(steps), startMs: 0 }), { code: 'E_CHALLENGE_INVALID' }, steps);
    t.doesNotThrow(() => createSession({ plan: planFromSteps(steps), config: { allowWeakPlans: true }, startMs: 0 }), `${steps} with allowWeakPlans`);
  }
  t.doesNotThrow(() => createSession({ plan: planFromSteps('blink,turn_right'), startMs: 0 }));
});

/** A nonce whose plan starts with a head move other than turn_right, and the plan's first two kinds. */
function nonceStartingWithMove(): { nonce: string; first: StepKind; second: StepKind } {
  for (let i = 0; ; i++) {
    const nonce = `${i.toString(16).padStart(4, '0')}aabbccddeeff00112233`.slice(0, 32);
    const steps = derivePlan(nonce).steps.map((x) => x.kind);
    if (steps[0] !== 'blink' && steps[0] !== 'turn_right' && steps[0] !== 'turn_left') return { nonce, first: steps[0], second: steps[1] };
  }
}

t.test('a nonce plan replaces one failed step by one drawn from the nonce; a second failure rejects', async (t) => {
  const { nonce, first } = nonceStartingWithMove();
  const plan = derivePlan(nonce);
  const [replacement] = drawReplacements(nonce, [{ failed: first, previous: null }]);
  const s = drive(createSession({ plan, config: { qualityStableMs: 0 }, startMs: 0 }), new Script().frontal(100).events);
  t.equal(s.state.current?.kind, first);
  // The customer turns to their own right: a clear wrong move for a look up / look down step.
  const wrongTurn = drive(s.state, new Script(100).add(300, (t) => turned(t, -30)).events);
  t.equal(wrongTurn.state.phase, 'challenge', 'not rejected: one more step');
  t.equal(wrongTurn.state.steps[0].status, 'wrong_action');
  t.same({ kind: wrongTurn.state.steps[1].kind, replacement: wrongTurn.state.steps[1].replacement }, { kind: replacement, replacement: true });
  t.equal(wrongTurn.state.steps.length, plan.steps.length + 1);
  t.equal(wrongTurn.prompts[wrongTurn.prompts.length - 1], replacement, 'the replacement is asked');
  const progress = wrongTurn.effects.filter((e) => e.type === 'progress');
  t.same(
    progress[progress.length - 1],
    { type: 'progress', phase: 'challenge', completedSteps: 0, totalSteps: plan.steps.length },
    "the customer sees the plan's step count",
  );
  // Failing the replacement too (no head back, no move, timeout) ends the session.
  const timeout = drive(wrongTurn.state, [tick(400 + 6500)]);
  t.same(
    timeout.result?.reasons.filter((r) => r.startsWith('challenge')),
    ['challenge_timeout'],
  );
  t.same(timeout.result?.steps.map((x) => x.status).slice(0, 2), ['wrong_action', 'timeout']);
  t.equal(timeout.result?.plan.steps.length, plan.steps.length, 'the signed plan stays the derived one (the carrier recomputes the replacement)');
  // Explicit plans have no nonce: no replacement.
  const explicit = drive(session(`${first},turn_left`), new Script().frontal(100).add(300, (t) => turned(t, -30)).events);
  t.same(explicit.result?.reasons, ['challenge_wrong_action']);
  // stepRetries 0: none either.
  const none = drive(
    createSession({ plan, config: { qualityStableMs: 0, stepRetries: 0 }, startMs: 0 }),
    new Script().frontal(100).add(300, (t) => turned(t, -30)).events,
  );
  t.same(none.result?.reasons, ['challenge_wrong_action']);
});
