import { createRequire } from 'node:module';
import { createServer, type Server } from 'node:http';
import { readFile } from 'node:fs/promises';
import { dirname, join, normalize, resolve } from 'node:path';
import type { RgbImage } from '../models/image/rgb-image.js';

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
  version: string;
  backend: string;
  stop(): Promise<void>;
}

const require = createRequire(import.meta.url);

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
  const liveCfg = { description: off, antispoof: off, liveness: off };
  const fullCfg = { description: { enabled: true, skipFrames: 0, skipTime: 0 }, antispoof: { enabled: true, skipFrames: 0, skipTime: 0 }, liveness: { enabled: true, skipFrames: 0, skipTime: 0 } };
  const human = new H.Human({
    backend: 'wasm',
    modelBasePath: `http://127.0.0.1:${port}/`,
    wasmPath: join(resolve(dirname(require.resolve('@tensorflow/tfjs-backend-wasm')), '..'), 'dist/'),
    debug: false,
    cacheSensitivity: 0,
    filter: off, gesture: off, body: off, hand: off, object: off, segmentation: off,
    face: {
      enabled: true,
      detector: { rotation: false, maxDetected: 1, skipFrames: 0, skipTime: 0 },
      mesh: { enabled: true },
      iris: { enabled: true, skipFrames: 0, skipTime: 0 },
      emotion: off,
      ...fullCfg,
    },
  });
  await human.load();
  const run = async (frame: RgbImage, face: object) => {
    const t = human.tf.tensor(frame.data, [1, frame.height, frame.width, 3], 'int32');
    try {
      const r = await human.detect(t, { face });
      return r.face.length;
    } finally {
      t.dispose();
    }
  };
  return {
    version: human.version,
    backend: human.tf.getBackend(),
    liveness: (f) => run(f, liveCfg),
    full: (f) => run(f, fullCfg),
    stop: async () => {
      server.close();
    },
  };
}

interface HumanApi {
  version: string;
  tf: { tensor(d: Uint8Array, s: number[], t: string): { dispose(): void }; getBackend(): string };
  load(): Promise<void>;
  detect(input: unknown, cfg?: object): Promise<{ face: unknown[] }>;
}
