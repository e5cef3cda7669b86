import t from 'tap';
import { makeImage } from '../../base/rgb-image.js';
import { HYPERFAS_INPUT, hyperfasCrop, isHyperfasModel, preprocessHyperfas } from '../../models/pad/hyperfas.js';

t.test('HyperFAS crop: a square of 1.2x the box longer side about its centre, as its demo crops', async (t) => {
  const frame = makeImage(640, 480);
  // box 100x150 centred at (300, 200): r = trunc(150 * 0.6) = 90
  t.same(hyperfasCrop(frame, { x: 250, y: 125, width: 100, height: 150 }), { x: 210, y: 110, width: 180, height: 180 });
});

t.test('HyperFAS crop: cut at the frame edges (not shifted), as its demo does', async (t) => {
  const frame = makeImage(200, 100);
  // centre (20, 50), r = 60: x from -40 -> 0, y from -10 -> 0, y2 110 -> height - 2 = 98
  t.same(hyperfasCrop(frame, { x: 0, y: 0, width: 40, height: 100 }), { x: 0, y: 0, width: 80, height: 98 });
});

t.test('HyperFAS input: B,G,R planes, (x - 127.5) / 127.5, 224x224 NCHW', async (t) => {
  const img = makeImage(300, 300);
  for (let i = 0; i < img.data.length; i += 3) img.data.set([255, 0, 51], i);
  const { data, shape } = preprocessHyperfas(img, { x: 100, y: 80, width: 60, height: 100 });
  t.same(shape, [1, 3, HYPERFAS_INPUT, HYPERFAS_INPUT]);
  const plane = HYPERFAS_INPUT * HYPERFAS_INPUT;
  t.same(
    [data[0], data[plane], data[2 * plane]].map((v) => Math.round(v * 1000) / 1000),
    [-0.6, -1, 1],
    'blue first (51), then green (0), then red (255)',
  );
});

t.test('the manifest id and its variants name the model', async (t) => {
  t.ok(isHyperfasModel('hyperfas'));
  t.ok(isHyperfasModel('hyperfas@fp16'));
  t.notOk(isHyperfasModel('minifas_celebaspoof'));
});
