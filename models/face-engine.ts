import type { Logger } from '../base/log.js';
import { KioskError } from '../base/errors.js';
import type { Box, RgbImage } from '../base/rgb-image.js';
import { findModel, modelDigest, readManifest, readVerified, type Manifest, type ManifestModel } from './manifest.js';
import type { EngineInfo, FaceDecision, FaceEngine } from './engine.js';
import type { InferenceRuntime, ModelSession } from './runtime/types.js';
import { OnnxRuntime } from './runtime/onnx.js';
import type { FaceSignals, FrameSignals } from './types.js';
import { variantId, type ModelVariant } from './variants.js';
import { DEFAULT_DETECTOR_OPTIONS, UltrafaceDetector, type DetectorOptions } from './detector/ultraface.js';
import { fiveFrom68, LANDMARK_INPUT, Landmarks68 } from './landmarks/landmarks68.js';
import { eyeOpenness } from './eyes/eye-aspect.js';
import { EyeState } from './eyes/eye-state.js';
import { estimateHeadPose } from './pose/head-pose.js';
import { lowerFaceSkin } from './quality/occlusion.js';
import { faceQuality } from './quality/quality.js';
import { CALIBRATION } from './calibration.js';
import { fuseAttackScores } from './pad/fusion.js';
import { miniFasParams, SilentFacePad } from './pad/silent-face.js';
import { HumanAntispoofPad } from './pad/human-antispoof.js';
import { CelebaSpoofPad, isCelebaSpoofModel } from './pad/celeba-spoof.js';
import { HyperfasPad, isHyperfasModel } from './pad/hyperfas.js';
import { FaceEmbedder } from './embedding/arcface.js';

/** Which manifest model serves each task; quantized variants are selected here by id. */
export interface EngineModelChoice {
  detect: string;
  landmarks: string;
  eyeState: string | null;
  /** One or more presentation-attack models; with several, `decide` fuses their scores (pad/fusion.ts). */
  pad: readonly string[];
  embed: string;
}

export const DEFAULT_MODELS: EngineModelChoice = {
  detect: 'fr_detect',
  landmarks: 'fr_landmark',
  eyeState: 'fr_eye',
  pad: CALIBRATION.padModels.value,
  embed: 'fr_feature',
};

export interface FaceEngineOptions {
  models: EngineModelChoice;
  detector: DetectorOptions;
  /** Inference threads per model; 1 leaves the other core to capture, transport and the UI. */
  threads: number;
  /** Landmarks, eyes and pose are computed for at most this many faces per frame (largest first). */
  maxAnalysedFaces: number;
  /** Weight variant of every model that has one (see models/variants.ts). */
  variant: ModelVariant;
}

export const DEFAULT_ENGINE_OPTIONS: FaceEngineOptions = {
  models: DEFAULT_MODELS,
  detector: DEFAULT_DETECTOR_OPTIONS,
  threads: 1,
  maxAnalysedFaces: 4,
  // float16 weights: half the size, drift within the noise of the dev sets (README, "Quantization").
  variant: 'fp16',
};

export interface FaceEngineDeps {
  logger?: Logger;
  modelsDir?: string;
  manifest?: Manifest;
  options?: Partial<FaceEngineOptions>;
}

const now = () => performance.now();

/** A presentation-attack model behind its own preprocessing: the attack score of the face in `box`. */
interface PadModel {
  run(frame: RgbImage, box: Box): Promise<number>;
}

/** The on-device face engine: UltraFace + 68 landmarks + EAR/eye-state + POS pose; presentation-attack models (MiniFASNet family, HyperFAS), fused; ArcFace-style embedding. */
export class OnDeviceFaceEngine implements FaceEngine {
  private readonly options: FaceEngineOptions;
  private runtimes = new Map<'onnx' | 'tfjs', InferenceRuntime>();
  private sessions: ModelSession[] = [];
  private loaded: ManifestModel[] = [];
  private parts?: {
    detector: UltrafaceDetector;
    landmarks: Landmarks68;
    eyes: EyeState | null;
    pad: { id: string; model: PadModel }[];
    embedder: FaceEmbedder;
  };

  constructor(private readonly deps: FaceEngineDeps = {}) {
    this.options = { ...DEFAULT_ENGINE_OPTIONS, ...deps.options, models: { ...DEFAULT_MODELS, ...deps.options?.models } };
  }

  async start(): Promise<EngineInfo> {
    if (this.parts) return this.info();
    const manifest = this.deps.manifest ?? (await readManifest());
    const load = async (id: string): Promise<ModelSession> => {
      const model = findModel(manifest, variantId(manifest, id, this.options.variant));
      const files = await readVerified(model, this.deps.modelsDir);
      const rt = await this.runtime(model.runtime);
      const s = await rt.load(model, files);
      this.sessions.push(s);
      this.loaded.push(model);
      return s;
    };
    const m = this.options.models;
    try {
      this.parts = {
        detector: new UltrafaceDetector(await load(m.detect), this.options.detector),
        landmarks: new Landmarks68(await load(m.landmarks)),
        eyes: m.eyeState ? new EyeState(await load(m.eyeState)) : null,
        pad: await this.padModels(load, m.pad),
        embedder: new FaceEmbedder(await load(m.embed)),
      };
    } catch (err) {
      await this.stop();
      throw err;
    }
    const info = this.info();
    this.deps.logger?.info({ runtimes: info.runtimes, models: info.models }, 'face engine ready');
    return info;
  }

