import t from 'tap';
import { chooseThreshold, equalErrorRate, errorRate, matchRatesAt, padRatesAt, rocAuc, sumRates, tarAtFar, type PadSample } from '../../agent/eval/metrics.js';

t.test('ROC AUC counts ties as one half', async (t) => {
  // 9 positive/negative pairs: 0.9 and 0.8 beat all three negatives (3 + 3);
  // 0.4 loses to 0.5, ties 0.4 (0.5), beats 0.1 (1) -> 1.5. AUC = 7.5 / 9.
  const r = rocAuc([0.9, 0.8, 0.4], [0.5, 0.4, 0.1]);
  t.equal(r.positives, 3);
  t.equal(r.negatives, 3);
  t.ok(Math.abs(r.auc! - 7.5 / 9) < 1e-12, `auc ${r.auc}`);
  t.equal(rocAuc([2, 3], [0, 1]).auc, 1, 'perfect separation');
  t.equal(rocAuc([0, 1], [2, 3]).auc, 0, 'perfectly reversed');
  t.equal(rocAuc([1, 1], [1, 1, 1]).auc, 0.5, 'all tied');
  t.equal(rocAuc([], [1]).auc, null, 'no positives: undefined, not 0.5');
  t.throws(() => rocAuc([Number.NaN], [1]), RangeError);
});

t.test('EER is taken where FMR and FNMR are closest, with its threshold and counts', async (t) => {
  // accept when score >= t. Candidates 0.1 .. 0.9:
  //   t=0.5: FNMR 1/4 (0.3), FMR 2/4 (0.5, 0.6)
  //   t=0.6: FNMR 1/4,       FMR 1/4 (0.6)      <- equal: EER 0.25
  //   t=0.7: FNMR 1/4,       FMR 0/4
  const r = equalErrorRate([0.9, 0.8, 0.7, 0.3], [0.6, 0.5, 0.2, 0.1]);
  t.equal(r.eer, 0.25);
  t.equal(r.threshold, 0.6);
  t.same(r.fmr, { rate: 0.25, errors: 1, total: 4 });
  t.same(r.fnmr, { rate: 0.25, errors: 1, total: 4 });
  const sep = equalErrorRate([0.8, 0.9], [0.1, 0.2]);
  t.equal(sep.eer, 0, 'separable: EER 0');
  t.equal(sep.threshold, 0.8, 'at the lowest genuine score');
  t.equal(equalErrorRate([0.5], []).eer, null);
});

t.test('TAR at FAR: smallest observed threshold whose FAR <= target, achieved FAR reported', async (t) => {
  const genuine = [0.9, 0.8, 0.7, 0.6, 0.5];
  const impostor = [0.75, 0.55, 0.4, 0.3, 0.3, 0.2, 0.2, 0.1, 0.1, 0.0];
  // FAR 10 % of 10 impostors allows 1 error: the threshold must exceed 0.55, and the smallest
  // observed score above it is 0.6 -> accepts 0.9, 0.8, 0.7, 0.6 (4/5) and impostor 0.75 (1/10).
  const r10 = tarAtFar(genuine, impostor, 0.1);
  t.equal(r10.threshold, 0.6);
  t.same(r10.tar, { rate: 0.8, count: 4, total: 5 });
  t.same(r10.far, { rate: 0.1, errors: 1, total: 10 });
  t.equal(r10.resolved, true);
  // FAR 1 % of 10 allows 0 errors: threshold above 0.75 -> 0.8 -> TAR 2/5; too few impostors to resolve 1 %.
  const r1 = tarAtFar(genuine, impostor, 0.01);
  t.equal(r1.threshold, 0.8);
  t.same(r1.tar, { rate: 0.4, count: 2, total: 5 });
  t.same(r1.far, { rate: 0, errors: 0, total: 10 });
  t.equal(r1.resolved, false);
  // the top score is an impostor and no impostor error is allowed: only +Infinity (accept nothing) qualifies
  const none = tarAtFar([0.1], [0.9], 0);
  t.equal(none.threshold, Number.POSITIVE_INFINITY);
  t.same(none.tar, { rate: 0, count: 0, total: 1 });
});

t.test('FNMR and FMR at a given threshold carry their counts', async (t) => {
  const r = matchRatesAt([0.9, 0.8, 0.7, 0.6, 0.5], [0.75, 0.55, 0.4], 0.6);
  t.same(r.fnmr, { rate: 0.2, errors: 1, total: 5 }, 'only 0.5 rejected');
  t.same(r.fmr, { rate: 1 / 3, errors: 1, total: 3 }, 'only 0.75 accepted');
  t.same(matchRatesAt([], [], 0.5).fmr, { rate: null, errors: 0, total: 0 }, 'empty: null rate, not 0');
});

