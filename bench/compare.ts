// `npm run compare [-- --json] [--variant float|fp16|int8]`: the candidate-model comparison of issue 2
// ("choose one model per function by measurement on the dev data"). In one run on ../shared/data it
// measures, per function, our engine's model against @vladmandic/human 3.3.6's candidate:
// - detection: images with a face found, on the verify-pair and spoof images; detector ms per 640x480 frame;
// - eyes: eye closures in the blink video read by the kiosk's detector (agent/eval/session-events.ts, session
//   defaults), fed ours (the fr_eye eye-state model the engine ships) or Human's (EAR from FaceMesh+iris lid
//   points, bench/compare/common.ts; Human has no eye-state model), the rest of each frame's signals (pose,
//   quality) being ours for both;
// - PAD: AUC on labels/spoof.tsv for fr_liveness, Human antispoof and Human liveness (and Human's antispoof
//   model run by our engine on our face box, in a child process);
// - embedding: AUC and TAR at FAR 1% on labels/verify-pairs.tsv, fr_feature vs Human faceres (cosine).
// Stills are capped to MAX_SIDE px on the long side, the same image for both engines; a still whose best face
// is below STILL_CONFIDENT_SCORE is retried with a margin (models/still.ts) for both. Milliseconds are medians
// over 640x480 frames of the benchmark video (bench/run.ts uses the same), single inference thread, on a shared
// machine: compare them within one run only. Nothing here is tuned: no threshold is chosen on these data.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expectedEvents, scoreCategory, type DetectedEvent } from '../agent/eval/event-match.js';
import { detectSessionEvents, type SignalFrame } from '../agent/eval/session-events.js';
import { resolveSessionConfig } from '../agent/session/config.js';
import { parseSpoofLabels, parseVerifyPairs, parseVideoLabels, readLabelFile } from '../agent/eval/labels.js';
import { rocAuc, tarAtFar, type AucResult, type TarAtFarResult } from '../agent/eval/metrics.js';
import { readVideoFrames } from '../device/media/video.js';
import { cosineSimilarity } from '../models/engine.js';
import { createFaceEngine } from '../models/face-engine.js';
import { primaryFace } from '../models/select.js';
import { analyzeStill, STILL_CONFIDENT_SCORE } from '../models/still.js';
import { MODEL_VARIANTS, type ModelVariant } from '../models/variants.js';
import { humanPrimary, humanStill, loadCapped, MAX_SIDE, MESH_EAR_INDICES, meshEyeOpenness } from './compare/common.js';
import { videoFrames } from './frames.js';
import { startHuman, type HumanFaceModels } from './human.js';
import { fmt, median } from './stats.js';

const argv = process.argv.slice(2);
const json = argv.includes('--json');
const vi = argv.indexOf('--variant');
const variantArg = vi >= 0 ? argv[vi + 1] : undefined;
if (variantArg !== undefined && !(MODEL_VARIANTS as readonly string[]).includes(variantArg)) {
  console.error(`compare: --variant must be one of ${MODEL_VARIANTS.join(', ')}`);
  process.exit(2);
}
const variant = variantArg as ModelVariant | undefined;

const root = resolve(fileURLToPath(import.meta.url), '../..');
const data = process.env.KIOSK_TEST_DATA ?? resolve(root, '../shared/data');
const timingVideo = join(data, 'tranvanluyt-replay-headturn/videos/real.mp4');
if (!existsSync(join(data, 'labels/spoof.tsv')) || !existsSync(timingVideo)) {
  console.error(`compare: ${data} is absent or incomplete; the comparison needs ../shared/data`);
  process.exit(2);
}
const TIMING_FRAMES = Number(process.env.COMPARE_FRAMES ?? 30);
const TIMING_STEP = 10;
const TIMING_PASSES = Number(process.env.COMPARE_PASSES ?? 2);
const progress = (msg: string) => process.stderr.write(`compare: ${msg}\n`);
const t0 = performance.now();

const pairs = await readLabelFile(join(data, 'labels/verify-pairs.tsv'), parseVerifyPairs);
const spoof = await readLabelFile(join(data, 'labels/spoof.tsv'), parseSpoofLabels);
const blinkRow = (await readLabelFile(join(data, 'labels/videos.tsv'), parseVideoLabels)).find((r) => r.video === 'blink-detector-video/video.mp4');
if (!blinkRow) throw new Error('labels/videos.tsv has no row for blink-detector-video/video.mp4');

