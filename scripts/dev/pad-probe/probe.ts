/**
 * Could a classifier fitted to NUAA's own images meet issue 10's print target? A diagnostic (README,
 * "Presentation-attack models"); nothing of it ships.
 *
 * For every NUAA image of a spoof label file, the face the kiosk's own path finds (the engine's still
 * analysis, primary face, each model's own crop) is read by copies of the shipped attack models that
 * also output the embedding their last layer reads (made by expose.py). Each copy's logits must give
 * back the engine's attack score, which proves the copies are the shipped weights and variant. Then,
 * with the subject halves `eval pad` uses (subjects sorted, alternate subjects to each half), an L2
 * logistic regression is fitted on one half and scored on the other, for three inputs (the models'
 * log-odds, their logits, their embeddings) and three fixed L2 strengths (all printed; none chosen).
 * The threshold is fitted on the training half only, at BPCER <= 5% on its leave-one-subject-out
 * scores, as a kiosk would have to. The last column is each held-out half at its own best threshold
 * (the smallest max of APCER and BPCER, then the smallest sum): chosen on the reported images, an
 * optimistic bound, not an operating point.
 * Everything stays in this process: no embedding is written anywhere.
 *
 *   npx tsx scripts/dev/pad-probe/probe.ts --labels ../shared/data/labels/spoof.tsv --root ../shared/data --models /tmp/pad-probe
 */
import * as ort from 'onnxruntime-node';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createFaceEngine } from '../../../models/face-engine.js';
import { analyzeStill } from '../../../models/still.js';
import { primaryFace } from '../../../models/select.js';
import { CALIBRATION } from '../../../models/calibration.js';
import { decodeImageFile } from '../../../device/media/image.js';
import { parseSpoofLabels, subjectOf } from '../../../agent/eval/labels.js';
import { attackScoreFromLogits, miniFasParams, preprocessPad } from '../../../models/pad/silent-face.js';
import { isCelebaSpoofModel, preprocessCelebaSpoof } from '../../../models/pad/celeba-spoof.js';
import { fitLogistic, thresholdAtBpcer } from './logistic.js';

const MAX_BPCER = 0.05;
const L2 = [0.01, 0.1, 1];

interface Sample {
  subject: string;
  attack: boolean;
  logodds: number[];
  logits: number[];
  embeddings: number[];
}

