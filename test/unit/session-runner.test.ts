import t from 'tap';
import type { FaceDecision, FaceEngine } from '../../models/engine.js';
import { makeImage } from '../../base/rgb-image.js';
import type { FaceSignals, FrameSignals } from '../../models/types.js';
import { createSession, step } from '../../agent/session/machine.js';
import { planFromSteps } from '../../protocol/plan.js';
import { runSession, type RunnerFrame } from '../../agent/session/runner.js';
import type { FrameEvent, SessionEffect, StepKind } from '../../agent/session/types.js';
import { drive, eyesClosed, frontal, GENUINE, hasNumericArray, performance, Script, twoFaces } from '../helpers/session-frames.js';

const unit = (...v: number[]) => {
  const n = Math.hypot(...v);
  return Float32Array.from(v.map((x) => x / n));
};
const ALICE = unit(1, 0.1, 0);
const BOB = unit(0, 1, 0.2);

/**
 * An in-memory engine: each frame's "image" is a 1x1 picture whose red byte indexes a list of
 * synthetic signals; `decide` answers with the embedding of whoever `personAt` says is there.
 */
function fakeEngine(frames: FrameEvent[], personAt: (index: number) => Float32Array = () => ALICE, attack = 0.1) {
  const byImage = new Map<number, FrameSignals>();
  const decided: number[] = [];
  const engine: Pick<FaceEngine, 'analyze' | 'decide' | 'info'> = {
    analyze: async (image) => byImage.get(image.data[0] + 256 * image.data[1])!,
    decide: async (image, _face: FaceSignals): Promise<FaceDecision> => {
      const index = image.data[0] + 256 * image.data[1];
      decided.push(index);
      return { attackScore: attack, embedding: personAt(index), timings: {} };
    },
    info: () => ({ runtimes: [], models: [{ id: 'fake', task: 'test', sha256: 'ab'.repeat(32), runtime: 'onnx' }] }),
  };
  async function* source(): AsyncGenerator<RunnerFrame> {
    for (const f of frames) {
      byImage.set(f.index, f.signals);
      yield { index: f.index, timeMs: f.tMs, image: makeImage(1, 1, new Uint8Array([f.index % 256, f.index >> 8, 0])) };
    }
  }
  return { engine, frames: source(), decided };
}

const frameEvents = (kinds: StepKind[]) => performance(kinds).events as FrameEvent[];
const KINDS: StepKind[] = ['blink', 'turn_right'];

t.test('runner: a genuine recording is accepted; prompts and progress reach the screen; models are named', async (t) => {
  const fake = fakeEngine(frameEvents(KINDS));
  const shown: SessionEffect[] = [];
  const res = await runSession(
    { ...fake, reference: ALICE, onEffect: (e) => shown.push(e) },
    { plan: planFromSteps(KINDS), config: { allowWeakPlans: true, qualityStableMs: 0 } },
  );
  t.equal(res.verdict, 'accept', JSON.stringify(res.reasons));
  t.ok(res.scores.match.similarity! > 0.99);
  t.ok(shown.some((e) => e.type === 'prompt' && e.id === 'turn_right'));
  t.ok(shown.every((e) => e.type === 'prompt' || e.type === 'progress'));
  t.equal(res.models?.[0].id, 'fake');
  t.ok(fake.decided.length >= 5, `${fake.decided.length} decisions`);
  t.notOk(hasNumericArray(JSON.parse(JSON.stringify(res))), 'no embedding in the result');
});

t.test('runner: similarities are computed against the reference and the anchor', async (t) => {
  const impostor = await runSession(
    { ...fakeEngine(frameEvents(KINDS)), reference: BOB },
    { plan: planFromSteps(KINDS), config: { allowWeakPlans: true, qualityStableMs: 0 } },
  );
  t.same(impostor.reasons, ['no_match']);
  const swap = await runSession(
    { ...fakeEngine(frameEvents(KINDS), (i) => (i > 20 ? BOB : ALICE)), reference: ALICE },
    { plan: planFromSteps(KINDS), config: { allowWeakPlans: true, qualityStableMs: 0 } },
  );
  t.ok(swap.reasons.includes('identity_changed'), JSON.stringify(swap.reasons));
  const replay = await runSession(
    { ...fakeEngine(frameEvents(KINDS), () => ALICE, 0.9), reference: ALICE },
    { plan: planFromSteps(KINDS), config: { allowWeakPlans: true, qualityStableMs: 0 } },
  );
  t.same(replay.reasons, ['presentation_attack']);
});

