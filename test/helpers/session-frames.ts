/**
 * Synthetic frame signals for the session machine: a rough 3-D head of 68 iBUG landmarks
 * (millimetres; x to the image's right, y down, z toward the camera) posed and projected through
 * a pinhole camera, wrapped in the engine's `FrameSignals`. No pixels anywhere.
 */
import type { FaceSignals, FrameSignals, Point } from '../../models/types.js';
import { step } from '../../agent/session/machine.js';
import type {
  CaptureEffect,
  FrameEvent,
  MoveKind,
  PromptId,
  SessionEffect,
  SessionEvent,
  SessionResult,
  StepKind,
  TickEvent,
} from '../../agent/session/types.js';
import type { SessionState } from '../../agent/session/state.js';

export interface Point3 {
  x: number;
  y: number;
  z: number;
}

/** A rough 68-point head: nose out (z > 0), jaw line and ears back, eyes 64 mm apart. */
export function headModel68(): Point3[] {
  const p: Point3[] = [];
  for (let i = 0; i <= 16; i++) {
    const phi = (Math.PI * i) / 16;
    p.push({ x: -72 * Math.cos(phi), y: 5 + 105 * Math.sin(phi), z: -75 + 65 * Math.sin(phi) });
  }
  for (const side of [-1, 1]) {
    for (let j = 0; j < 5; j++) {
      const x = side === -1 ? -58 + 11 * j : 14 + 11 * j;
      p.push({ x, y: -22 - 6 * Math.sin((Math.PI * j) / 4), z: -8 + 8 * Math.sin((Math.PI * j) / 4) });
    }
  }
  for (const [y, z] of [
    [0, 8],
    [14, 16],
    [28, 24],
    [42, 34],
  ])
    p.push({ x: 0, y, z });
  for (const [x, y, z] of [
    [-16, 50, 14],
    [-8, 52, 19],
    [0, 54, 22],
    [8, 52, 19],
    [16, 50, 14],
  ])
    p.push({ x, y, z });
  const eye = (xs: number[], ys: number[], zs: number[]) => xs.forEach((x, k) => p.push({ x, y: ys[k], z: zs[k] }));
  eye([-46, -37, -27, -18, -27, -37], [0, -5, -5, 0, 5, 5], [-10, -3, -2, -4, -2, -3]);
  eye([18, 27, 37, 46, 37, 27], [0, -5, -5, 0, 5, 5], [-4, -2, -3, -10, -3, -2]);
  const mouthOuter: [number, number, number][] = [
    [-26, 78, -2],
    [-17, 72, 5],
    [-7, 69, 9],
    [0, 70, 10],
    [7, 69, 9],
    [17, 72, 5],
    [26, 78, -2],
    [17, 85, 5],
    [7, 88, 8],
    [0, 89, 9],
    [-7, 88, 8],
    [-17, 85, 5],
  ];
  const mouthInner: [number, number, number][] = [
    [-20, 78, 2],
    [-8, 76, 7],
    [0, 76, 8],
    [8, 76, 7],
    [20, 78, 2],
    [8, 80, 7],
    [0, 80, 8],
    [-8, 80, 7],
  ];
  for (const [x, y, z] of [...mouthOuter, ...mouthInner]) p.push({ x, y, z });
  return p;
}

export interface Camera {
  f: number;
  cx: number;
  cy: number;
  distance: number;
}

export const CAMERA: Camera = { f: 900, cx: 320, cy: 240, distance: 600 };

/** The pivot heads turn about (roughly the neck), mm. */
const PIVOT: Point3 = { x: 0, y: 30, z: -90 };

/**
 * Rotates points by the subject-centred pose of `HeadPose` (yaw > 0 = own left = nose to the image's
 * right; pitch > 0 = up; roll > 0 = toward the own left shoulder), degrees, about `pivot`.
 */
export function rotate(points: readonly Point3[], yawDeg: number, pitchDeg: number, rollDeg = 0, pivot: Point3 = PIVOT): Point3[] {
  const [a, b, c] = [yawDeg, pitchDeg, rollDeg].map((d) => (d * Math.PI) / 180);
  return points.map((q) => {
    let x = q.x - pivot.x;
    let y = q.y - pivot.y;
    let z = q.z - pivot.z;
    [y, z] = [y * Math.cos(b) - z * Math.sin(b), y * Math.sin(b) + z * Math.cos(b)];
    [x, z] = [x * Math.cos(a) + z * Math.sin(a), -x * Math.sin(a) + z * Math.cos(a)];
    [x, y] = [x * Math.cos(c) + y * Math.sin(c), -x * Math.sin(c) + y * Math.cos(c)];
    return { x: x + pivot.x, y: y + pivot.y, z: z + pivot.z };
  });
}