const engine = createFaceEngine({ options: variant ? { variant } : {} });
const info = await engine.start();
// Several models can serve one task (the fused presentation-attack models): joined with ' + '.
const oursModels: Record<string, string> = {};
for (const m of info.models) oursModels[m.task] = oursModels[m.task] ? `${oursModels[m.task]} + ${m.id}` : m.id;
const human = await startHuman();
const humanTensorsAtStart = human.tensors();

const ALL: HumanFaceModels = { mesh: true, iris: true, antispoof: true, liveness: true, description: true };
const MESH: HumanFaceModels = { mesh: true, iris: true, antispoof: false, liveness: false, description: false };
const DETECT: HumanFaceModels = { mesh: false, iris: false, antispoof: false, liveness: false, description: false };

// ---- Stills: every distinct verify image and every spoof image, once per engine. ----
interface StillResult {
  oursFound: boolean;
  oursPadded: boolean;
  oursAttack?: number;
  oursEmbedding?: Float32Array;
  humanFound: boolean;
  humanPadded: boolean;
  humanReal?: number;
  humanLive?: number;
  humanEmbedding?: Float32Array;
  error?: string;
}
const verifyImages = [...new Set(pairs.flatMap((p) => [p.imageA, p.imageB]))];
const stills = new Map<string, StillResult>();
const allImages = [...new Set([...verifyImages, ...spoof.map((s) => s.image)])];
for (const [i, file] of allImages.entries()) {
  if (i % 50 === 0) progress(`stills ${i}/${allImages.length}`);
  try {
    const image = await loadCapped(join(data, file));
    const ours = await analyzeStill(engine, image);
    const face = primaryFace(ours.signals.faces);
    const d = face ? await engine.decide(ours.frame, face) : undefined;
    const h = await humanStill(human, image, ALL);
    const hf = humanPrimary(h.faces);
    stills.set(file, {
      oursFound: !!face,
      oursPadded: !!face && ours.padded,
      oursAttack: d?.attackScore,
      oursEmbedding: d?.embedding,
      humanFound: !!hf,
      humanPadded: !!hf && h.padded,
      humanReal: hf?.real,
      humanLive: hf?.live,
      humanEmbedding: hf?.embedding ? Float32Array.from(hf.embedding) : undefined,
    });
  } catch (err) {
    stills.set(file, { oursFound: false, oursPadded: false, humanFound: false, humanPadded: false, error: err instanceof Error ? err.message : String(err) });
  }
}

// ---- Eyes: the blink video, every frame as stored, the same frames to both engines. ----
progress('blink video');
const oursSamples: SignalFrame[] = [];
const humanSamples: SignalFrame[] = [];
let blinkSize = '';
for await (const frame of readVideoFrames(join(data, blinkRow.video))) {
  blinkSize = `${frame.image.width}x${frame.image.height}`;
  const signals = await engine.analyze(frame.image);
  const face = primaryFace(signals.faces);
  oursSamples.push({ index: frame.index, timeMs: frame.timeMs, signals: { ...signals, faces: face ? [face] : [] } });
  const hf = humanPrimary(await human.analyse(frame.image, MESH));
  const ear = hf ? meshEyeOpenness(hf.mesh) : undefined;
  humanSamples.push({ index: frame.index, timeMs: frame.timeMs, signals: { ...signals, faces: face && ear ? [{ ...face, eyes: ear }] : [] } });
}
const tolerance = blinkRow.toleranceFrames ?? 5;
const expected = expectedEvents(blinkRow.events);
const sessionConfig = resolveSessionConfig();
const eyeResult = (samples: SignalFrame[]) => {
  const detected = detectSessionEvents(samples, sessionConfig).events.filter((e) => e.kind === 'eyes_closed');
  const s = scoreCategory('eyes', expected, detected, tolerance);
  return {
    frames: samples.length,
    frames_with_face: samples.filter((x) => x.signals.faces.length > 0).length,
    labelled: s.labelled,
    detected: s.detected,
    matched: s.matched,
    missed: s.missed,
    false: s.false,
    missed_events: s.missedEvents.map((e) => [e.first, e.last]),
    false_events: s.falseEvents.map((e: DetectedEvent) => [e.first, e.last]),
  };
};
const eyes = { video: blinkRow.video, frame_size: blinkSize, tolerance_frames: tolerance, ours: eyeResult(oursSamples), human: eyeResult(humanSamples) };