t.test('runner: a recording that stops mid-challenge is a challenge_timeout', async (t) => {
  const cut = frameEvents(KINDS).filter((f) => f.tMs < 800);
  const res = await runSession({ ...fakeEngine(cut), reference: ALICE }, { plan: planFromSteps(KINDS), config: { allowWeakPlans: true, qualityStableMs: 0 } });
  t.equal(res.verdict, 'reject');
  t.same(res.reasons, ['challenge_timeout']);
});

t.test('runner: an aborted signal cancels with its reason', async (t) => {
  const ac = new AbortController();
  ac.abort('tamper');
  const res = await runSession(
    { ...fakeEngine(frameEvents(KINDS)), reference: ALICE, signal: ac.signal },
    { plan: planFromSteps(KINDS), config: { allowWeakPlans: true, qualityStableMs: 0 } },
  );
  t.same(res.reasons, ['cancelled']);
  t.equal(res.cancelReason, 'tamper');
  const other = new AbortController();
  other.abort(new Error('whatever'));
  const res2 = await runSession(
    { ...fakeEngine(frameEvents(KINDS)), reference: ALICE, signal: other.signal },
    { plan: planFromSteps(KINDS), config: { allowWeakPlans: true, qualityStableMs: 0 } },
  );
  t.equal(res2.cancelReason, 'operator');
});

t.test('runner: a failing decision path is a decision_failed, not a crash', async (t) => {
  const fake = fakeEngine(frameEvents(KINDS));
  fake.engine.decide = async () => {
    throw new Error('no crop');
  };
  const res = await runSession({ ...fake, reference: ALICE }, { plan: planFromSteps(KINDS), config: { allowWeakPlans: true, qualityStableMs: 0 } });
  t.equal(res.verdict, 'retry');
  t.same(res.reasons, ['decision_unavailable']);
});

t.test('end of input in each phase', async (t) => {
  const plan = planFromSteps(['blink']);
  const fresh = () => createSession({ plan, config: { allowWeakPlans: true, qualityStableMs: 0 }, startMs: 0 });
  const end = (tMs: number) => ({ type: 'end', tMs }) as const;
  t.same(step(fresh(), end(10)).state.result?.reasons, ['no_face'], 'waiting: retry no_face');
  t.same(drive(fresh(), [twoFaces(0), end(40)]).result?.reasons, ['multiple_faces'], 'waiting with two people');
  t.same(drive(fresh(), [frontal(0, { brightness: 10 }), end(40)]).result?.reasons, ['quality'], 'gate: retry quality');
  const inChallenge = drive(fresh(), [...new Script().frontal(200).events, end(200)]);
  t.same(inChallenge.result?.reasons, ['challenge_timeout'], 'challenge: the step was not done');
  // Decisions failing after the anchor: samples are missing after the blink, so final capture waits for frames.
  const anchorOnly = { answer: (c: { purpose: string }) => (c.purpose === 'anchor' ? GENUINE : ('fail' as const)) };
  const inFinal = drive(fresh(), new Script().frontal(300).add(100, eyesClosed).frontal(34).events, anchorOnly);
  t.equal(inFinal.state.phase, 'final_capture');
  const ended = drive(inFinal.state, [end(inFinal.state.nowMs)], anchorOnly);
  t.equal(ended.result?.endedIn, 'deciding', 'final capture: decide with what there is');
  t.equal(ended.result?.verdict, 'retry');
  t.same(ended.result?.reasons, ['insufficient_samples']);
  const deciding = drive(fresh(), performance(['blink']).events, { answer: () => 'none' });
  t.equal(step(deciding.state, end(deciding.state.nowMs)).state.phase, 'deciding', 'deciding waits for answers, not frames');
});