/** Pinhole projection; the model origin sits `distance` mm in front of the camera. */
export function project(points: readonly Point3[], cam: Camera = CAMERA, shift: Point = { x: 0, y: 0 }): Point[] {
  return points.map((q) => {
    const depth = cam.distance - q.z;
    return { x: cam.cx + shift.x + (cam.f * q.x) / depth, y: cam.cy + shift.y + (cam.f * q.y) / depth };
  });
}

/** A printed photo of the frontal head: its frontal image points laid on the plane z = 0. */
export function flatPhotoModel(cam: Camera = CAMERA): Point3[] {
  return project(headModel68(), cam).map((p) => ({ x: ((p.x - cam.cx) * cam.distance) / cam.f, y: ((p.y - cam.cy) * cam.distance) / cam.f, z: 0 }));
}

export interface FaceOpts {
  yaw?: number;
  pitch?: number;
  roll?: number;
  /** Eye aspect ratio of both eyes. */
  ear?: number;
  /** Overrides the inter-ocular distance measured from the landmarks. */
  interEyePx?: number;
  brightness?: number;
  sharpness?: number;
  faceWidthPx?: number;
  /** Skin colour of the lower face relative to the nose bridge (about 0 behind a mask). */
  lowerFaceSkin?: number | null;
  /** A flat photo instead of a head: landmarks move like a plane. */
  flat?: boolean;
  /** Image offset of the face, px. */
  shift?: Point;
}

/** One face's signals at a pose. */
export function faceSignals(o: FaceOpts = {}): FaceSignals {
  const { yaw = 0, pitch = 0, roll = 0, ear = 0.3 } = o;
  const model = o.flat ? flatPhotoModel() : headModel68();
  const landmarks = project(rotate(model, yaw, pitch, roll, o.flat ? { x: 0, y: 0, z: 0 } : PIVOT), CAMERA, o.shift);
  const mean = (from: number) => ({
    x: landmarks.slice(from, from + 6).reduce((s, q) => s + q.x, 0) / 6,
    y: landmarks.slice(from, from + 6).reduce((s, q) => s + q.y, 0) / 6,
  });
  const eyeRight = mean(36);
  const eyeLeft = mean(42);
  const xs = landmarks.map((q) => q.x);
  const ys = landmarks.map((q) => q.y);
  const box = { x: Math.min(...xs), y: Math.min(...ys), width: Math.max(...xs) - Math.min(...xs), height: Math.max(...ys) - Math.min(...ys) };
  return {
    detection: { box, score: 0.99 },
    landmarks,
    keypoints: { eyeRight, eyeLeft, nose: landmarks[30], mouthRight: landmarks[48], mouthLeft: landmarks[54] },
    eyes: { right: ear, left: ear },
    pose: { yaw, pitch, roll },
    quality: {
      interEyePx: o.interEyePx ?? Math.hypot(eyeLeft.x - eyeRight.x, eyeLeft.y - eyeRight.y),
      faceWidthPx: o.faceWidthPx ?? box.width,
      sharpness: o.sharpness ?? 80,
      brightness: o.brightness ?? 120,
      contrast: 40,
      ...(o.lowerFaceSkin !== undefined ? { lowerFaceSkin: o.lowerFaceSkin } : {}),
    },
  };
}

const FRAME_MS = 1000 / 30;

/** Frame index of a time at 30 fps. */
export function indexAt(t: number): number {
  return Math.round(t / FRAME_MS);
}

export function frameOf(t: number, faces: FaceSignals[], index = indexAt(t)): FrameEvent {
  const signals: FrameSignals = { width: 640, height: 480, faces, timings: {} };
  return { type: 'frame', tMs: t, index, signals };
}

export const frontal = (t: number, o: FaceOpts = {}): FrameEvent => frameOf(t, [faceSignals(o)]);
/** Yaw > 0: the subject's own left. */
export const turned = (t: number, yaw: number, o: FaceOpts = {}): FrameEvent => frameOf(t, [faceSignals({ ...o, yaw })]);
/** Pitch > 0: up. */
export const pitched = (t: number, pitch: number, o: FaceOpts = {}): FrameEvent => frameOf(t, [faceSignals({ ...o, pitch })]);
export const eyesClosed = (t: number, o: FaceOpts = {}): FrameEvent => frameOf(t, [faceSignals({ ...o, ear: 0.08 })]);
export const twoFaces = (t: number, o: FaceOpts = {}): FrameEvent => frameOf(t, [faceSignals(o), faceSignals({ ...o, shift: { x: 150, y: 0 } })]);
export const noFace = (t: number): FrameEvent => frameOf(t, []);
export const tick = (t: number): TickEvent => ({ type: 'tick', tMs: t });

/** Frames at 30 fps over [from, to), one per frame time, built by `make`. */
export function during(from: number, to: number, make: (t: number) => SessionEvent): SessionEvent[] {
  const out: SessionEvent[] = [];
  for (let i = Math.ceil(from / FRAME_MS - 1e-9); i * FRAME_MS < to - 1e-9; i++) out.push(make(Math.round(i * FRAME_MS)));
  return out;
}

