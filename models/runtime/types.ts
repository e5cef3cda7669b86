import type { ManifestModel } from '../manifest.js';

/** A dense float tensor handed to or returned from a model; plain data, no runtime handles. */
export interface TensorData {
  data: Float32Array;
  shape: number[];
}

export type TensorMap = Record<string, TensorData>;

/** A loaded model. `run` owns every native tensor it makes and frees it before returning. */
export interface ModelSession {
  readonly model: ManifestModel;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(inputs: TensorMap): Promise<TensorMap>;
  dispose(): Promise<void>;
}

/** What a runtime reports about itself: the name, the backend actually in use, thread count. */
export interface RuntimeInfo {
  runtime: 'onnx' | 'tfjs';
  backend: string;
  version: string;
  threads: number;
}

/** An inference runtime (ONNX Runtime or TensorFlow.js) behind one interface. */
export interface InferenceRuntime {
  readonly kind: 'onnx' | 'tfjs';
  /** Prepares the runtime (backend selection, threads); idempotent. */
  start(): Promise<RuntimeInfo>;
  /** Builds a session from verified model files (see readVerified); never touches the network. */
  load(model: ManifestModel, files: Map<string, Uint8Array>): Promise<ModelSession>;
  info(): RuntimeInfo;
  /** Live native tensors and bytes held by the runtime, for leak tests; -1 where not observable. */
  memory(): { tensors: number; bytes: number };
  stop(): Promise<void>;
}
