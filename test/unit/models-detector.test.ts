import t from 'tap';
import { decodeUltraface, DEFAULT_DETECTOR_OPTIONS, preprocessUltraface, ULTRAFACE_INPUT } from '../../models/detector/ultraface.js';
import { iou, nonMaxSuppression } from '../../models/detector/nms.js';
import { makeImage } from '../../base/rgb-image.js';

t.test('preprocess: 320x240 NCHW, (x - 127) / 128', async (t) => {
  const img = makeImage(640, 480);
  for (let i = 0; i < img.data.length; i += 3) {
    img.data[i] = 255;
    img.data[i + 1] = 127;
    img.data[i + 2] = 0;
  }
  const { data, shape } = preprocessUltraface(img);
  t.same(shape, [1, 3, 240, 320]);
  const plane = ULTRAFACE_INPUT.width * ULTRAFACE_INPUT.height;
  t.equal(data[0], 1); // R plane
  t.equal(data[plane], 0); // G plane
  t.equal(data[2 * plane + 5], -127 / 128); // B plane
});

t.test('decode: threshold, scaling to source pixels, clipping, NMS by score', async (t) => {
  // four priors: weak face, strong face, overlapping weaker duplicate, tiny face
  const scores = new Float32Array([0.6, 0.4, 0.02, 0.98, 0.1, 0.9, 0.05, 0.95]);
  const boxes = new Float32Array([0.1, 0.1, 0.3, 0.3, 0.5, 0.25, 0.75, 0.75, 0.52, 0.25, 0.77, 0.77, -0.1, 0.9, 0.01, 1.2]);
  const faces = decodeUltraface(scores, boxes, 640, 480, DEFAULT_DETECTOR_OPTIONS);
  t.equal(faces.length, 1, 'weak face dropped, duplicate suppressed, tiny face dropped');
  t.equal(faces[0].score, Math.fround(0.98));
  t.same(faces[0].box, { x: 320, y: 120, width: 160, height: 240 });
  const loose = decodeUltraface(scores, boxes, 640, 480, { ...DEFAULT_DETECTOR_OPTIONS, scoreThreshold: 0.3, minFacePx: 1 });
  t.equal(loose.length, 3);
  t.same(
    loose.map((f) => Math.round(f.score * 100)),
    [98, 95, 40],
    'sorted by score',
  );
  const b = loose[1].box;
  t.same(
    [b.x, b.y, b.width, b.height].map((v) => Math.round(v * 100) / 100),
    [0, 432, 6.4, 48],
    'clipped to the frame',
  );
});

t.test('NMS keeps the highest-scoring box of an overlapping pair', async (t) => {
  const a = { box: { x: 0, y: 0, width: 10, height: 10 }, score: 0.7 };
  const b = { box: { x: 1, y: 0, width: 10, height: 12 }, score: 0.9 }; // lower bottom edge, higher score
  t.equal(iou(a.box, a.box), 1);
  t.equal(iou(a.box, { x: 20, y: 20, width: 5, height: 5 }), 0);
  t.same(nonMaxSuppression([a, b], 0.3, 5), [b]);
  t.same(nonMaxSuppression([a, b], 0.95, 5), [b, a]);
  t.same(nonMaxSuppression([a, b], 0.95, 1), [b]);
});
