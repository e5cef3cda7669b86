import t from 'tap';
import { fitLogistic, solve, thresholdAtBpcer } from '../../scripts/dev/pad-probe/logistic.js';

t.test('solve: Gaussian elimination with pivoting', async (t) => {
  const x = solve(
    [
      [0, 2, 1],
      [1, 1, 0],
      [3, 0, 1],
    ],
    [5, 3, 4],
  );
  [1, 2, 1].forEach((v, i) => t.ok(Math.abs(x[i] - v) < 1e-12, `x${i} = ${v}`));
});

t.test('fitLogistic: learns which input tells the classes apart, and L2 shrinks it', async (t) => {
  // input 0 carries the class (with overlap), input 1 is noise
  const x: number[][] = [];
  const y: boolean[] = [];
  for (let i = 0; i < 200; i++) {
    const attack = i % 2 === 0;
    x.push([(attack ? 1 : -1) + Math.sin(i * 1.7) * 1.2, Math.cos(i * 2.3)]);
    y.push(attack);
  }
  const weak = fitLogistic(x, y, 10);
  const strong = fitLogistic(x, y, 0.001);
  t.ok(strong([2, 0]) > 0 && strong([-2, 0]) < 0, 'the sign follows input 0');
  t.ok(Math.abs(strong([1, 1]) - strong([1, -1])) < Math.abs(strong([1, 0]) - strong([-1, 0])), 'input 1 weighs less');
  t.ok(Math.abs(weak([2, 0]) - weak([-2, 0])) < Math.abs(strong([2, 0]) - strong([-2, 0])), 'a larger L2 gives a flatter scorer');
  const correct = x.filter((v, i) => strong(v) > 0 === y[i]).length;
  t.ok(correct > 150, `${correct}/200 on the training data`);
});

t.test('thresholdAtBpcer: at most that share of bona fide scores above it', async (t) => {
  const bona = Array.from({ length: 40 }, (_, i) => i);
  const th = thresholdAtBpcer(bona, 0.05);
  t.equal(bona.filter((v) => v > th).length, 2, '2 of 40 is 5%');
  t.equal(thresholdAtBpcer(bona, 0), 39, 'none above');
});
