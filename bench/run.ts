// `npm run bench`: per-frame cost of the liveness and decision paths on 640x480 frames, cold start and
// peak RSS, for our engine and for @vladmandic/human 3.3.6 in the same run. Medians and ratios, not
// assertions: these machines are shared and noisy. Needs ../shared/data (the head-turn video).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createFaceEngine } from '../models/face-engine.js';
import { cosineSimilarity } from '../models/engine.js';
import { primaryFace } from '../models/select.js';
import { videoFrames } from './frames.js';
import { startHuman } from './human.js';
import { fmt, median, p95 } from './stats.js';

const root = resolve(fileURLToPath(import.meta.url), '../..');
const data = process.env.KIOSK_TEST_DATA ?? resolve(root, '../shared/data');
const video = join(data, 'tranvanluyt-replay-headturn/videos/real.mp4');
if (!existsSync(video)) {
  console.error(`bench: ${video} is absent; the benchmark needs ../shared/data`);
  process.exit(2);
}
const FRAMES = Number(process.env.BENCH_FRAMES ?? 60);
const PASSES = Number(process.env.BENCH_PASSES ?? 3);

const frames = await videoFrames(video, 640, 480, FRAMES, 10);
const engine = createFaceEngine();
const info = await engine.start();
const human = await startHuman();

// A reference embedding to compare against, as a session compares with the ID portrait.
const ref = await (async () => {
  for (const f of frames) {
    const face = primaryFace((await engine.analyze(f)).faces);
    if (face) return (await engine.decide(f, face)).embedding;
  }
  throw new Error('no face in the benchmark video');
})();

const t = { oursLive: [] as number[], oursDecide: [] as number[], humanLive: [] as number[], humanFull: [] as number[] };
// Process CPU time per call as well as wall time: on a shared machine other tenants stretch wall time,
// CPU time much less (the inference runs on this process's threads only).
const c = { oursLive: [] as number[], oursDecide: [] as number[], humanLive: [] as number[], humanFull: [] as number[] };
let oursFaces = 0;
let humanFaces = 0;
const time = async <T>(fn: () => Promise<T>): Promise<[T, number, number]> => {
  const s = performance.now();
  const u = process.cpuUsage();
  const r = await fn();
  const du = process.cpuUsage(u);
  return [r, performance.now() - s, (du.user + du.system) / 1000];
};

for (let pass = -1; pass < PASSES; pass++) {
  for (const f of frames) {
    const [sig, a, ac] = await time(() => engine.analyze(f));
    const face = primaryFace(sig.faces);
    const [, d, dc] = face ? await time(async () => cosineSimilarity((await engine.decide(f, face)).embedding, ref)) : [0, NaN, NaN];
    const [hl, b, bc] = await time(() => human.liveness(f));
    const [, e, ec] = await time(() => human.full(f));
    if (pass < 0) continue; // warm-up pass
    t.oursLive.push(a);
    c.oursLive.push(ac);
    if (face) {
      t.oursDecide.push(d);
      c.oursDecide.push(dc);
      oursFaces++;
    }
    t.humanLive.push(b);
    c.humanLive.push(bc);
    t.humanFull.push(e);
    c.humanFull.push(ec);
    if (hl > 0) humanFaces++;
  }
}
await engine.stop();
await human.stop();

const cold = (which: string) =>
  JSON.parse(
    execFileSync(process.execPath, ['--import', 'tsx', join(root, 'bench/cold.ts'), which, video, '10'], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .pop()!,
  );
const coldOurs = cold('ours');
const coldHuman = cold('human');

const humanDecision = t.humanFull.map((x, i) => x - t.humanLive[i]);
const humanDecisionCpu = c.humanFull.map((x, i) => x - c.humanLive[i]);
const rows = [
  ['liveness path (detect + landmarks + eyes + pose), wall', median(t.oursLive), p95(t.oursLive), median(t.humanLive), p95(t.humanLive)],
  ['liveness path, process CPU', median(c.oursLive), p95(c.oursLive), median(c.humanLive), p95(c.humanLive)],
  ['decision path (PAD + embedding + similarity), wall', median(t.oursDecide), p95(t.oursDecide), median(humanDecision), p95(humanDecision)],
  ['decision path, process CPU', median(c.oursDecide), p95(c.oursDecide), median(humanDecisionCpu), p95(humanDecisionCpu)],
] as const;
console.log(
  `\nkiosk-agent bench: ${frames.length} frames 640x480 x ${PASSES} passes; ours: ${info.runtimes.map((r) => `${r.runtime} ${r.version} ${r.backend} ${r.threads} thread`).join(', ')}; Human ${human.version} on tfjs ${human.backend}`,
);
console.log(
  `faces found: ours ${oursFaces}/${t.oursLive.length}, Human ${humanFaces}/${t.humanLive.length}; load average at the end ${loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')}\n`,
);
console.log('| path | ours median ms | ours p95 ms | Human median ms | Human p95 ms | ratio ours/Human (median) |');
console.log('|---|---|---|---|---|---|');
for (const [name, om, op, hm, hp] of rows) console.log(`| ${name} | ${fmt(om)} | ${fmt(op)} | ${fmt(hm)} | ${fmt(hp)} | ${fmt(om / hm, 2)} |`);
console.log(
  `| cold start to first result (ms) | ${fmt(coldOurs.cold_start_ms, 0)} | | ${fmt(coldHuman.cold_start_ms, 0)} | | ${fmt(coldOurs.cold_start_ms / coldHuman.cold_start_ms, 2)} |`,
);
console.log(
  `| peak RSS (MB, whole process) | ${fmt(coldOurs.peak_rss_mb, 0)} | | ${fmt(coldHuman.peak_rss_mb, 0)} | | ${fmt(coldOurs.peak_rss_mb / coldHuman.peak_rss_mb, 2)} |`,
);
console.log(
  `\n(Human's decision path = its full run minus its liveness run on the same frame; peak RSS and cold start from separate child processes, ${coldOurs.frames} frames each.)`,
);
process.exit(0);
