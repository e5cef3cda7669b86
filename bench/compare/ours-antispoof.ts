// Child process of bench/compare.ts: our engine with Human's antispoof model as its PAD (run by our
// tfjs runtime, on our detector's face box). A separate process because TensorFlow.js keeps its engine
// and kernel registry in globals, which our @tensorflow/tfjs and Human's bundled copy would share.
// Usage: tsx bench/compare/ours-antispoof.ts <data root> <variant> <timing video> <frames> <step>
// Prints one JSON line: attack score per spoof image (null: no face), PAD ms per timing frame.
import { join } from 'node:path';
import { readLabelFile, parseSpoofLabels } from '../../agent/eval/labels.js';
import { createFaceEngine, DEFAULT_MODELS } from '../../models/face-engine.js';
import { analyzeStill } from '../../models/still.js';
import { primaryFace } from '../../models/select.js';
import type { ModelVariant } from '../../models/variants.js';
import { videoFrames } from '../frames.js';
import { loadCapped } from './common.js';

const [root, variant, video, n, step] = process.argv.slice(2);
const rows = await readLabelFile(join(root, 'labels/spoof.tsv'), parseSpoofLabels);
const frames = await videoFrames(video, 640, 480, Number(n), Number(step));
const engine = createFaceEngine({ options: { variant: variant as ModelVariant, models: { ...DEFAULT_MODELS, pad: ['antispoof'] } } });
const info = await engine.start();
const scores: Record<string, number | null> = {};
for (const row of rows) {
  const { frame, signals } = await analyzeStill(engine, await loadCapped(join(root, row.image)));
  const face = primaryFace(signals.faces);
  scores[row.image] = face ? (await engine.decide(frame, face)).attackScore : null;
}
const padMs: number[] = [];
for (let pass = 0; pass < 2; pass++) {
  for (const f of frames) {
    const face = primaryFace((await engine.analyze(f)).faces);
    if (!face) continue;
    const d = await engine.decide(f, face);
    if (pass > 0) padMs.push(d.timings.pad); // pass 0 warms up
  }
}
await engine.stop();
const pad = info.models.find((m) => m.task === 'pad' || m.id.startsWith('antispoof'));
process.stdout.write(
  `${JSON.stringify({ model: pad?.id ?? 'antispoof', runtime: info.runtimes.map((r) => `${r.runtime} ${r.version} ${r.backend}`).join(', '), scores, pad_ms: padMs })}\n`,
);
process.exit(0);
