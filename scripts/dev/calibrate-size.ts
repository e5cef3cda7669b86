// Reference size floor: how small a face can be and still embed like itself (deepface-verify photos downscaled). Usage: npx tsx agent/reference/dev/calibrate-size.ts ../shared/data
import { createFaceEngine } from '../../models/face-engine.js';
import { decodeImageFile } from '../../device/media/image.js';
import { analyzeStill } from '../../models/still.js';
import { primaryFace } from '../../models/select.js';
import { cosineSimilarity } from '../../models/engine.js';
import { resize } from '../../base/rgb-image.js';
import { readdirSync } from 'node:fs';
const D = (process.argv[2] ?? '../shared/data') + '/deepface-verify/tests/unit/dataset/';
const files = readdirSync(D).filter((f) => /^img\d+\.jpg$/.test(f));
const e = createFaceEngine({ options: { variant: 'fp16' } });
await e.start();
const K = [8, 10, 12, 14, 16, 20, 24, 32];
const sims: Record<number, number[]> = {};
const miss: Record<number, number> = {};
for (const k of K) {
  sims[k] = [];
  miss[k] = 0;
}
let n = 0;
for (const f of files) {
  const img = await decodeImageFile(D + f);
  const a = await analyzeStill(e, img);
  const face = primaryFace(a.signals.faces);
  if (!face || face.quality.interEyePx < 50) continue;
  n++;
  const ref = (await e.decide(a.frame, face)).embedding;
  for (const k of K) {
    const s = k / face.quality.interEyePx;
    const w = Math.max(16, Math.round(img.width * s)),
      h = Math.max(16, Math.round(img.height * s));
    const small = resize(img, w, h);
    const b = await analyzeStill(e, small);
    const g = primaryFace(b.signals.faces);
    if (!g) {
      miss[k]++;
      continue;
    }
    sims[k].push(cosineSimilarity(ref, (await e.decide(b.frame, g)).embedding));
  }
}
const med = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[s.length >> 1] : NaN;
};
const q = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(p * (s.length - 1))] : NaN;
};
console.log('images', n);
for (const k of K)
  console.log(
    `iod ${k}: detected ${sims[k].length}/${n}, self-sim median ${med(sims[k]).toFixed(3)} p10 ${q(sims[k], 0.1).toFixed(3)} min ${Math.min(...sims[k]).toFixed(3)}, below 0.4: ${sims[k].filter((x) => x < 0.4).length}`,
  );
await e.stop();
