import t from 'tap';
import { attackScoreFromLogits, PAD_INPUT, preprocessPad } from '../../models/pad/silent-face.js';
import { preprocessHumanAntispoof } from '../../models/pad/human-antispoof.js';
import { preprocessEmbedding, l2normalise } from '../../models/embedding/arcface.js';
import { greyStats } from '../../models/quality/quality.js';
import { makeImage } from '../../base/rgb-image.js';
import { ARCFACE_TEMPLATE_112 } from '../../models/embedding/align.js';

function solid(w: number, h: number, rgb: [number, number, number]) {
  const img = makeImage(w, h);
  for (let i = 0; i < img.data.length; i += 3) img.data.set(rgb, i);
  return img;
}

t.test('PAD input: B,G,R planes of raw 0-255, 128x128', async (t) => {
  const { data, shape } = preprocessPad(solid(640, 480, [200, 100, 10]), { x: 300, y: 200, width: 80, height: 100 });
  t.same(shape, [1, 3, 128, 128]);
  const plane = PAD_INPUT * PAD_INPUT;
  t.same([data[0], data[plane], data[2 * plane]], [10, 100, 200]);
});

t.test('PAD score is 1 - P(live class)', async (t) => {
  t.ok(attackScoreFromLogits([10, 0, 0]) < 0.001, 'live logits -> low attack score');
  t.ok(attackScoreFromLogits([0, 10, 0]) > 0.999, 'print logits -> high attack score');
  t.ok(Math.abs(attackScoreFromLogits([0, 0, 0]) - 2 / 3) < 1e-9);
});

t.test('Human antispoof input: NHWC RGB / 255', async (t) => {
  const { data, shape } = preprocessHumanAntispoof(solid(300, 300, [255, 0, 51]), { x: 10, y: 10, width: 100, height: 100 });
  t.same(shape, [1, 128, 128, 3]);
  t.same(
    [data[0], data[1], data[2]].map((v) => Math.round(v * 100) / 100),
    [1, 0, 0.2],
  );
});

t.test('embedding input: template keypoints give an identity warp of a uniform image', async (t) => {
  const [eyeRight, eyeLeft, nose, mouthRight, mouthLeft] = ARCFACE_TEMPLATE_112;
  const { data, shape } = preprocessEmbedding(solid(112, 112, [255, 127.5, 0] as never), { eyeRight, eyeLeft, nose, mouthRight, mouthLeft });
  t.same(shape, [1, 3, 112, 112]);
  t.ok(Math.abs(data[5000] - 127.5 / 128) < 1e-6, 'R = (255 - 127.5) / 128');
  const v = l2normalise(new Float32Array([3, 4]));
  t.same(
    [...v].map((x) => Math.round(x * 1e6) / 1e6),
    [0.6, 0.8],
  );
});

t.test('quality: flat crop has no contrast or sharpness; a checkerboard is sharp', async (t) => {
  const side = 64;
  const flat = new Float32Array(side * side).fill(100);
  t.same(greyStats(flat, side), { brightness: 100, contrast: 0, sharpness: 0 });
  const board = new Float32Array(side * side).map((_, i) => (((i % side) + Math.floor(i / side)) % 2 ? 200 : 0));
  const s = greyStats(board, side);
  t.equal(s.brightness, 100);
  t.equal(s.contrast, 100);
  t.ok(s.sharpness > 100000);
});

t.test('padImage puts the image in the middle of a canvas of its border colour', async (t) => {
  const { padImage } = await import('../../models/still.js');
  const src = solid(10, 4, [10, 20, 30]);
  src.data.set([250, 250, 250], (1 * 10 + 5) * 3); // an inner pixel does not change the border mean
  const { image, dx, dy } = padImage(src, 0.5);
  t.same([image.width, image.height, dx, dy], [20, 8, 5, 2]);
  t.same([...image.data.subarray(0, 3)], [10, 20, 30], 'margin filled with the border mean');
  t.same([...image.data.subarray(((dy + 1) * 20 + dx + 5) * 3, ((dy + 1) * 20 + dx + 5) * 3 + 3)], [250, 250, 250], 'content copied at the offset');
});

t.test('fusion of attack scores: mean log-odds, symmetric, one model alone unchanged, certainty clipped', async (t) => {
  const { fuseAttackScores } = await import('../../models/pad/fusion.js');
  t.equal(fuseAttackScores([0.3]), 0.3);
  t.ok(Math.abs(fuseAttackScores([0.2, 0.8]) - 0.5) < 1e-12, 'opposite odds cancel');
  t.ok(Math.abs(fuseAttackScores([0.9, 0.9]) - 0.9) < 1e-12, 'agreement stays');
  t.ok(fuseAttackScores([0.5, 0.99]) > 0.9, 'a sure model counts more than a hesitant one (a plain mean would give 0.745)');
  t.ok(fuseAttackScores([0, 1]) > 0.49 && fuseAttackScores([0, 1]) < 0.51, 'clipped: neither 0 nor 1 vetoes');
  t.throws(() => fuseAttackScores([]), RangeError);
});

t.test('MiniFASNet-family inputs: each model its own size, crop and live class', async (t) => {
  const { miniFasParams, preprocessPad, attackScoreFromLogits } = await import('../../models/pad/silent-face.js');
  const { makeImage } = await import('../../base/rgb-image.js');
  t.same(miniFasParams('fr_liveness@fp16'), { input: 128, cropScale: 2.7, liveClass: 0 });
  t.same(miniFasParams('minifasnet_v1se'), { input: 80, cropScale: 4.0, liveClass: 1 });
  t.equal(miniFasParams('antispoof'), null);
  const img = makeImage(640, 480);
  t.same(preprocessPad(img, { x: 300, y: 200, width: 60, height: 80 }, miniFasParams('minifasnet_v2')!).shape, [1, 3, 80, 80]);
  t.ok(attackScoreFromLogits([0, 10, 0], 1) < 0.001, 'class 1 live for Silent-Face');
  t.ok(attackScoreFromLogits([0, 10, 0], 0) > 0.99, "the same logits read with fr_liveness's class 0");
});
