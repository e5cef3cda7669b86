import t from 'tap';
import { cropReflect, makeImage } from '../../base/rgb-image.js';
import { CELEBA_SPOOF_INPUT, preprocessCelebaSpoof } from '../../models/pad/celeba-spoof.js';

/** An image whose red channel is the column index and green the row index, so a crop's pixels name their source. */
function ramp(w: number, h: number) {
  const img = makeImage(w, h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) img.data.set([x, y, 7], (y * w + x) * 3);
  return img;
}

t.test('cropReflect mirrors past the edges without repeating the edge pixel (BORDER_REFLECT_101)', async (t) => {
  const src = ramp(5, 4);
  const crop = cropReflect(src, -3, -2, 11);
  const reds = Array.from({ length: 11 }, (_, c) => crop.data[c * 3]);
  // OpenCV: abcdef -> gfedcb|abcdef|edcbag; columns 0..4 padded 3 left, 3 right
  t.same(reds, [3, 2, 1, 0, 1, 2, 3, 4, 3, 2, 1]);
  const greens = Array.from({ length: 11 }, (_, r) => crop.data[r * 11 * 3 + 1]);
  t.same(greens, [2, 1, 0, 1, 2, 3, 2, 1, 0, 1, 2], 'rows reflect with period 2 * (4 - 1)');
  t.ok(
    crop.data.every((v, i) => i % 3 !== 2 || v === 7),
    'every pixel comes from the source',
  );
});

t.test('cropReflect inside the frame is a plain crop', async (t) => {
  const src = ramp(20, 20);
  const crop = cropReflect(src, 4, 6, 3);
  t.same([crop.data[0], crop.data[1]], [4, 6]);
  t.same([crop.data[(2 * 3 + 2) * 3], crop.data[(2 * 3 + 2) * 3 + 1]], [6, 8]);
  t.throws(() => cropReflect(src, 0, 0, 0), RangeError);
});

t.test('CelebA-Spoof input: R,G,B planes / 255, 128x128 (the 1.5x geometry: next test)', async (t) => {
  const img = makeImage(300, 300);
  for (let i = 0; i < img.data.length; i += 3) img.data.set([255, 0, 51], i);
  const { data, shape } = preprocessCelebaSpoof(img, { x: 100, y: 80, width: 60, height: 100 });
  t.same(shape, [1, 3, CELEBA_SPOOF_INPUT, CELEBA_SPOOF_INPUT]);
  const plane = CELEBA_SPOOF_INPUT * CELEBA_SPOOF_INPUT;
  t.same(
    [data[0], data[plane], data[2 * plane]].map((v) => Math.round(v * 100) / 100),
    [1, 0, 0.2],
  );
});

t.test('CelebA-Spoof input: a tight crop keeps the face at its scale (mirrored border, not a shrunken crop)', async (t) => {
  // a 100x100 image that is all face box: the 150 px square reaches 25 px past every edge
  const src = ramp(100, 100);
  const { data } = preprocessCelebaSpoof(src, { x: 0, y: 0, width: 100, height: 100 });
  // the first input column samples source column ~24 mirrored (|x - 0| for x = -25..): red well above 0
  const firstRed = data[0] * 255;
  t.ok(firstRed > 15 && firstRed < 30, `left edge is the mirror of columns 20-30 (${firstRed.toFixed(1)})`);
  const centre = data[64 * CELEBA_SPOOF_INPUT + 64] * 255;
  t.ok(Math.abs(centre - 50) < 2, `the centre is the face's centre (${centre.toFixed(1)})`);
});
