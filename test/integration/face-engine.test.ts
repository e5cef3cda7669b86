import t from 'tap';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createFaceEngine, DEFAULT_MODELS } from '../../models/face-engine.js';
import { cosineSimilarity } from '../../models/engine.js';
import { analyzeStill } from '../../models/still.js';
import { primaryFace } from '../../models/select.js';
import { cropResize, makeImage } from '../../base/rgb-image.js';
import { dataPath, hasData, NO_DATA } from '../helpers/data.js';
import { loadRgb } from '../helpers/image.js';

setFlagsFromString('--expose-gc');
const rawGc = runInNewContext('gc') as () => void;
/** Two collections with a turn of the event loop between, so finalizers of the first can run. */
const gc = async () => {
  rawGc();
  await new Promise((r) => setTimeout(r, 20));
  rawGc();
};

const DEEPFACE = 'deepface-verify/tests/unit/dataset';

t.test('an empty frame has no face; the engine reports its models with hashes', async (t) => {
  const engine = createFaceEngine();
  const info = await engine.start();
  t.teardown(() => engine.stop());
  t.same(
    info.models.map((m) => m.id),
    ['fr_detect@fp16', 'fr_landmark@fp16', 'fr_eye@fp16', 'minifasnet_v2', 'minifasnet_v1se', 'minifas_celebaspoof', 'hyperfas', 'fr_feature@fp16'],
    'float16 variants by default (the four attack models have none: their float weights)',
  );
  t.ok(info.models.every((m) => /^[0-9a-f]{64}$/.test(m.sha256)));
  t.match(info.runtimes[0], { runtime: 'onnx', backend: 'cpu', threads: 1 });
  const blank = makeImage(640, 480);
  blank.data.fill(90);
  const s = await engine.analyze(blank);
  t.equal(s.faces.length, 0);
});

t.test('real faces: detection, signals, identity', { skip: hasData ? false : NO_DATA }, async (t) => {
  const engine = createFaceEngine();
  await engine.start();
  t.teardown(() => engine.stop());
  const a = await loadRgb(dataPath(`${DEEPFACE}/img1.jpg`));
  const b = await loadRgb(dataPath(`${DEEPFACE}/img2.jpg`)); // same person (deepface labels)
  const c = await loadRgb(dataPath(`${DEEPFACE}/img3.jpg`)); // another person
  const sa = await engine.analyze(a);
  t.equal(sa.faces.length, 1);
  const f = sa.faces[0];
  t.equal(f.landmarks.length, 68);
  t.ok(f.detection.score > 0.9);
  t.ok(f.keypoints.eyeRight.x < f.keypoints.eyeLeft.x, "subject's right eye is on the image left");
  t.ok(Math.abs(f.pose.yaw) < 15, `near-frontal yaw ${f.pose.yaw}`);
  t.ok(f.eyes.left > 0.2 && f.eyes.right > 0.2 && (f.eyes.openProbability ?? 0) > 0.5, 'eyes open');
  t.ok(f.quality.interEyePx > 100 && f.quality.sharpness > 100);
  const ea = (await engine.decide(a, f)).embedding;
  const eb = (await engine.decide(b, primaryFace((await engine.analyze(b)).faces)!)).embedding;
  const ec = (await engine.decide(c, primaryFace((await engine.analyze(c)).faces)!)).embedding;
  t.equal(ea.length, 512);
  t.ok(cosineSimilarity(ea, eb) > cosineSimilarity(ea, ec) + 0.3, 'same person scores well above another person');
});

/** The engine's attack score of each Silent-Face sample image: the real face, the print, the phone replay. */
async function sampleScores(engine: ReturnType<typeof createFaceEngine>): Promise<[number, number, number]> {
  const score = async (name: string) => {
    const img = await loadRgb(dataPath(`silentface-antispoof/images/sample/${name}`));
    const { frame, signals } = await analyzeStill(engine, img);
    return (await engine.decide(frame, primaryFace(signals.faces)!)).attackScore;
  };
  return [await score('image_T1.jpg'), await score('image_F1.jpg'), await score('image_F2.jpg')];
}

t.test('presentation attacks: the print and replay samples score above the real one', { skip: hasData ? false : NO_DATA }, async (t) => {
  const engine = createFaceEngine();
  await engine.start();
  t.teardown(() => engine.stop());
  const [real, print, replay] = await sampleScores(engine);
  t.ok(real < print, 'print above real');
  t.ok(real < replay, 'replay above real');
});

