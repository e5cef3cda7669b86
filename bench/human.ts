import { createRequire } from 'node:module';
import { createServer, type Server } from 'node:http';
import { readFile } from 'node:fs/promises';
import { dirname, join, normalize, resolve } from 'node:path';
import type { RgbImage } from '../base/rgb-image.js';

/**
 * @vladmandic/human 3.3.6 (dev dependency) as the peer in the benchmark, on the same tfjs WASM backend.
 * Human fetches its models over HTTP; in Node its fetch cannot read files, so a loopback server
 * serves the package's own models/ folder. Frame caching is off (skipFrames 0, cacheSensitivity 0)
 * so that every call does the full work.
 */
export interface HumanPeer {
  /** Detector + mesh + iris: Human's equivalent of our liveness path. */
  liveness(frame: RgbImage): Promise<number>;
  /** The same plus antispoof, liveness and description (faceres embedding). */
  full(frame: RgbImage): Promise<number>;
  /** One detect() with the chosen face models on; returns what each face carries (no tensors). */
  analyse(frame: RgbImage, models: HumanFaceModels): Promise<HumanFace[]>;
  /** Live tensors in Human's tfjs engine (a leak check). */
  tensors(): number;
  version: string;
  backend: string;
  stop(): Promise<void>;
}

/** Which of Human's face models run after the BlazeFace detector (the detector always runs). */
export interface HumanFaceModels {
  mesh: boolean;
  iris: boolean;
  antispoof: boolean;
  liveness: boolean;
  description: boolean;
}

/** One face as Human reports it: box and mesh in input pixels, scores as Human returns them. */
export interface HumanFace {
  /** Human's overall face score (mesh score when the mesh ran, else the detector's box score). */
  score: number;
  boxScore: number;
  /** [x, y, width, height] in input pixels. */
  box: [number, number, number, number];
  /** FaceMesh points [x, y, z] in input pixels: 468, or 478 with iris; empty when the mesh did not run. */
  mesh: number[][];
  /** faceres description (1024-d) when it ran. */
  embedding?: number[];
  /** antispoof: probability the face is real. */
  real?: number;
  /** liveness: probability the face is live. */
  live?: number;
}

const require = createRequire(import.meta.url);

/** Human's face config for the chosen models, every cache off (skipFrames/skipTime 0) so each call is a full run. */
function faceConfig(m: HumanFaceModels): object {
  const on = (enabled: boolean) => ({ enabled, skipFrames: 0, skipTime: 0 });
  return {
    enabled: true,
    detector: { rotation: false, maxDetected: 1, skipFrames: 0, skipTime: 0 },
    mesh: { enabled: m.mesh },
    iris: on(m.iris),
    emotion: { enabled: false },
    antispoof: on(m.antispoof),
    liveness: on(m.liveness),
    description: on(m.description),
  };
}

export async function startHuman(): Promise<HumanPeer> {
  // Its exports map has no package.json entry: find the package folder from the main entry.
  const pkgDir = resolve(dirname(require.resolve('@vladmandic/human')), '..');
  const modelsDir = join(pkgDir, 'models');
  const server: Server = createServer(async (req, res) => {
    try {
      const rel = normalize(decodeURIComponent((req.url ?? '/').split('?')[0])).replace(/^(\.\.[/\\])+/, '');
      res.end(await readFile(join(modelsDir, rel)));
    } catch {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  // The package's exports map is broken for subpaths, so load the node-wasm bundle by file path.
  const H = require(join(pkgDir, 'dist/human.node-wasm.js')) as { Human: new (c: object) => HumanApi };
  const off = { enabled: false };
  // Complete face configs on every call: Human merges a call's config into its own for good.
  const liveCfg = faceConfig({ mesh: true, iris: true, antispoof: false, liveness: false, description: false });
  const fullCfg = faceConfig({ mesh: true, iris: true, antispoof: true, liveness: true, description: true });
  const human = new H.Human({
    backend: 'wasm',
    modelBasePath: `http://127.0.0.1:${port}/`,
    wasmPath: join(resolve(dirname(require.resolve('@tensorflow/tfjs-backend-wasm')), '..'), 'dist/'),
    debug: false,
    cacheSensitivity: 0,
    filter: off,
    gesture: off,
    body: off,
    hand: off,
    object: off,
    segmentation: off,
    face: fullCfg,
  });
  await human.load();
  const detect = async (frame: RgbImage, face: object) => {
    const t = human.tf.tensor(frame.data, [1, frame.height, frame.width, 3], 'int32');
    try {
      return await human.detect(t, { face });
    } finally {
      t.dispose();
    }
  };
  const run = async (frame: RgbImage, face: object) => (await detect(frame, face)).face.length;
  return {
    version: human.version,
    backend: human.tf.getBackend(),
    liveness: (f) => run(f, liveCfg),
    full: (f) => run(f, fullCfg),
    analyse: async (f, models) => {
      const r = await detect(f, faceConfig(models));
      return r.face.map((x) => ({
        score: x.score,
        boxScore: x.boxScore,
        box: x.box,
        mesh: x.mesh,
        ...(x.embedding ? { embedding: x.embedding } : {}),
        ...(x.real !== undefined ? { real: x.real } : {}),
        ...(x.live !== undefined ? { live: x.live } : {}),
      }));
    },
    tensors: () => human.tf.memory().numTensors,
    stop: async () => {
      server.close();
    },
  };
}

interface HumanApi {
  version: string;
  tf: { tensor(d: Uint8Array, s: number[], t: string): { dispose(): void }; getBackend(): string; memory(): { numTensors: number } };
  load(): Promise<void>;
  detect(input: unknown, cfg?: object): Promise<{ face: RawHumanFace[] }>;
}

interface RawHumanFace {
  score: number;
  boxScore: number;
  box: [number, number, number, number];
  mesh: number[][];
  embedding?: number[];
  real?: number;
  live?: number;
}
