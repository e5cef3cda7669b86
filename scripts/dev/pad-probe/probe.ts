/**
 * Could a classifier fitted to NUAA's own people meet issue 10's print target, and what would it do
 * to the recordings? A diagnostic (README, "Presentation-attack models"); nothing of it ships.
 *
 * For every NUAA image of a spoof label file, the face the kiosk's own path finds (the engine's still
 * analysis, primary face, each model's own crop) is read by copies of the attack models it measured (PROBE_MODELS, shipped until HyperFAS was measured) that
 * also output the embedding their last layer reads (made by expose.py). Each copy's logits must give
 * back the engine's attack score, which proves the copies are those weights and variant. An L2
 * logistic regression on three inputs (the models' log-odds, their logits, their embeddings) at three
 * fixed L2 strengths; its threshold always at BPCER <= 5% on the training people's own
 * leave-one-subject-out scores, as a kiosk would have to set it.
 *
 * 1. Fitted on one subject half (as `eval pad` splits: subjects sorted, alternate), reported on the
 *    other; the last column is each reported half at its own best threshold (chosen on the reported
 *    images: an optimistic bound, not an operating point).
 * 2. Leave one subject out: fitted on the others, reported on the one; per input and L2, and with the
 *    input and L2 picked from the training people alone (`better`).
 * 3. The same rule on all the people; the classifier it gives scores every recording of a videos label
 *    file as a session does (`scorePresentations`), beside those models' fusion at PROBE_THRESHOLD.
 * 4. The input and L2 of 3, fitted on NUAA's people and the frames a session samples of the design
 *    group's recordings (scripts/pad-design-group.ts) together: leave one NUAA person out, then on every
 *    recording, the design group's marked as trained on.
 *
 * Everything stays in this process: no embedding is written anywhere.
 *
 *   npx tsx scripts/dev/pad-probe/probe.ts --labels ../shared/data/labels/spoof.tsv \
 *     --videos ../shared/data/labels/videos.tsv --root ../shared/data --models /tmp/pad-probe
 */
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { createFaceEngine, DEFAULT_MODELS } from '../../../models/face-engine.js';
import type { FaceEngine } from '../../../models/engine.js';
import { parseVideoLabels } from '../../../agent/eval/labels.js';
import { scorePresentations } from '../../../agent/eval/pad-presentations.js';
import { resolveSessionConfig } from '../../../agent/session/config.js';
import { readVideoFrames } from '../../../device/media/video.js';
import { DESIGN_PEOPLE } from '../../pad-design-group.js';
import { nuaaSamples, openCopies, PROBE_MODELS, PROBE_THRESHOLD, type Reading } from './readings.js';
import { add, bestAnyThreshold, better, cell, counts, type Counts, fitWithThreshold, fold, MAX_BPCER, ZERO, type Fitted } from './folds.js';
import { aggregateAttack } from '../../../agent/session/scores.js';

const L2 = [0.01, 0.1, 1];

const { values: o } = parseArgs({
  options: { labels: { type: 'string' }, videos: { type: 'string' }, root: { type: 'string' }, models: { type: 'string' } },
});
if (!o.labels || !o.videos || !o.root || !o.models) {
  throw new Error('usage: --labels <spoof.tsv> --videos <videos.tsv> --root <dir> --models <dir from expose.py>');
}
const engine = createFaceEngine({ options: { models: { ...DEFAULT_MODELS, pad: PROBE_MODELS } } });
await engine.start();
const read = await openCopies(o.models);
const { samples, worst } = await nuaaSamples(engine, read, o.labels, o.root);
if (!(worst < 1e-4)) throw new Error(`the copies do not give back the engine's attack scores (largest difference ${worst}): not the probe's models`);
const y = samples.map((s) => s.attack);
const subj = samples.map((s) => s.subject);
const all = samples.map((_, i) => i);
const subjects = [...new Set(subj)].sort();
const halfA = new Set(subjects.filter((_, i) => i % 2 === 0));
const inA = subj.map((s) => halfA.has(s));
const INPUTS: [string, (s: Reading) => number[]][] = [
  ['log-odds of the 3 scores', (s) => s.logodds],
  ['logits of the 3 models', (s) => s.logits],
  ['embeddings of the 3 models', (s) => s.embeddings],
];
const CONFIGS = INPUTS.flatMap(([name, pick]) => L2.map((l2) => ({ name, pick, l2, x: samples.map(pick) })));
const label = (c: (typeof CONFIGS)[number]) => `${c.name}, L2 ${c.l2}`;
const out = (line = '') => process.stdout.write(`${line}\n`);

