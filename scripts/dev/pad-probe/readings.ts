/** What the PAD probe (probe.ts) reads of a face: copies of the attack models it measured, made by expose.py. */
import * as ort from 'onnxruntime-node';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { createFaceEngine } from '../../../models/face-engine.js';
import { analyzeStill } from '../../../models/still.js';
import { primaryFace } from '../../../models/select.js';
import { decodeImageFile } from '../../../device/media/image.js';
import { parseSpoofLabels, subjectOf } from '../../../agent/eval/labels.js';
import { attackScoreFromLogits, miniFasParams, preprocessPad } from '../../../models/pad/silent-face.js';
import { isCelebaSpoofModel, preprocessCelebaSpoof } from '../../../models/pad/celeba-spoof.js';

export type Engine = ReturnType<typeof createFaceEngine>;
export type Box = Parameters<typeof preprocessPad>[1];
export type Frame = Parameters<typeof preprocessPad>[0];

/** What the probe reads of one face: per shipped model its log-odds, logits and embedding, and the model's attack score. */
export interface Reading {
  logodds: number[];
  logits: number[];
  embeddings: number[];
  scores: Record<string, number>;
}

export interface Sample extends Reading {
  subject: string;
  attack: boolean;
}

/**
 * The set the probe measured: the attack models and threshold the kiosk shipped until HyperFAS was
 * measured (README, "Presentation-attack models"); pinned so that the README's probe output stays
 * reproducible now that the shipped set is another.
 */
export const PROBE_MODELS: readonly string[] = ['fr_liveness', 'minifasnet_v2', 'minifas_celebaspoof'];
export const PROBE_THRESHOLD = 0.419;

/** The copies made by expose.py of the probe's attack models. */
export async function openCopies(dir: string): Promise<(frame: Frame, box: Box) => Promise<Reading>> {
  const ids = PROBE_MODELS;
  const sessions = new Map(await Promise.all(ids.map(async (id) => [id, await ort.InferenceSession.create(join(dir, `${id}.onnx`))] as const)));
  return async (frame, box) => {
    const r: Reading = { logodds: [], logits: [], embeddings: [], scores: {} };
    for (const id of ids) {
      const celeba = isCelebaSpoofModel(id);
      const params = miniFasParams(id);
      const input = celeba ? preprocessCelebaSpoof(frame, box) : preprocessPad(frame, box, params!);
      const session = sessions.get(id)!;
      const res = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', input.data as Float32Array, input.shape) });
      const logits = Array.from(res[session.outputNames[0]].data as Float32Array);
      const score = attackScoreFromLogits(logits, celeba ? 0 : params!.liveClass); // CelebA-Spoof: [real, spoof]
      const p = Math.min(Math.max(score, 1e-6), 1 - 1e-6);
      r.scores[id] = score;
      r.logodds.push(Math.log(p / (1 - p)));
      r.logits.push(...logits);
      r.embeddings.push(...(res[session.outputNames[1]].data as Float32Array));
    }
    return r;
  };
}

/** Every NUAA image of the label file, read on the face the kiosk's path finds; `worst` = largest difference to the engine's own scores. */
export async function nuaaSamples(
  engine: Engine,
  read: (frame: Frame, box: Box) => Promise<Reading>,
  labels: string,
  root: string,
): Promise<{ samples: Sample[]; worst: number }> {
  const rows = parseSpoofLabels(await readFile(labels, 'utf8'), labels).filter((r) => /\/(ClientFace|ImposterFace)\//.test(r.image));
  const samples: Sample[] = [];
  let worst = 0;
  for (const r of rows) {
    const { frame, signals } = await analyzeStill(engine, await decodeImageFile(join(root, r.image)));
    const face = primaryFace(signals.faces);
    if (!face) {
      process.stderr.write(`no face: ${r.image}\n`);
      continue;
    }
    const decided = await engine.decide(frame, face);
    decided.embedding.fill(0);
    const reading = await read(frame, face.detection.box);
    for (const [id, score] of Object.entries(reading.scores)) worst = Math.max(worst, Math.abs(score - (decided.attackScores?.[id] ?? Number.NaN)));
    samples.push({ ...reading, subject: subjectOf(r.image), attack: !r.bonaFide });
  }
  return { samples, worst };
}
