import t from 'tap';
import { caseConfig, parseSuite } from '../../agent/session/suite.js';

const HEAD = 'case\tkind\tclass\tid\tvideo\tchallenge\texpected\texpected_reason\tconfig\tnote';
const row = (...cols: string[]) => cols.join('\t');

t.test('suite rows: the config column carries session settings per case', async (t) => {
  const cases = parseSuite(
    [
      HEAD,
      '# comment',
      row('a', 'session', 'bona_fide', 'id.jpg', 'v.mp4', 'blink', 'accept', '-', 'allowWeakPlans=true;turnYawDeg=25', 'note'),
      row('b', 'session', 'impostor', 'id.jpg', 'v.mp4', 'turn_left,blink', 'reject', 'no_match', '-', ''),
      row('c', 'document', 'bona_fide', 'a.jpg', 'b.jpg', '-', 'accept', '-', '-'),
    ].join('\n'),
  );
  t.same(
    cases.map((c) => c.config),
    [{ allowWeakPlans: true, turnYawDeg: 25 }, {}, {}],
  );
  t.equal(cases[1].expectedReason, 'no_match');
});

t.test('suite rows: bad config is refused naming the line', async (t) => {
  for (const [config, why] of [
    ['turnYawDeg=500', 'out of range'],
    ['noSuchKey=1', 'unknown key'],
    ['turnYawDeg', 'not key=value'],
  ]) {
    t.throws(
      () => parseSuite([HEAD, row('a', 'session', 'bona_fide', 'i', 'v', 'blink', 'accept', '-', config, '')].join('\n')),
      { code: 'E_LABELS_INVALID', message: /line 2/ },
      why,
    );
  }
  t.throws(
    () => parseSuite([HEAD, row('a', 'session', 'bona_fide', 'i', 'v', 'blink', 'accept', '-')].join('\n')),
    { code: 'E_LABELS_INVALID' },
    'eight columns',
  );
  t.throws(
    () => parseSuite([HEAD, row('a', 'session', 'genuine', 'i', 'v', 'blink', 'accept', '-', '-', '')].join('\n')),
    { code: 'E_LABELS_INVALID', message: /class/ },
    'unknown class',
  );
});

t.test('session-level rates: BPCER over bona fide, APCER per species, impostors, prompt to verdict', async (t) => {
  const { suiteRates } = await import('../../agent/session/suite.js');
  const o = (cls: string, verdict: string, promptToVerdictMs: number | null = 4000) => ({
    case: cls,
    kind: 'session' as const,
    class: cls as never,
    expected: { verdict: 'accept' as const, reason: null },
    actual: { verdict: verdict as never, reasons: [] },
    pass: true,
    scores: { match: null, attack: null, attackSamples: 0, motionResidual: null, motionSteps: null },
    framesSeen: 1,
    promptToVerdictMs,
    dominantIssue: null,
    note: '',
  });
  const r = suiteRates([
    o('bona_fide', 'accept', 3000),
    o('bona_fide', 'accept', 5000),
    o('bona_fide', 'retry', null),
    o('bona_fide', 'reject', 9000),
    o('attack:replay', 'reject'),
    o('attack:replay', 'accept'),
    o('attack:still', 'retry'),
    o('impostor', 'reject'),
    o('non_compliant', 'reject'),
  ]);
  t.same([r.bpcer.errors, r.bpcer.total], [2, 4], 'retry counts against the customer too');
  t.same([r.apcer.replay.errors, r.apcer.replay.total, r.apcer.still.errors, r.apcer_all.errors, r.apcer_all.total], [1, 2, 0, 1, 3]);
  t.same([r.impostors_accepted.errors, r.non_compliant_accepted.total], [0, 1]);
  t.equal(r.median_prompt_to_verdict_ms, 5000, 'median of 3000, 5000, 9000 (the retry never reached the challenge)');
});

t.test('timeoutScale multiplies only the wall-clock limits on engine calls (for emulated machines)', async (t) => {
  t.same(caseConfig({ config: { holdFrames: 3 } }, { turnYawDeg: 25 }), { holdFrames: 3, turnYawDeg: 25 }, 'scale 1: the case config as given');
  const slow = caseConfig({ config: { holdFrames: 3 }, timeoutScale: 50 }, { turnYawDeg: 25 });
  t.same(slow, { holdFrames: 3, turnYawDeg: 25, decisionTimeoutMs: 150000, analyzeTimeoutMs: 500000 }, 'defaults 3000 and 10000 ms, times 50');
  t.equal(caseConfig({ timeoutScale: 100 }, { decisionTimeoutMs: 9000 }).decisionTimeoutMs, 600000, "capped at the config's bound");
});