  /** The presentation-attack models: MiniFASNet-family and HyperFAS ONNX models, or Human's antispoof (tfjs) for comparison. */
  private async padModels(load: (id: string) => Promise<ModelSession>, ids: readonly string[]): Promise<{ id: string; model: PadModel }[]> {
    if (ids.length === 0) throw new KioskError('E_MODEL_MANIFEST', 'no presentation-attack model configured', { subject: 'models.pad' });
    const out: { id: string; model: PadModel }[] = [];
    for (const id of ids) {
      const session = await load(id);
      if (session.model.runtime === 'tfjs') {
        out.push({ id, model: new HumanAntispoofPad(session) });
        continue;
      }
      if (isCelebaSpoofModel(id)) {
        out.push({ id, model: new CelebaSpoofPad(session) });
        continue;
      }
      if (isHyperfasModel(id)) {
        out.push({ id, model: new HyperfasPad(session) });
        continue;
      }
      const params = miniFasParams(id);
      if (!params) throw new KioskError('E_MODEL_MANIFEST', `"${id}" is not a presentation-attack model this engine knows how to feed`, { subject: id });
      out.push({ id, model: new SilentFacePad(session, params) });
    }
    return out;
  }

  private async runtime(kind: 'onnx' | 'tfjs'): Promise<InferenceRuntime> {
    let rt = this.runtimes.get(kind);
    if (!rt) {
      if (kind === 'onnx') {
        rt = new OnnxRuntime({ threads: this.options.threads });
      } else {
        // Imported on demand: loading TensorFlow.js costs ~1.5 s of cold start that the default (ONNX) models never need.
        const { TfjsRuntime } = await import('./runtime/tfjs.js');
        rt = new TfjsRuntime({ onSkip: (b, reason) => this.deps.logger?.info({ backend: b, reason }, 'tfjs backend skipped') });
      }
      await rt.start();
      this.runtimes.set(kind, rt);
    }
    return rt;
  }

  private ready() {
    if (!this.parts) throw new KioskError('E_INTERNAL', 'face engine used before start()');
    return this.parts;
  }

  async analyze(frame: RgbImage): Promise<FrameSignals> {
    const p = this.ready();
    const timings: Record<string, number> = {};
    let t = now();
    const detections = await p.detector.detect(frame);
    timings.detect = now() - t;
    const ranked = [...detections].sort((a, b) => b.box.width * b.box.height - a.box.width * a.box.height);
    const faces: FaceSignals[] = [];
    timings.landmarks = 0;
    timings.eyes = 0;
    for (const detection of ranked.slice(0, this.options.maxAnalysedFaces)) {
      t = now();
      const { points, grey } = await p.landmarks.run(frame, detection.box);
      timings.landmarks += now() - t;
      const keypoints = fiveFrom68(points);
      t = now();
      const ear = eyeOpenness(points);
      const state = p.eyes ? await p.eyes.run(frame, points) : null;
      timings.eyes += now() - t;
      const quality = faceQuality(detection.box, keypoints, grey, LANDMARK_INPUT);
      faces.push({
        detection: { ...detection, keypoints },
        landmarks: points,
        keypoints,
        eyes: state ? { ...ear, openProbability: (state.left + state.right) / 2 } : ear,
        pose: estimateHeadPose(points),
        quality: { ...quality, lowerFaceSkin: lowerFaceSkin(frame, points, quality.interEyePx) },
      });
    }
    return { width: frame.width, height: frame.height, faces, timings };
  }

  async decide(frame: RgbImage, face: FaceSignals): Promise<FaceDecision> {
    const p = this.ready();
    const timings: Record<string, number> = {};
    let t = now();
    const attackScores: Record<string, number> = {};
    for (const pad of p.pad) attackScores[pad.id] = await pad.model.run(frame, face.detection.box);
    const attackScore = fuseAttackScores(Object.values(attackScores));
    timings.pad = now() - t;
    t = now();
    const embedding = await p.embedder.run(frame, face.keypoints);
    timings.embed = now() - t;
    return { attackScore, attackScores, embedding, timings };
  }

  info(): EngineInfo {
    return {
      runtimes: [...this.runtimes.values()].map((r) => r.info()),
      models: this.loaded.map((m) => ({ ...modelDigest(m), task: m.task, runtime: m.runtime })),
    };
  }

  /** Live native tensors per runtime (tfjs) — for leak tests. */
  memory(): Record<string, { tensors: number; bytes: number }> {
    return Object.fromEntries([...this.runtimes].map(([k, r]) => [k, r.memory()]));
  }

  async stop(): Promise<void> {
    for (const s of this.sessions) await s.dispose();
    this.sessions = [];
    for (const r of this.runtimes.values()) await r.stop();
    this.runtimes.clear();
    this.parts = undefined;
  }
}

/** Factory used by the commands and the daemon's composition root. */
export function createFaceEngine(deps: FaceEngineDeps = {}): OnDeviceFaceEngine {
  return new OnDeviceFaceEngine(deps);
}
