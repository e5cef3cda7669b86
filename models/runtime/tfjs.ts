import * as tf from '@tensorflow/tfjs';
import { createRequire } from 'node:module';
import { KioskError } from '../../base/errors.js';
import type { ManifestModel } from '../manifest.js';
import type { InferenceRuntime, ModelSession, RuntimeInfo, TensorMap } from './types.js';

export type TfjsBackend = 'tensorflow' | 'wasm' | 'cpu';

export interface TfjsRuntimeOptions {
  /**
   * Backends to try, in order. Default: tfjs-node ('tensorflow') when it is installed and loads,
   * then WASM (SIMD, single thread), then pure JS 'cpu' as a last resort.
   */
  prefer?: TfjsBackend[];
  /** Reports which backends were tried and why they were skipped. */
  onSkip?: (backend: TfjsBackend, reason: string) => void;
}

const require = createRequire(import.meta.url);

/** Registers @tensorflow/tfjs-node if present and loadable; never a hard dependency. */
async function tryTfjsNode(): Promise<string | null> {
  try {
    // Optional: not in package.json (its install downloads libtensorflow, impossible here and on arm64).
    const name = '@tensorflow/tfjs-node';
    await import(name);
    return null;
  } catch (err) {
    return err instanceof Error ? err.message.split('\n')[0] : String(err);
  }
}

/**
 * TensorFlow.js with one backend chosen at start. Every `run` executes inside tf.tidy and copies the
 * outputs out, so no tensor outlives a call (memory().tensors stays flat; a test checks it).
 */
export class TfjsRuntime implements InferenceRuntime {
  readonly kind = 'tfjs' as const;
  private readonly prefer: TfjsBackend[];
  private readonly onSkip?: (backend: TfjsBackend, reason: string) => void;
  private backend: TfjsBackend | null = null;
  private readonly sessions = new Set<TfjsSession>();

  constructor(options: TfjsRuntimeOptions = {}) {
    this.prefer = options.prefer ?? ['tensorflow', 'wasm', 'cpu'];
    this.onSkip = options.onSkip;
  }

  async start(): Promise<RuntimeInfo> {
    if (this.backend) return this.info();
    for (const b of this.prefer) {
      const reason = await this.prepare(b);
      if (reason === null && (await tf.setBackend(b))) {
        await tf.ready();
        this.backend = b;
        return this.info();
      }
      this.onSkip?.(b, reason ?? 'setBackend returned false');
    }
    throw new KioskError('E_RUNTIME_UNAVAILABLE', `no TensorFlow.js backend could start (tried ${this.prefer.join(', ')})`);
  }

  private async prepare(b: TfjsBackend): Promise<string | null> {
    if (b === 'tensorflow') return tryTfjsNode();
    if (b === 'wasm') {
      try {
        const wasm = await import('@tensorflow/tfjs-backend-wasm');
        // In Node the .wasm binaries are read from the package folder (no fetch, no network).
        const dir = require.resolve('@tensorflow/tfjs-backend-wasm/package.json').replace(/package\.json$/, 'dist/');
        wasm.setWasmPaths(dir);
        wasm.setThreadsCount?.(1);
        return null;
      } catch (err) {
        return err instanceof Error ? err.message : String(err);
      }
    }
    return null;
  }

  info(): RuntimeInfo {
    return { runtime: 'tfjs', backend: this.backend ?? 'none', version: tf.version.tfjs, threads: 1 };
  }

  async load(model: ManifestModel, files: Map<string, Uint8Array>): Promise<ModelSession> {
    await this.start();
    const jsonFile = model.files.find((f) => f.path.endsWith('.json'));
    const binFiles = model.files.filter((f) => f.path.endsWith('.bin'));
    if (!jsonFile) throw new KioskError('E_MODEL_LOAD', `tfjs model "${model.id}" has no model.json`, { subject: model.id });
    try {
      const json = JSON.parse(Buffer.from(files.get(jsonFile.path)!).toString('utf8')) as {
        modelTopology: object;
        weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
        format?: string;
        generatedBy?: string;
        convertedBy?: string;
        userDefinedMetadata?: Record<string, unknown>;
      };
      const weightSpecs = json.weightsManifest.flatMap((g) => g.weights);
      const parts = binFiles.map((f) => files.get(f.path)!);
      const total = parts.reduce((n, p) => n + p.byteLength, 0);
      const weightData = new Uint8Array(total);
      let off = 0;
      for (const p of parts) {
        weightData.set(p, off);
        off += p.byteLength;
      }
      const graph = await tf.loadGraphModel(
        tf.io.fromMemory({
          modelTopology: json.modelTopology,
          weightSpecs,
          weightData: weightData.buffer,
          format: json.format,
          generatedBy: json.generatedBy,
          convertedBy: json.convertedBy,
        }),
      );
      const s = new TfjsSession(model, graph, this.sessions);
      this.sessions.add(s);
      return s;
    } catch (err) {
      throw new KioskError('E_MODEL_LOAD', `TensorFlow.js could not load "${model.id}"`, { subject: jsonFile.path, cause: err });
    }
  }

  memory(): { tensors: number; bytes: number } {
    const m = tf.memory();
    return { tensors: m.numTensors, bytes: m.numBytes };
  }

  async stop(): Promise<void> {
    for (const s of [...this.sessions]) await s.dispose();
  }
}

class TfjsSession implements ModelSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];

  constructor(
    readonly model: ManifestModel,
    private readonly graph: tf.GraphModel,
    private readonly registry: Set<TfjsSession>,
  ) {
    this.inputNames = graph.inputs.map((i) => i.name);
    this.outputNames = graph.outputs.map((o) => o.name);
  }

  async run(inputs: TensorMap): Promise<TensorMap> {
    const outs = tf.tidy(() => {
      const feed: tf.NamedTensorMap = {};
      for (const [name, t] of Object.entries(inputs)) feed[name] = tf.tensor(t.data, t.shape, 'float32');
      const r = this.graph.execute(feed, [...this.outputNames]);
      return Array.isArray(r) ? r : [r];
    });
    try {
      const result: TensorMap = {};
      outs.forEach((t, i) => {
        result[this.outputNames[i]] = { data: t.dataSync() as Float32Array, shape: t.shape };
      });
      return result;
    } finally {
      for (const t of outs) t.dispose();
    }
  }

  async dispose(): Promise<void> {
    if (!this.registry.delete(this)) return;
    this.graph.dispose();
  }
}