// ---- Timing: 640x480 frames, ours per stage, Human by configuration (and differences). ----
progress(`timing on ${TIMING_FRAMES} frames x ${TIMING_PASSES} passes`);
const frames = await videoFrames(timingVideo, 640, 480, TIMING_FRAMES, TIMING_STEP);
const tm = {
  oursDetect: [] as number[],
  oursEyePath: [] as number[],
  oursPad: [] as number[],
  oursEmbed: [] as number[],
  hDetect: [] as number[],
  hMesh: [] as number[],
  hAntispoof: [] as number[],
  hLiveness: [] as number[],
  hDescription: [] as number[],
};
let oursTimingFaces = 0;
let humanTimingFaces = 0;
const clock = async <T>(fn: () => Promise<T>): Promise<[T, number]> => {
  const s = performance.now();
  const r = await fn();
  return [r, performance.now() - s];
};
for (let pass = -1; pass < TIMING_PASSES; pass++) {
  for (const f of frames) {
    const [sig, eyePath] = await clock(() => engine.analyze(f));
    const face = primaryFace(sig.faces);
    const d = face ? await engine.decide(f, face) : undefined;
    const [hd, detMs] = await clock(() => human.analyse(f, DETECT));
    const [hm, meshMs] = await clock(() => human.analyse(f, MESH));
    const [, asMs] = await clock(() => human.analyse(f, { ...MESH, antispoof: true }));
    const [, lvMs] = await clock(() => human.analyse(f, { ...MESH, liveness: true }));
    const [, dsMs] = await clock(() => human.analyse(f, { ...MESH, description: true }));
    if (pass < 0) continue; // warm-up
    tm.oursDetect.push(sig.timings.detect);
    tm.oursEyePath.push(eyePath);
    if (d) {
      oursTimingFaces++;
      tm.oursPad.push(d.timings.pad);
      tm.oursEmbed.push(d.timings.embed);
    }
    tm.hDetect.push(detMs);
    if (hd.length > 0) humanTimingFaces++;
    if (hm.length > 0) {
      tm.hMesh.push(meshMs);
      tm.hAntispoof.push(asMs - meshMs);
      tm.hLiveness.push(lvMs - meshMs);
      tm.hDescription.push(dsMs - meshMs);
    }
  }
}
const humanTensorsAtEnd = human.tensors();
await engine.stop();
await human.stop();