t.test('each presentation-attack model alone ranks the print and the replay above the real face', { skip: hasData ? false : NO_DATA }, async (t) => {
  // the CelebA-Spoof model reads its own crop (1.5x, mirrored borders): a wrong crop or channel order would not rank these
  for (const pad of ['fr_liveness', 'minifasnet_v2', 'minifasnet_v1se', 'minifas_celebaspoof']) {
    const engine = createFaceEngine({ options: { models: { ...DEFAULT_MODELS, pad: [pad] } } });
    await engine.start();
    const [real, print, replay] = await sampleScores(engine);
    await engine.stop();
    t.ok(real < 0.5 && print > 0.5 && replay > 0.5, `${pad}: real ${real.toFixed(3)}, print ${print.toFixed(3)}, replay ${replay.toFixed(3)}`);
  }
});

t.test(
  'hyperfas alone ranks the print above the real face; it is weak on replays (the phone replay scores below 0.5)',
  { skip: hasData ? false : NO_DATA },
  async (t) => {
    // its own crop (1.2x, cut at the edges), B,G,R in [-1, 1]: a wrong channel order or scale would not rank the print
    const engine = createFaceEngine({ options: { models: { ...DEFAULT_MODELS, pad: ['hyperfas'] } } });
    await engine.start();
    t.teardown(() => engine.stop());
    const [real, print, replay] = await sampleScores(engine);
    t.ok(real < 0.5 && print > 0.5, `real ${real.toFixed(3)}, print ${print.toFixed(3)}`);
    t.ok(replay < 0.5, `replay ${replay.toFixed(3)}: why it is fused with the MiniFASNet models, never used alone`);
  },
);

t.test('a tight face crop is found through the padded retry', { skip: hasData ? false : NO_DATA }, async (t) => {
  const engine = createFaceEngine();
  await engine.start();
  t.teardown(() => engine.stop());
  const img = await loadRgb(dataPath('nuaa-sample-nvlong21/data/ClientFace/0009/0009_01_00_02_498.jpg'));
  const { signals, padded, frame } = await analyzeStill(engine, img);
  t.equal(signals.faces.length, 1);
  t.ok(padded);
  t.equal(frame, img, 'the decision path gets the original pixels');
  const box = signals.faces[0].detection.box;
  t.ok(box.x + box.width / 2 > 0 && box.x + box.width / 2 < img.width, 'face mapped back into the original image');
});

t.test('no tensor or memory growth over 200 frames', { skip: hasData ? false : NO_DATA }, async (t) => {
  // fr_liveness is swapped for Human's antispoof so that the tfjs runtime runs too and its tensors can be counted.
  const engine = createFaceEngine({
    options: { models: { detect: 'fr_detect', landmarks: 'fr_landmark', eyeState: 'fr_eye', pad: ['antispoof'], embed: 'fr_feature' } },
  });
  await engine.start();
  t.teardown(() => engine.stop());
  const src = await loadRgb(dataPath(`${DEEPFACE}/img2.jpg`));
  const frames = [0, 1, 2, 3].map((i) => cropResize(src, { x: 300 + 20 * i, y: 20 * i, width: 960, height: 720 }, 640, 480));
  const once = async (i: number) => {
    const s = await engine.analyze(frames[i % frames.length]);
    if (s.faces[0]) await engine.decide(frames[i % frames.length], s.faces[0]);
    return s.faces.length;
  };
  for (let i = 0; i < 200; i++) await once(i); // warm-up: allocator pools, JIT, inline caches (measured: flat after the first 200)
  await gc();
  const tensors0 = engine.memory().tfjs.tensors;
  const heap0 = process.memoryUsage();
  let found = 0;
  for (let i = 0; i < 200; i++) found += await once(i);
  await gc();
  const heap1 = process.memoryUsage();
  t.equal(found, 200, 'a face in every frame (so every model ran)');
  t.equal(engine.memory().tfjs.tensors, tensors0, 'tfjs tensor count unchanged');
  const growMb = (heap1.heapUsed + heap1.arrayBuffers - heap0.heapUsed - heap0.arrayBuffers) / 1e6;
  t.ok(growMb < 8, `JS heap + array buffers grew ${growMb.toFixed(1)} MB over 200 frames`);
  const rssMb = (heap1.rss - heap0.rss) / 1e6;
  t.ok(rssMb < 40, `RSS grew ${rssMb.toFixed(1)} MB over 200 frames`);
});