async function features(labels: string, root: string, models: string): Promise<{ samples: Sample[]; ids: readonly string[]; worst: number }> {
  const ids = CALIBRATION.padModels.value;
  const rows = parseSpoofLabels(await readFile(labels, 'utf8'), labels).filter((r) => /\/(ClientFace|ImposterFace)\//.test(r.image));
  const engine = createFaceEngine();
  await engine.start();
  const sessions = new Map(await Promise.all(ids.map(async (id) => [id, await ort.InferenceSession.create(join(models, `${id}.onnx`))] as const)));
  const samples: Sample[] = [];
  let worst = 0;
  try {
    for (const r of rows) {
      const { frame, signals } = await analyzeStill(engine, await decodeImageFile(join(root, r.image)));
      const face = primaryFace(signals.faces);
      if (!face) {
        process.stderr.write(`no face: ${r.image}\n`);
        continue;
      }
      const decided = await engine.decide(frame, face);
      decided.embedding.fill(0);
      const s: Sample = { subject: subjectOf(r.image), attack: !r.bonaFide, logodds: [], logits: [], embeddings: [] };
      for (const id of ids) {
        const celeba = isCelebaSpoofModel(id);
        const params = miniFasParams(id);
        const input = celeba ? preprocessCelebaSpoof(frame, face.detection.box) : preprocessPad(frame, face.detection.box, params!);
        const session = sessions.get(id)!;
        const res = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', input.data as Float32Array, input.shape) });
        const logits = Array.from(res[session.outputNames[0]].data as Float32Array);
        const score = attackScoreFromLogits(logits, celeba ? 0 : params!.liveClass); // CelebA-Spoof: [real, spoof]
        worst = Math.max(worst, Math.abs(score - (decided.attackScores?.[id] ?? Number.NaN)));
        const p = Math.min(Math.max(score, 1e-6), 1 - 1e-6);
        s.logodds.push(Math.log(p / (1 - p)));
        s.logits.push(...logits);
        s.embeddings.push(...(res[session.outputNames[1]].data as Float32Array));
      }
      samples.push(s);
    }
  } finally {
    await engine.stop();
  }
  return { samples, ids, worst };
}

interface Counts {
  apcer: number;
  attacks: number;
  bpcer: number;
  bona: number;
}

/** Fitted on `train`, reported on the rest; the threshold from the training half's leave-one-subject-out scores. */
function fold(x: number[][], y: boolean[], subj: string[], train: boolean[], l2: number): { counts: Counts; scores: number[] } {
  const idx = (keep: (i: number) => boolean) => x.map((_, i) => i).filter(keep);
  const tr = idx((i) => train[i]);
  const te = idx((i) => !train[i]);
  const inner = new Map<number, number>();
  for (const s of new Set(tr.map((i) => subj[i]))) {
    const fitOn = tr.filter((i) => subj[i] !== s);
    const model = fitLogistic(
      fitOn.map((i) => x[i]),
      fitOn.map((i) => y[i]),
      l2,
    );
    for (const i of tr) if (subj[i] === s) inner.set(i, model(x[i]));
  }
  const t = thresholdAtBpcer(
    tr.filter((i) => !y[i]).map((i) => inner.get(i)!),
    MAX_BPCER,
  );
  const model = fitLogistic(
    tr.map((i) => x[i]),
    tr.map((i) => y[i]),
    l2,
  );
  const scores = te.map((i) => model(x[i]));
  const yt = te.map((i) => y[i]);
  return {
    counts: {
      apcer: scores.filter((v, k) => yt[k] && v <= t).length,
      attacks: yt.filter(Boolean).length,
      bpcer: scores.filter((v, k) => !yt[k] && v > t).length,
      bona: yt.filter((a) => !a).length,
    },
    scores,
  };
}

/** The (APCER, BPCER) counts at the threshold that makes the larger of the two smallest (ties: the smaller sum, then the lower threshold). */
function bestAnyThreshold(scores: number[], y: boolean[]): [number, number] {
  let best: [number, number] = [Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY];
  const key = (c: [number, number]) => Math.max(...c) * 1e6 + c[0] + c[1];
  for (const t of [...new Set(scores)].sort((p, q) => p - q)) {
    const c: [number, number] = [scores.filter((v, k) => y[k] && v < t).length, scores.filter((v, k) => !y[k] && v >= t).length];
    if (key(c) < key(best)) best = c;
  }
  return best;
}

const { values: o } = parseArgs({ options: { labels: { type: 'string' }, root: { type: 'string' }, models: { type: 'string' } } });
if (!o.labels || !o.root || !o.models) throw new Error('usage: --labels <spoof.tsv> --root <dir> --models <dir from expose.py>');
const { samples, ids, worst } = await features(o.labels, o.root, o.models);
if (!(worst < 1e-4)) throw new Error(`the copies do not give back the engine's attack scores (largest difference ${worst}): not the shipped models`);
const y = samples.map((s) => s.attack);
const subj = samples.map((s) => s.subject);
const subjects = [...new Set(subj)].sort();
const halfA = new Set(subjects.filter((_, i) => i % 2 === 0));
const inA = subj.map((s) => halfA.has(s));
const cell = (c: Counts) => `APCER ${c.apcer}/${c.attacks} BPCER ${c.bpcer}/${c.bona}`;
const lines = [
  `NUAA images: ${y.filter(Boolean).length} prints, ${y.filter((a) => !a).length} bona fide, ${subjects.length} subjects; models ${ids.join(', ')} (largest difference of the copies to the engine's scores ${worst.toExponential(1)})`,
  `half a: ${halfA.size} subjects, half b: ${subjects.length - halfA.size}; threshold fitted on the training half (BPCER <= ${MAX_BPCER * 100}%, leave-one-subject-out)`,
  '',
  `${'input'.padEnd(28)} ${'L2'.padStart(5)}  ${'fitted on a, reported on b'.padEnd(28)} ${'fitted on b, reported on a'.padEnd(28)} ${'out of fold'.padEnd(27)} optimistic: each half at its own best threshold`,
];
const inputs: [string, (s: Sample) => number[]][] = [
  ['log-odds of the 3 scores', (s) => s.logodds],
  ['logits of the 3 models', (s) => s.logits],
  ['embeddings of the 3 models', (s) => s.embeddings],
];
for (const [name, pick] of inputs) {
  const x = samples.map(pick);
  for (const l2 of L2) {
    const ab = fold(x, y, subj, inA, l2);
    const ba = fold(
      x,
      y,
      subj,
      inA.map((a) => !a),
      l2,
    );
    const oa = bestAnyThreshold(
      ab.scores,
      y.filter((_, i) => !inA[i]),
    );
    const ob = bestAnyThreshold(
      ba.scores,
      y.filter((_, i) => inA[i]),
    );
    const total: Counts = {
      apcer: ab.counts.apcer + ba.counts.apcer,
      attacks: ab.counts.attacks + ba.counts.attacks,
      bpcer: ab.counts.bpcer + ba.counts.bpcer,
      bona: ab.counts.bona + ba.counts.bona,
    };
    const best: Counts = { ...total, apcer: oa[0] + ob[0], bpcer: oa[1] + ob[1] };
    lines.push(
      `${name.padEnd(28)} ${String(l2).padStart(5)}  ${cell(ab.counts).padEnd(28)} ${cell(ba.counts).padEnd(28)} ${cell(total).padEnd(27)} ${cell(best)}`,
    );
  }
}
process.stdout.write(`${lines.join('\n')}\n`);
for (const x of samples) x.embeddings.fill(0);