// ---- Our engine with Human's antispoof as PAD, in a child process (see its header). ----
progress('our engine with Human antispoof (child process)');
const childArgs = [
  '--import',
  'tsx',
  join(root, 'bench/compare/ours-antispoof.ts'),
  data,
  variant ?? 'fp16',
  timingVideo,
  String(TIMING_FRAMES),
  String(TIMING_STEP),
];
const child = JSON.parse(
  execFileSync(process.execPath, childArgs, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
    .trim()
    .split('\n')
    .pop()!,
) as {
  model: string;
  runtime: string;
  scores: Record<string, number | null>;
  pad_ms: number[];
};

// ---- Figures. ----
const count = (files: string[], pick: (r: StillResult) => boolean) => files.filter((f) => pick(stills.get(f)!)).length;
const spoofFiles = spoof.map((s) => s.image);
const detectionFor = (which: 'ours' | 'human') => {
  const found = (r: StillResult) => (which === 'ours' ? r.oursFound : r.humanFound);
  const padded = (r: StillResult) => (which === 'ours' ? r.oursPadded : r.humanPadded);
  const set = (files: string[]) => ({
    images: files.length,
    found: count(files, found),
    found_with_margin_retry: count(files, padded),
    margin_retry_files: files.filter((f) => padded(stills.get(f)!)),
    failures_to_detect: files.filter((f) => !found(stills.get(f)!)),
  });
  return { verify_images: set(verifyImages), spoof_images: set(spoofFiles) };
};
const detection = {
  ours: {
    model: oursModels.detect,
    ...detectionFor('ours'),
    timing_frames_with_face: `${oursTimingFaces}/${tm.oursDetect.length}`,
    median_ms: median(tm.oursDetect),
  },
  human: { model: 'blazeface', ...detectionFor('human'), timing_frames_with_face: `${humanTimingFaces}/${tm.hDetect.length}`, median_ms: median(tm.hDetect) },
};

/** AUC with attack as the positive class; score = higher means attack. */
const padAuc = (score: (row: (typeof spoof)[number]) => number | null | undefined) => {
  const attack: number[] = [];
  const bona: number[] = [];
  let unscored = 0;
  for (const row of spoof) {
    const s = score(row);
    if (s === null || s === undefined || !Number.isFinite(s)) {
      unscored++;
      continue;
    }
    (row.bonaFide ? bona : attack).push(s);
  }
  return { ...rocAuc(attack, bona), unscored, presentations: spoof.length };
};
const pad = {
  ours: { model: oursModels.pad, ...padAuc((r) => stills.get(r.image)!.oursAttack), median_ms: median(tm.oursPad) },
  ours_with_human_antispoof: { model: child.model, runtime: child.runtime, ...padAuc((r) => child.scores[r.image]), median_ms: median(child.pad_ms) },
  human_antispoof: {
    model: 'antispoof',
    score: '1 - real',
    ...padAuc((r) => {
      const v = stills.get(r.image)!.humanReal;
      return v === undefined ? null : 1 - v;
    }),
    median_ms: median(tm.hAntispoof),
  },
  human_liveness: {
    model: 'liveness',
    score: '1 - live',
    ...padAuc((r) => {
      const v = stills.get(r.image)!.humanLive;
      return v === undefined ? null : 1 - v;
    }),
    median_ms: median(tm.hLiveness),
  },
};

const matchFor = (emb: (r: StillResult) => Float32Array | undefined) => {
  const genuine: number[] = [];
  const impostor: number[] = [];
  for (const p of pairs) {
    const a = emb(stills.get(p.imageA)!);
    const b = emb(stills.get(p.imageB)!);
    if (!a || !b) continue;
    (p.same ? genuine : impostor).push(cosineSimilarity(a, b));
  }
  const tar: TarAtFarResult = tarAtFar(genuine, impostor, 0.01);
  const auc: AucResult = rocAuc(genuine, impostor);
  return {
    pairs: pairs.length,
    pairs_scored: genuine.length + impostor.length,
    genuine: genuine.length,
    impostor: impostor.length,
    auc: auc.auc,
    tar_at_far_1pct: tar,
  };
};
const embedding = {
  ours: {
    model: oursModels.embed,
    dims: [...stills.values()].find((r) => r.oursEmbedding)?.oursEmbedding?.length ?? null,
    ...matchFor((r) => r.oursEmbedding),
    median_ms: median(tm.oursEmbed),
  },
  human: {
    model: 'faceres (description)',
    dims: [...stills.values()].find((r) => r.humanEmbedding)?.humanEmbedding?.length ?? null,
    ...matchFor((r) => r.humanEmbedding),
    median_ms: median(tm.hDescription),
  },
};

const doc = {
  data_root: data,
  variant: variant ?? 'default (fp16)',
  max_side_px: MAX_SIDE,
  still_retry_below_score: STILL_CONFIDENT_SCORE,
  ours: { runtimes: info.runtimes, models: info.models.map((m) => ({ task: m.task, id: m.id })) },
  human: { version: human.version, backend: human.backend, tensors_at_start: humanTensorsAtStart, tensors_at_end: humanTensorsAtEnd },
  timing: { video: 'tranvanluyt-replay-headturn/videos/real.mp4', frames: frames.length, step: TIMING_STEP, passes: TIMING_PASSES, size: '640x480' },
  mesh_ear_indices: MESH_EAR_INDICES,
  still_errors: [...stills].filter(([, r]) => r.error).map(([file, r]) => ({ file, error: r.error })),
  detection,
  eyes: { ...eyes, ours_eye_path_median_ms: median(tm.oursEyePath), human_mesh_iris_median_ms: median(tm.hMesh) },
  pad,
  embedding,
  elapsed_s: (performance.now() - t0) / 1000,
};

if (json) {
  process.stdout.write(`${JSON.stringify(doc, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) && !Number.isNaN(v) ? String(v) : v), 2)}\n`);
  process.exit(0);
}

const f3 = (x: number | null) => (x === null ? 'n/a' : x.toFixed(3));
const ms = (x: number) => fmt(x, 1);
const det = (d: ReturnType<typeof detectionFor>) =>
  `verify ${d.verify_images.found}/${d.verify_images.images} (${d.verify_images.found_with_margin_retry} after margin retry), spoof ${d.spoof_images.found}/${d.spoof_images.images} (${d.spoof_images.found_with_margin_retry} after margin retry)`;
const eye = (e: ReturnType<typeof eyeResult>) => `${e.matched}/${e.labelled} closures, ${e.false} false (face in ${e.frames_with_face}/${e.frames} frames)`;
const auc = (a: ReturnType<typeof padAuc>) =>
  `AUC ${f3(a.auc)} (${a.positives} attack / ${a.negatives} bona fide; ${a.unscored}/${a.presentations} without a face)`;
const emb = (m: ReturnType<typeof matchFor>) =>
  `AUC ${f3(m.auc)}, TAR@FAR1% ${m.tar_at_far_1pct.tar.count}/${m.tar_at_far_1pct.tar.total} (FAR ${m.tar_at_far_1pct.far.errors}/${m.tar_at_far_1pct.far.total}) on ${m.pairs_scored}/${m.pairs} pairs (${m.genuine} mated / ${m.impostor} non-mated)`;

console.log(
  `\nkiosk-agent model comparison on ${data}: ours ${info.runtimes.map((r) => `${r.runtime} ${r.version} ${r.backend} ${r.threads} thread`).join(', ')}, variant ${doc.variant}; Human ${human.version} on tfjs ${human.backend}`,
);
console.log(
  `stills capped to ${MAX_SIDE} px long side, the same image to both; ms = median on ${frames.length} 640x480 frames x ${TIMING_PASSES} passes (frames with a face)\n`,
);
console.log('| function | ours (model) | Human candidate | metric with counts | ms |');
console.log('|---|---|---|---|---|');
console.log(
  `| face detection | ${oursModels.detect} (UltraFace) | BlazeFace | images with a face: ours ${det(detection.ours)}; Human ${det(detection.human)} | detector per 640x480 frame: ours ${ms(detection.ours.median_ms)}, Human ${ms(detection.human.median_ms)} |`,
);
console.log(
  `| eye closures (blink video, ${eyes.ours.labelled} labelled) | ${oursModels['eye-state']} eye-state model (the kiosk's reading) | FaceMesh + iris, EAR from lid points | ours ${eye(eyes.ours)}; Human ${eye(eyes.human)} | detect+landmarks+eyes per frame: ours ${ms(doc.eyes.ours_eye_path_median_ms)}, Human detector+mesh+iris ${ms(doc.eyes.human_mesh_iris_median_ms)} |`,
);
console.log(
  `| PAD (spoof.tsv) | ${pad.ours.model} | antispoof | ours ${auc(pad.ours)}; Human antispoof ${auc(pad.human_antispoof)}; antispoof on our face box in our runtime ${auc(pad.ours_with_human_antispoof)} | per face: ours ${ms(pad.ours.median_ms)}, Human antispoof ${ms(pad.human_antispoof.median_ms)}, antispoof in our runtime ${ms(pad.ours_with_human_antispoof.median_ms)} |`,
);
console.log(
  `| PAD (spoof.tsv) | ${pad.ours.model} | liveness | ours ${auc(pad.ours)}; Human liveness ${auc(pad.human_liveness)} | per face: ours ${ms(pad.ours.median_ms)}, Human liveness ${ms(pad.human_liveness.median_ms)} |`,
);
console.log(
  `| embedding (verify-pairs.tsv) | ${embedding.ours.model} (${embedding.ours.dims}-d) | faceres (${embedding.human.dims}-d), cosine | ours ${emb(embedding.ours)}; Human ${emb(embedding.human)} | per face: ours ${ms(embedding.ours.median_ms)}, Human ${ms(embedding.human.median_ms)} |`,
);
const ftd = (which: 'ours' | 'human') => {
  const d = detection[which];
  const files = [...d.verify_images.failures_to_detect, ...d.spoof_images.failures_to_detect];
  return `${files.length}${files.length ? `: ${files.join(', ')}` : ''}`;
};
console.log(`\nfailures to detect, ours ${ftd('ours')}`);
console.log(`failures to detect, Human ${ftd('human')}`);
if (doc.still_errors.length) console.log(`images that failed to load or analyse: ${doc.still_errors.map((e) => `${e.file} (${e.error})`).join('; ')}`);
console.log(
  `\nNotes: eye closures read by the kiosk's detector (agent/eval/session-events.ts, session defaults) from our eye-state model or Human's mesh EAR, the rest of each frame's signals ours, scored with +-${tolerance} frames (videos.tsv); Human EAR from mesh points ${JSON.stringify(MESH_EAR_INDICES)} (subject's right/left eye: corners, upper lid, lower lid). PAD AUC: attack is the positive class; Human scores as 1 - real / 1 - live. Human per-model ms = (detector+mesh+iris+that model) - (detector+mesh+iris) on the same frame. On a still retried with a margin, ours decides on the original image, Human on the margin canvas (Human: ${detection.human.spoof_images.found_with_margin_retry} spoof, ${detection.human.verify_images.found_with_margin_retry} verify images). Human tensors ${humanTensorsAtStart} at start, ${humanTensorsAtEnd} at end. Elapsed ${fmt(doc.elapsed_s, 0)} s.`,
);
process.exit(0);
