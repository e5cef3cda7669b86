/**
 * The machine-side half of the arm64 parity check (see scripts/arm64/check-arm64.sh):
 *   decode  --out <dir> --root <data> [--max-frames n] <clip...>   decode with the kiosk's own decoder, save RGB frames
 *   run     --frames <dir> --out <dump.json> [--anchor <dump.json>] [--self-decode --root <data>]
 * `run` uses the kiosk's own engine (loadOnDeviceEngine, as `analyze` and `eval sessions` do): per frame the
 * liveness path (analyze), the decision path on the primary face (decide), and each model alone on the anchor's
 * face, so that a model's difference is not mixed with the differences of the models before it.
 * The dump holds embeddings of the dev clips' faces: it is written 0600 and belongs outside the repository.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { loadOnDeviceEngine } from '../../agent/cli/analyze.js';
import { openMediaFile } from '../../device/media/media-file.js';
import { cosineSimilarity, type FaceEngine } from '../../models/engine.js';
import { DEFAULT_ENGINE_OPTIONS, DEFAULT_MODELS } from '../../models/face-engine.js';
import { findModel, readManifest, readVerified } from '../../models/manifest.js';
import { OnnxRuntime } from '../../models/runtime/onnx.js';
import { variantId } from '../../models/variants.js';
import { Landmarks68 } from '../../models/landmarks/landmarks68.js';
import { EyeState } from '../../models/eyes/eye-state.js';
import { primaryFace } from '../../models/select.js';
import type { FaceSignals } from '../../models/types.js';
import type { RgbImage } from '../../base/rgb-image.js';
import { FramesWriter, pixelDiff, readClipFrames, readFramesIndex } from './frames-file.js';
import type { DumpFrame, ModelOutputs, ParityDump } from './parity-compare.js';

/** Landmarks and eye state loaded alone (same manifest, variant and thread count as the engine), to feed them the anchor's crop. */
async function loadIsolated() {
  const manifest = await readManifest();
  const rt = new OnnxRuntime({ threads: DEFAULT_ENGINE_OPTIONS.threads });
  await rt.start();
  const load = async (id: string) => {
    const model = findModel(manifest, variantId(manifest, id, DEFAULT_ENGINE_OPTIONS.variant));
    return rt.load(model, await readVerified(model));
  };
  const landmarks = new Landmarks68(await load(DEFAULT_MODELS.landmarks));
  const eyes = DEFAULT_MODELS.eyeState ? new EyeState(await load(DEFAULT_MODELS.eyeState)) : null;
  return { landmarks, eyes, stop: () => rt.stop() };
}

type Isolated = Awaited<ReturnType<typeof loadIsolated>>;

/** Each model on the anchor's face; the detector on the whole frame (its input is the frame itself). */
async function modelOutputs(engine: FaceEngine, iso: Isolated, image: RgbImage, own: FaceSignals | null, anchor: FaceSignals): Promise<ModelOutputs> {
  const b = own?.detection.box;
  const { points } = await iso.landmarks.run(image, anchor.detection.box);
  const eyes = iso.eyes ? await iso.eyes.run(image, anchor.landmarks) : null;
  const d = await engine.decide(image, anchor);
  return {
    detect: own && b ? { box: [b.x, b.y, b.width, b.height], score: own.detection.score } : null,
    landmarks: points.flatMap((p) => [p.x, p.y]),
    eyes,
    pad: d.attackScores ?? {},
    embedding: Array.from(d.embedding),
  };
}

async function decode(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { out: { type: 'string' }, root: { type: 'string' }, 'max-frames': { type: 'string', default: '40' } },
  });
  if (!values.out || !values.root || positionals.length === 0) throw new Error('usage: parity.ts decode --out <dir> --root <data> [--max-frames n] <clip...>');
  const max = Number(values['max-frames']);
  const writer = new FramesWriter(values.out);
  await writer.start();
  for (const clip of positionals) {
    const source = await openMediaFile(join(values.root, clip));
    let n = 0;
    for await (const f of source.frames()) {
      await writer.add(clip, f.index, f.timeMs, f.image);
      if (++n >= max) break; // stops and reaps ffmpeg
    }
    process.stderr.write(`decoded ${n} frames of ${clip}\n`);
  }
  await writer.close();
}

