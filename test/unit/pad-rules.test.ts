import t from 'tap';
import { bpcerFloor, logit, recordingMidpoint, roomMidpoint, sigmoid } from '../../scripts/pad-rules.js';

t.test('bpcerFloor: at most floor(rate x n) bona fide scores above the threshold', async (t) => {
  const bona = [0.1, 0.9, 0.5, 0.7, 0.3, 0.2, 0.95, 0.4, 0.6, 0.8, 0.05, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 0.99];
  // 20 scores, 5%: one may be above; the threshold is the second highest
  const f = bpcerFloor(bona, 0.05);
  t.equal(f, 0.95);
  t.equal(bona.filter((s) => s > f).length, 1);
  t.equal(bpcerFloor(bona.slice(0, 19), 0.05), 0.95, '19 scores: floor(0.95) = 0 above, the highest is the floor');
  t.equal(bpcerFloor([], 0.05), Number.NEGATIVE_INFINITY);
});

t.test('recordingMidpoint: the log-odds midpoint between the highest bona fide and the lowest attack recording', async (t) => {
  const { t: th, margin } = recordingMidpoint([0.1, sigmoid(-1)], [sigmoid(3), 0.99]);
  t.ok(Math.abs(logit(th) - 1) < 1e-9, `threshold ${th}`);
  t.ok(Math.abs(margin - 4) < 1e-9);
});

t.test('roomMidpoint: the bona fide images can raise the lower bound', async (t) => {
  // recordings alone: -1 .. 3; 20 bona fide images whose second highest sits at logit 2 (5%: one above)
  const images = [...Array.from({ length: 18 }, () => 0.01), sigmoid(2), sigmoid(2.5)];
  const r = roomMidpoint(images, [sigmoid(-1)], [sigmoid(3)], 0.05);
  t.ok(Math.abs(logit(r.t) - 2.5) < 1e-9, `threshold at logit ${logit(r.t)}`);
  t.ok(Math.abs(r.room - 1) < 1e-9, `room ${r.room}`);
  t.equal(images.filter((s) => s > r.t).length, 0, 'the image above the floor is below the midpoint here');
});

t.test('roomMidpoint: no room when the image floor passes the lowest attack recording', async (t) => {
  const images = [...Array.from({ length: 18 }, () => 0.01), sigmoid(4), sigmoid(4)];
  const r = roomMidpoint(images, [sigmoid(-1)], [sigmoid(3)], 0.05);
  t.ok(r.room < 0, `room ${r.room}`);
});

t.test('roomMidpoint: with no image above the recordings it is rule 2', async (t) => {
  const r = roomMidpoint([0.01, 0.02], [sigmoid(-1)], [sigmoid(3)], 0.05);
  const r2 = recordingMidpoint([sigmoid(-1)], [sigmoid(3)]);
  t.ok(Math.abs(r.t - r2.t) < 1e-12 && Math.abs(r.room - r2.margin) < 1e-12);
});