out(
  `NUAA images: ${y.filter(Boolean).length} prints, ${y.filter((a) => !a).length} bona fide, ${subjects.length} subjects; models ${PROBE_MODELS.join(', ')} (copies give back the engine's scores within ${worst.toExponential(1)})`,
);
out(`thresholds: BPCER <= ${MAX_BPCER * 100}% on the training people's own leave-one-subject-out scores`);
out();
out(`1. two subject halves (as eval pad): half a ${halfA.size} subjects, half b ${subjects.length - halfA.size}`);
out(
  `${'input'.padEnd(28)} ${'L2'.padStart(5)}  ${'fitted on a, reported on b'.padEnd(28)} ${'fitted on b, reported on a'.padEnd(28)} ${'out of fold'.padEnd(27)} optimistic: each half at its own best threshold`,
);
for (const c of CONFIGS) {
  const ab = fold(c.x, y, subj, inA, c.l2);
  const ba = fold(
    c.x,
    y,
    subj,
    inA.map((a) => !a),
    c.l2,
  );
  const oa = bestAnyThreshold(
    ab.scores,
    y.filter((_, i) => !inA[i]),
  );
  const ob = bestAnyThreshold(
    ba.scores,
    y.filter((_, i) => inA[i]),
  );
  const total = add(ab.counts, ba.counts);
  const best: Counts = { ...total, apcer: oa[0] + ob[0], bpcer: oa[1] + ob[1] };
  out(`${c.name.padEnd(28)} ${String(c.l2).padStart(5)}  ${cell(ab.counts).padEnd(28)} ${cell(ba.counts).padEnd(28)} ${cell(total).padEnd(27)} ${cell(best)}`);
}

out();
out(
  '2. leave one subject out: fitted on the other 15, reported on the one; per input and L2, and with the input and L2 picked from the 15 alone (the rule in `better`)',
);
const perConfig = CONFIGS.map(() => ({ ...ZERO }));
let nested = { ...ZERO };
const picked = new Map<string, number>();
for (const s of subjects) {
  const tr = all.filter((i) => subj[i] !== s);
  const te = all.filter((i) => subj[i] === s);
  let choice: { inner: Counts; held: Counts; c: (typeof CONFIGS)[number] } | null = null;
  for (const [k, c] of CONFIGS.entries()) {
    const f = fitWithThreshold(c.x, y, subj, tr, c.l2);
    const held = counts(
      te.map((i) => f.model(c.x[i])),
      te.map((i) => y[i]),
      f.t,
    );
    perConfig[k] = add(perConfig[k], held);
    if (!choice || better(f.inner, choice.inner)) choice = { inner: f.inner, held, c };
  }
  nested = add(nested, choice!.held);
  picked.set(label(choice!.c), (picked.get(label(choice!.c)) ?? 0) + 1);
}
for (const [k, c] of CONFIGS.entries()) out(`${c.name.padEnd(28)} ${String(c.l2).padStart(5)}  ${cell(perConfig[k])}`);
out(`${'picked from the 15 alone'.padEnd(35)}${cell(nested)}  (picked: ${[...picked].map(([k, n]) => `${k} ${n}x`).join('; ')})`);