/** The frames of one clip: the shared ones, or decoded here and compared with the shared ones. */
async function* clipFrames(framesDir: string, clip: Parameters<typeof readClipFrames>[1], selfRoot: string | undefined) {
  const shared = readClipFrames(framesDir, clip);
  if (!selfRoot) {
    for await (const f of shared) yield { index: f.saved.index, timeMs: f.saved.timeMs, image: f.image, pixelDiff: undefined };
    return;
  }
  const source = await openMediaFile(join(selfRoot, clip.clip));
  const own = source.frames();
  try {
    for await (const f of shared) {
      const next = await own.next();
      if (next.done) break;
      yield { index: next.value.index, timeMs: next.value.timeMs, image: next.value.image, pixelDiff: pixelDiff(f.image, next.value.image) };
    }
  } finally {
    await own.return(undefined); // stops and reaps ffmpeg
  }
}

async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      frames: { type: 'string' },
      out: { type: 'string' },
      anchor: { type: 'string' },
      'self-decode': { type: 'boolean', default: false },
      root: { type: 'string' },
    },
  });
  if (!values.frames || !values.out || (values['self-decode'] && !values.root)) {
    throw new Error('usage: parity.ts run --frames <dir> --out <dump.json> [--anchor <dump.json>] [--self-decode --root <data>]');
  }
  const index = await readFramesIndex(values.frames);
  const anchorDump = values.anchor ? (JSON.parse(await (await import('node:fs/promises')).readFile(values.anchor, 'utf8')) as ParityDump) : null;
  const anchorFaces = new Map(anchorDump?.clips.map((c) => [c.clip, new Map(c.frames.map((f) => [f.index, f.face]))]) ?? []);
  const engine = await loadOnDeviceEngine();
  const info = await engine.start();
  const iso = await loadIsolated();
  const dump: ParityDump = {
    version: 1,
    arch: process.arch,
    node: process.version,
    inputs: values['self-decode'] ? 'self' : 'shared',
    anchor: anchorDump ? anchorDump.arch : 'self',
    models: info.models.map((m) => ({ id: m.id, sha256: m.sha256 })),
    clips: [],
  };
  try {
    for (const clip of index.clips) {
      const frames: DumpFrame[] = [];
      let reference: Float32Array | null = null;
      const t0 = performance.now();
      for await (const f of clipFrames(values.frames, clip, values['self-decode'] ? values.root : undefined)) {
        const t = performance.now();
        const face = primaryFace((await engine.analyze(f.image)).faces) ?? null;
        let signals: DumpFrame['signals'] = null;
        if (face) {
          const d = await engine.decide(f.image, face);
          reference ??= d.embedding;
          signals = {
            yaw: face.pose.yaw,
            pitch: face.pose.pitch,
            roll: face.pose.roll,
            eyeOpen: face.eyes.openProbability ?? null,
            attack: d.attackScore,
            similarity: cosineSimilarity(d.embedding, reference),
          };
        }
        const anchor = anchorDump ? (anchorFaces.get(clip.clip)?.get(f.index) ?? null) : face;
        const models = anchor ? await modelOutputs(engine, iso, f.image, face, anchor) : null;
        frames.push({ index: f.index, timeMs: f.timeMs, pixelDiff: f.pixelDiff, face, signals, models, ms: performance.now() - t });
      }
      dump.clips.push({ clip: clip.clip, frames });
      process.stderr.write(`${process.arch}: ${frames.length} frames of ${clip.clip} in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
    }
  } finally {
    await iso.stop();
    await engine.stop();
  }
  await writeFile(values.out, `${JSON.stringify(dump)}\n`, { mode: 0o600 });
}

const [command, ...rest] = process.argv.slice(2);
const commands: Record<string, (a: string[]) => Promise<void>> = { decode, run };
const fn = command ? commands[command] : undefined;
if (!fn) {
  process.stderr.write('usage: parity.ts decode|run ... (see the comment at the top of scripts/arm64/parity.ts)\n');
  process.exitCode = 64;
} else {
  fn(rest).catch((err: unknown) => {
    process.stderr.write(`parity: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
