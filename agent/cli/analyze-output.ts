import type { FaceSignals, FrameSignals } from '../../models/types.js';

// Output of `kiosk-agent analyze`: JSON-lines records (snake_case), the readable table (the progress bar is base/progress.ts).

/** One face of one frame in the output (snake_case, rounded; no pixels, no landmarks, no embedding). */
export interface FaceRecord {
  box: { x: number; y: number; width: number; height: number };
  score: number;
  yaw: number;
  pitch: number;
  roll: number;
  eye_openness: { right: number; left: number; open_probability?: number };
  quality: { inter_eye_px: number; face_width_px: number; sharpness: number; brightness: number; contrast: number; lower_face_skin?: number | null };
}

export interface FrameRecord {
  file: string;
  frame: number;
  time_ms: number;
  width: number;
  height: number;
  faces: FaceRecord[];
  timings_ms: Record<string, number>;
}

export interface ErrorRecord {
  file: string;
  /** Frames of this file analysed (and printed) before the error. */
  frames_read: number;
  error: { code: string; message: string };
}

export interface SummaryRecord {
  summary: {
    files: number;
    files_ok: number;
    files_failed: number;
    /** Files in the given directories that are neither images nor videos (not analysed). */
    files_skipped: number;
    frames: number;
    frames_with_faces: number;
    faces: number;
    exit_code: number;
  };
}

const r = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;

/** The output record of one face. */
export function faceRecord(f: FaceSignals): FaceRecord {
  const b = f.detection.box;
  const q = f.quality;
  return {
    box: { x: r(b.x, 1), y: r(b.y, 1), width: r(b.width, 1), height: r(b.height, 1) },
    score: r(f.detection.score, 4),
    yaw: r(f.pose.yaw, 1),
    pitch: r(f.pose.pitch, 1),
    roll: r(f.pose.roll, 1),
    eye_openness: {
      right: r(f.eyes.right, 3),
      left: r(f.eyes.left, 3),
      ...(f.eyes.openProbability !== undefined ? { open_probability: r(f.eyes.openProbability, 3) } : {}),
    },
    quality: {
      inter_eye_px: r(q.interEyePx, 1),
      face_width_px: r(q.faceWidthPx, 1),
      sharpness: r(q.sharpness, 1),
      brightness: r(q.brightness, 1),
      contrast: r(q.contrast, 1),
      ...(q.lowerFaceSkin !== undefined ? { lower_face_skin: q.lowerFaceSkin === null ? null : r(q.lowerFaceSkin, 3) } : {}),
    },
  };
}

/** The output record of one analysed frame. */
export function frameRecord(file: string, index: number, timeMs: number, s: FrameSignals): FrameRecord {
  const timings = Object.fromEntries(Object.entries(s.timings).map(([k, v]) => [k, r(v, 2)]));
  return { file, frame: index, time_ms: r(timeMs, 1), width: s.width, height: s.height, faces: s.faces.map(faceRecord), timings_ms: timings };
}

const COLUMNS: Array<[string, number]> = [
  ['file', 28],
  ['frame', 6],
  ['time_ms', 9],
  ['face', 5],
  ['score', 6],
  ['box x,y wxh', 22],
  ['yaw', 7],
  ['pitch', 7],
  ['roll', 7],
  ['eye_r', 6],
  ['eye_l', 6],
  ['iod_px', 7],
  ['sharp', 8],
  ['bright', 6],
];

function row(cells: string[]): string {
  return (
    cells
      .map((c, i) => (i === 0 ? c.padEnd(COLUMNS[i][1]) : c.padStart(COLUMNS[i][1])))
      .join(' ')
      .trimEnd() + '\n'
  );
}

function shortName(file: string, width: number): string {
  return file.length <= width ? file : `…${file.slice(file.length - width + 1)}`;
}

/** Table rows for one frame: one per face, or one with `-` when there is none. */
export function tableRows(rec: FrameRecord): string {
  const head = [shortName(rec.file, COLUMNS[0][1]), String(rec.frame), rec.time_ms.toFixed(1)];
  if (rec.faces.length === 0) return row([...head, '-']);
  return rec.faces
    .map((f, i) =>
      row([
        ...head,
        String(i),
        f.score.toFixed(3),
        `${f.box.x.toFixed(0)},${f.box.y.toFixed(0)} ${f.box.width.toFixed(0)}x${f.box.height.toFixed(0)}`,
        f.yaw.toFixed(1),
        f.pitch.toFixed(1),
        f.roll.toFixed(1),
        f.eye_openness.right.toFixed(3),
        f.eye_openness.left.toFixed(3),
        f.quality.inter_eye_px.toFixed(1),
        f.quality.sharpness.toFixed(1),
        f.quality.brightness.toFixed(0),
      ]),
    )
    .join('');
}

/** The table's header line. */
export function tableHeader(): string {
  return row(COLUMNS.map(([name]) => name));
}