out();
out(
  "3. the same rule on all 16 people, fitted on all of them, on every recording (scored as a session scores: the gate's anchor, the session's sampling and median)",
);
let head: { f: Fitted; c: (typeof CONFIGS)[number] } | null = null;
for (const c of CONFIGS) {
  const f = fitWithThreshold(c.x, y, subj, all, c.l2);
  if (!head || better(f.inner, head.f.inner)) head = { f, c };
}
const { f, c } = head!;
out(`picked: ${label(c)}; its threshold (from the 16 people's own leave-one-subject-out scores) ${f.t.toFixed(2)} on the logit`);
const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));
// Every recording once, sampled as a session samples it (the gate's anchor, the pose window, the interval,
// at most maxDecisions frames: none of it depends on the attack score), keeping what the copies read of
// each sampled face; any classifier's aggregate is then the session's aggregate over those frames.
const cfg = resolveSessionConfig();
let sampled: { reading: Reading; shipped: number }[] = [];
const collector: FaceEngine = {
  start: () => engine.start(),
  stop: () => engine.stop(),
  info: () => engine.info(),
  analyze: (image) => engine.analyze(image),
  decide: async (image, face) => {
    const d = await engine.decide(image, face);
    sampled.push({ reading: await read(image, face.detection.box), shipped: d.attackScore });
    return d;
  },
};
const rows = parseVideoLabels(await readFile(o.videos, 'utf8'), o.videos);
const recordings: { row: (typeof rows)[number]; fta: boolean; frames: typeof sampled }[] = [];
for (const row of rows) {
  sampled = [];
  const [p] = await scorePresentations(
    [row],
    { engine: collector, loadImage: () => Promise.reject(new Error('unused')), frames: (v) => readVideoFrames(join(o.root!, v)) },
    cfg,
  );
  recordings.push({ row, fta: p.aggregate === null, frames: sampled });
}
/** The session's aggregate of a per-face score over a recording's sampled frames, and the verdict at `t`; FTA when the gate never passed. */
const verdict = (r: (typeof recordings)[number], score: (f: (typeof sampled)[number]) => number, t: number) => {
  if (r.fta) return 'FTA';
  const a = aggregateAttack(r.frames.map(score), cfg)!;
  return `${a > t ? 'attack' : 'bona fide'} (${a.toFixed(3)})`;
};
const what = (r: (typeof recordings)[number]) =>
  `${(r.row.bonaFide ? 'bona fide' : `attack:${r.row.species}`).padEnd(14)} ${r.row.video.slice(0, 70).padEnd(70)}`;
const shippedT = PROBE_THRESHOLD;
for (const r of recordings) {
  const fitted = verdict(r, (fr) => sigmoid(f.model(c.pick(fr.reading))), sigmoid(f.t));
  out(`${what(r)} fitted: ${fitted.padEnd(20)} fusion 0.419: ${r.fta ? '' : verdict(r, (fr) => fr.shipped, shippedT)}`);
}

out();
out(`4. the input and L2 picked in 3 (${label(c)}), fitted on NUAA's people and the frames a session samples of the design group's recordings together`);
const inDesign = (video: string) => DESIGN_PEOPLE.some((d) => video.startsWith(d));
const designFrames = recordings.filter((r) => inDesign(r.row.video)).flatMap((r) => r.frames.map((fr) => ({ x: c.pick(fr.reading), attack: !r.row.bonaFide })));
out(
  `design recordings: ${recordings.filter((r) => inDesign(r.row.video)).length}, ${designFrames.length} frames (${designFrames.filter((r) => r.attack).length} of attacks); every NUAA fold trains on them too`,
);
const xs = [...c.x, ...designFrames.map((r) => r.x)];
const ys = [...y, ...designFrames.map((r) => r.attack)];
const ss = [...subj, ...designFrames.map(() => '(recordings)')];
// leave one NUAA person out; the recordings always train, never set the threshold (it comes from the NUAA people's own scores)
const nuaaOnly = (tr: number[]) => tr.filter((i) => i < samples.length);
let joint = { ...ZERO };
for (const s of subjects) {
  const tr = xs.map((_, i) => i).filter((i) => ss[i] !== s);
  const te = all.filter((i) => subj[i] === s);
  const fit = fitWithThreshold(xs, ys, ss, tr, c.l2, nuaaOnly(tr));
  joint = add(
    joint,
    counts(
      te.map((i) => fit.model(xs[i])),
      te.map((i) => ys[i]),
      fit.t,
    ),
  );
}
out(`NUAA, leave one person out: ${cell(joint)}`);
const final = fitWithThreshold(
  xs,
  ys,
  ss,
  xs.map((_, i) => i),
  c.l2,
  all,
);
out(`fitted on all of it; threshold ${final.t.toFixed(2)} on the logit, from the NUAA people's own leave-one-subject-out scores`);
for (const r of recordings) {
  const fitted = verdict(r, (fr) => sigmoid(final.model(c.pick(fr.reading))), sigmoid(final.t));
  out(`${what(r)} ${(inDesign(r.row.video) ? 'design (trained on)' : 'held out').padEnd(20)} fitted: ${fitted}`);
}
await engine.stop();
for (const x of samples) x.embeddings.fill(0);
for (const r of recordings) for (const fr of r.frames) fr.reading.embeddings.fill(0);
