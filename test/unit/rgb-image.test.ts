import t from 'tap';
import { cropResize, halve, makeImage, resize, toGray, toPlanar, warpAffine } from '../../base/rgb-image.js';

function gradient(w: number, h: number) {
  const img = makeImage(w, h);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      img.data[i] = x * 10;
      img.data[i + 1] = y * 10;
      img.data[i + 2] = 7;
    }
  return img;
}

t.test('identity warp returns the same pixels', async (t) => {
  const src = gradient(8, 6);
  const out = warpAffine(src, [1, 0, 0, 0, 1, 0], 8, 6);
  t.same([...out.data], [...src.data]);
});

t.test('translation by half a pixel interpolates linearly', async (t) => {
  const src = gradient(8, 6);
  const out = warpAffine(src, [1, 0, 0.5, 0, 1, 0], 4, 1);
  t.same([out.data[0], out.data[3], out.data[6]], [5, 15, 25]);
});

t.test('outside the source is filled', async (t) => {
  const src = gradient(4, 4);
  const out = warpAffine(src, [1, 0, -10, 0, 1, -10], 2, 2, 99);
  t.same([...out.data], new Array(12).fill(99));
});

t.test('cropResize picks the right region at pixel centres', async (t) => {
  const src = gradient(20, 20);
  const out = cropResize(src, { x: 4, y: 6, width: 4, height: 4 }, 2, 2);
  // 2x downscale samples at source x = 4.5 and 6.5 -> R = 45, 65; y = 6.5, 8.5 -> G = 65, 85
  t.same([out.data[0], out.data[1], out.data[3], out.data[7]], [45, 65, 65, 85]);
});

t.test('resize to the same size is the identity and halve averages 2x2', async (t) => {
  const src = gradient(6, 4);
  t.same([...resize(src, 6, 4).data], [...src.data]);
  const h = halve(src);
  t.equal(h.width, 3);
  t.equal(h.data[0], 5); // mean of 0,10,0,10
  t.equal(h.data[1], 5);
});

t.test('grey and planar conversions', async (t) => {
  const img = makeImage(1, 1, new Uint8Array([255, 0, 0]));
  t.equal(Math.round(toGray(img)[0] * 100) / 100, 76.25);
  const rgb = toPlanar(img, 'rgb', 127, 128);
  const bgr = toPlanar(img, 'bgr', 0, 1);
  t.same([...rgb], [1, -127 / 128, -127 / 128]);
  t.same([...bgr], [0, 0, 255]);
  t.throws(() => makeImage(2, 2, new Uint8Array(5)), RangeError);
});
