import t from 'tap';
import { makeImage, type RgbImage } from '../../base/rgb-image.js';
import { lowerFaceSkin } from '../../models/quality/occlusion.js';
import type { Point } from '../../models/types.js';

/** 68 landmarks of a frontal face, inter-eye distance 100 px, nose bridge at (200, 160), chin at (200, 330). */
function landmarks(): Point[] {
  const p: Point[] = Array.from({ length: 68 }, () => ({ x: 200, y: 200 }));
  p[27] = { x: 200, y: 150 };
  p[28] = { x: 200, y: 170 };
  p[33] = { x: 200, y: 230 };
  p[48] = { x: 170, y: 270 };
  p[54] = { x: 230, y: 270 };
  p[8] = { x: 200, y: 330 };
  return p;
}

/** An image whose rows above `split` are `top` and below are `bottom` (RGB). */
function twoTone(top: [number, number, number], bottom: [number, number, number], split = 215): RgbImage {
  const img = makeImage(400, 400);
  for (let y = 0; y < 400; y++) {
    for (let x = 0; x < 400; x++) img.data.set(y < split ? top : bottom, (y * 400 + x) * 3);
  }
  return img;
}

const SKIN: [number, number, number] = [205, 150, 120];
const DARK_SKIN: [number, number, number] = [110, 72, 55];

t.test('bare skin below the nose: about 1; a white, blue or black mask: about 0 or below', async (t) => {
  t.ok(Math.abs(lowerFaceSkin(twoTone(SKIN, SKIN), landmarks(), 100)! - 1) < 0.01, 'same skin');
  t.ok(lowerFaceSkin(twoTone(SKIN, [150, 105, 85]), landmarks(), 100)! > 0.6, 'the same skin in shadow (a beard, a top light): darker, same hue');
  t.ok(Math.abs(lowerFaceSkin(twoTone(DARK_SKIN, DARK_SKIN), landmarks(), 100)! - 1) < 0.01, 'dark skin');
  for (const [name, mask] of [
    ['white', [235, 235, 235]],
    ['light blue', [170, 200, 230]],
    ['black', [25, 25, 28]],
  ] as const) {
    const v = lowerFaceSkin(twoTone(SKIN, mask as [number, number, number]), landmarks(), 100)!;
    t.ok(v < 0.25, `${name} mask: ${v.toFixed(2)}`);
  }
});

t.test('no answer when the nose bridge has no colour (grey camera) or the landmarks are unusable', async (t) => {
  t.equal(lowerFaceSkin(twoTone([128, 128, 128], [230, 230, 230]), landmarks(), 100), null);
  t.equal(lowerFaceSkin(twoTone(SKIN, SKIN), landmarks().slice(0, 5), 100), null);
  t.equal(lowerFaceSkin(twoTone(SKIN, SKIN), landmarks(), 0), null);
  const off = landmarks().map((p) => ({ x: p.x + 1000, y: p.y + 1000 }));
  t.equal(lowerFaceSkin(twoTone(SKIN, SKIN), off, 100), null, 'outside the frame');
});