const MOVE_POSE: Record<MoveKind, (deg: number) => FaceOpts> = {
  turn_left: (d) => ({ yaw: d }),
  turn_right: (d) => ({ yaw: -d }),
  look_up: (d) => ({ pitch: d }),
  look_down: (d) => ({ pitch: -d }),
};

/** Builds a customer's performance frame by frame at 30 fps, keeping the time. */
export class Script {
  readonly events: SessionEvent[] = [];
  constructor(
    public t = 0,
    public face: FaceOpts = {},
  ) {}

  add(ms: number, make: (t: number) => SessionEvent): this {
    this.events.push(...during(this.t, this.t + ms, make));
    this.t += ms;
    return this;
  }
  frontal(ms: number, o: FaceOpts = {}): this {
    return this.add(ms, (t) => frontal(t, { ...this.face, ...o }));
  }
  blink(closedMs = 100): this {
    return this.frontal(150)
      .add(closedMs, (t) => eyesClosed(t, this.face))
      .frontal(150);
  }
  /** Ramps to `peak` degrees in the move's direction, holds, comes back to neutral. */
  move(kind: MoveKind, peak = 30, o: FaceOpts = {}): this {
    const ramp = 300;
    const pose = (t0: number, from: number, to: number) => (t: number) =>
      frameOf(t, [faceSignals({ ...this.face, ...o, ...MOVE_POSE[kind](from + ((to - from) * (t - t0)) / ramp) })]);
    this.add(ramp, pose(this.t, 0, peak));
    this.add(200, (t) => frameOf(t, [faceSignals({ ...this.face, ...o, ...MOVE_POSE[kind](peak) })]));
    this.add(ramp, pose(this.t, peak, 0));
    return this.frontal(100, o);
  }
  perform(kind: StepKind, o: FaceOpts = {}): this {
    return kind === 'blink' ? this.blink() : this.move(kind, 30, o);
  }
  /** Appends an arbitrary event at the current time. */
  push(make: (t: number) => SessionEvent): this {
    this.events.push(make(this.t));
    return this;
  }
}

/** The runner's answer to one capture; `fail` sends `decision_failed`, `none` never answers. */
export type Answer = { attackScore: number; referenceSimilarity: number; anchorSimilarity: number } | 'fail' | 'none';

export interface DriveOptions {
  /** Answers captures immediately (same time). Default: live, matching, same person. */
  answer?: (capture: CaptureEffect, t: number) => Answer;
}

export const GENUINE: Answer = { attackScore: 0.1, referenceSimilarity: 0.7, anchorSimilarity: 0.85 };

export interface DriveResult {
  state: SessionState;
  effects: SessionEffect[];
  prompts: PromptId[];
  captures: CaptureEffect[];
  result: SessionResult | null;
}

/** Feeds `events` to the machine, answering its captures like a runner would. */
export function drive(state: SessionState, events: readonly SessionEvent[], options: DriveOptions = {}): DriveResult {
  const answer = options.answer ?? (() => GENUINE);
  const effects: SessionEffect[] = [];
  let s = state;
  const feed = (e: SessionEvent) => {
    const out = step(s, e);
    s = out.state;
    effects.push(...out.effects);
    for (const eff of out.effects) {
      if (eff.type !== 'capture_for_decision') continue;
      const a = answer(eff, e.tMs);
      if (a === 'none') continue;
      if (a === 'fail') feed({ type: 'decision_failed', tMs: e.tMs, frameIndex: eff.frameIndex });
      else feed({ type: 'decision', tMs: e.tMs, frameIndex: eff.frameIndex, ...a, anchorSimilarity: eff.purpose === 'anchor' ? null : a.anchorSimilarity });
    }
  };
  for (const e of events) feed(e);
  const done = effects.find((e) => e.type === 'done');
  return {
    state: s,
    effects,
    prompts: effects.flatMap((e) => (e.type === 'prompt' ? [e.id] : [])),
    captures: effects.flatMap((e) => (e.type === 'capture_for_decision' ? [e] : [])),
    result: done && done.type === 'done' ? done.result : null,
  };
}

/** A customer doing `kinds` in order: 300 ms frontal, each step, 600 ms frontal. */
export function performance(kinds: readonly StepKind[], o: FaceOpts = {}): Script {
  const s = new Script(0, o).frontal(300);
  for (const k of kinds) s.perform(k);
  return s.frontal(600);
}

/** Recursively true when a JSON value holds an array of more than `max` numbers. */
export function hasNumericArray(value: unknown, max = 3): boolean {
  if (Array.isArray(value)) return (value.length > max && value.every((x) => typeof x === 'number')) || value.some((x) => hasNumericArray(x, max));
  if (value && typeof value === 'object') return Object.values(value).some((x) => hasNumericArray(x, max));
  return false;
}