t.test('APCER per species and BPCER at a threshold (ISO/IEC 30107-3)', async (t) => {
  const s = (score: number, species: string): PadSample => ({ score, species, bonaFide: species === 'real' });
  const samples = [s(0.1, 'real'), s(0.2, 'real'), s(0.6, 'real'), s(0.9, 'print'), s(0.4, 'print'), s(0.7, 'print'), s(0.3, 'replay')];
  const r = padRatesAt(samples, 0.5);
  // attack when score >= 0.5: bona fide 0.6 is an error (1/3); print 0.4 slips through (1/3); replay 0.3 slips (1/1)
  t.same(r.bpcer, { rate: 1 / 3, errors: 1, total: 3 });
  t.same(r.apcer.print, { rate: 1 / 3, errors: 1, total: 3 });
  t.same(r.apcer.replay, { rate: 1, errors: 1, total: 1 });
  t.same(Object.keys(r.apcer), ['print', 'replay'], 'no APCER entry for bona fide');
  t.same(r.apcerMax, { species: 'replay', rate: 1, errors: 1, total: 1 }, 'APCER_AP is the worst species');
  // a score equal to the threshold is classified an attack, for both classes
  const tie = padRatesAt([s(0.5, 'real'), s(0.5, 'print')], 0.5);
  t.same([tie.bpcer.errors, tie.apcer.print.errors], [1, 0]);
});

t.test('chooseThreshold on a calibration split', async (t) => {
  const bona = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95];
  const attacks = [0.85, 0.65, 0.45];
  const scores = [...bona, ...attacks];
  const isAttack = scores.map((_, i) => i >= bona.length);

  // BPCER <= 10 % of 10: one bona fide error allowed -> threshold above 0.9 -> 0.95 (itself an error)
  const c10 = chooseThreshold(scores, isAttack, { bpcer: 0.1 });
  t.equal(c10.threshold, 0.95);
  t.same(c10.fpr, { rate: 0.1, errors: 1, total: 10 });
  t.same(c10.fnr, { rate: 1, errors: 3, total: 3 }, 'every attack below 0.95');

  // BPCER <= 20 %: two allowed -> smallest threshold above 0.8 is 0.85 (bona fide 0.9, 0.95 flagged)
  const c20 = chooseThreshold(scores, isAttack, { bpcer: 0.2 });
  t.equal(c20.threshold, 0.85);
  t.same(c20.fpr, { rate: 0.2, errors: 2, total: 10 });
  t.same(c20.fnr, { rate: 2 / 3, errors: 2, total: 3 });

  // APCER <= 1/3: at most one attack below the threshold -> the largest is 0.65 (only 0.45 missed);
  // bona fide >= 0.65: 0.7, 0.8, 0.9, 0.95 -> 4/10
  const ca = chooseThreshold(scores, isAttack, { apcer: 0.34 });
  t.equal(ca.threshold, 0.65);
  t.same(ca.fnr, { rate: 1 / 3, errors: 1, total: 3 });
  t.same(ca.fpr, { rate: 0.4, errors: 4, total: 10 });

  // FMR is the same arithmetic for matching (positive = mated)
  t.equal(chooseThreshold(scores, isAttack, { fmr: 0.2 }).threshold, 0.85);
  t.equal(chooseThreshold(scores, isAttack, { fnmr: 0.34 }).threshold, 0.65);

  // chosen on one split, reported on a disjoint one: the test split's own counts
  const test = padRatesAt(
    [
      { score: 0.9, bonaFide: true, species: 'real' },
      { score: 0.3, bonaFide: true, species: 'real' },
      { score: 0.86, bonaFide: false, species: 'print' },
      { score: 0.84, bonaFide: false, species: 'print' },
    ],
    c20.threshold,
  );
  t.same(test.bpcer, { rate: 0.5, errors: 1, total: 2 });
  t.same(test.apcer.print, { rate: 0.5, errors: 1, total: 2 });

  t.throws(() => chooseThreshold([1, 2], [true], { bpcer: 0.1 }), RangeError);
});

t.test('rates add up over folds', async (t) => {
  t.same(sumRates([errorRate(1, 4), errorRate(2, 6)]), { rate: 0.3, errors: 3, total: 10 });
  t.same(sumRates([]), { rate: null, errors: 0, total: 0 });
});
