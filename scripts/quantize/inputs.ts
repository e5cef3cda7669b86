// Real model inputs for the drift measurement: images from ../shared/data decoded with sharp, faces
// found by the float face engine, then each model's own pre-processing (the same functions the engine
// uses), so float and quantized models see exactly what they would see in production.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { createFaceEngine } from '../../models/face-engine.js';
import { analyzeStill } from '../../models/still.js';
import { cropResize, resize, scaledInside, squareAround, toInterleaved, type RgbImage } from '../../base/rgb-image.js';
import { preprocessUltraface } from '../../models/detector/ultraface.js';
import { IBUG, preprocessLandmarks } from '../../models/landmarks/landmarks68.js';
import { eyeBox, preprocessEye } from '../../models/eyes/eye-state.js';
import { preprocessPad } from '../../models/pad/silent-face.js';
import { preprocessEmbedding } from '../../models/embedding/arcface.js';
import { preprocessHumanAntispoof } from '../../models/pad/human-antispoof.js';
import type { TensorData } from '../../models/runtime/types.js';

export async function loadRgb(path: string): Promise<RgbImage> {
  const { data, info } = await sharp(path).rotate().removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

/** A fixed, spread selection: every k-th distinct image of the verify pairs and of the spoof labels. */
export function pickImages(dataDir: string, perSet: number): string[] {
  const col = (file: string, cols: number[]) => {
    const rows = readFileSync(join(dataDir, 'labels', file), 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split('\t'));
    return [...new Set(rows.flatMap((r) => cols.map((c) => r[c])))].sort();
  };
  const spread = (list: string[]) => {
    const step = Math.max(1, Math.floor(list.length / perSet));
    return list.filter((_, i) => i % step === 0).slice(0, perSet);
  };
  const verify = col('verify-pairs.tsv', [0, 1]);
  const spoof = col('spoof.tsv', [0]).filter((p) => !p.includes('_result'));
  return [...spread(verify.filter((p) => p.startsWith('deepface'))), ...spread(verify.filter((p) => p.startsWith('faceapi'))), ...spread(spoof)]
    .map((p) => join(dataDir, p))
    .filter((p) => existsSync(p));
}

/** model id -> list of inputs (one per face found), keyed by the original id. */
export type InputSets = Map<string, TensorData[]>;

export async function buildInputs(images: string[], onSkip: (path: string, why: string) => void): Promise<InputSets> {
  const engine = createFaceEngine();
  await engine.start();
  const sets: InputSets = new Map();
  const add = (id: string, t: TensorData) => {
    if (!sets.has(id)) sets.set(id, []);
    sets.get(id)!.push(t);
  };
  try {
    for (const path of images) {
      const image = await loadRgb(path);
      const { frame, signals } = await analyzeStill(engine, image);
      add('fr_detect', preprocessUltraface(frame));
      add('blazeface', { data: toInterleaved(resize(frame, 256, 256), 127.5, 127.5), shape: [1, 256, 256, 3] });
      const face = signals.faces[0];
      if (!face) {
        onSkip(path, 'no face found');
        continue;
      }
      const box = face.detection.box;
      add('fr_landmark', preprocessLandmarks(frame, box).tensor);
      add('fr_eye', preprocessEye(frame, eyeBox(face.landmarks, IBUG.rightEye)));
      add('fr_eye', preprocessEye(frame, eyeBox(face.landmarks, IBUG.leftEye)));
      add('fr_liveness', preprocessPad(frame, box));
      add('fr_feature', preprocessEmbedding(frame, face.keypoints));
      add('antispoof', preprocessHumanAntispoof(frame, box));
      const sq = (scale: number) => scaledInside(squareAround(box, scale), 1, frame.width, frame.height);
      add('facemesh', { data: toInterleaved(cropResize(frame, sq(1.5), 192, 192), 0, 255), shape: [1, 192, 192, 3] });
      add('faceres', { data: toInterleaved(cropResize(frame, sq(1.2), 224, 224), 0, 255), shape: [1, 224, 224, 3] });
    }
  } finally {
    await engine.stop();
  }
  return sets;
}
