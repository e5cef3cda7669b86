/**
 * One verification session on files, as the `verify` and `eval sessions` commands run it: the
 * reference from an ID image (or a video frame, `clip.mp4#frame=N`), the "camera" from a video, a
 * directory of frames, or a still image looped for `stillSeconds` (a photo held up to the camera).
 */
import type { FaceEngine } from '../../models/engine.js';
import type { RgbImage } from '../../base/rgb-image.js';
import { KioskError } from '../../base/errors.js';
import { DEFAULT_FPS } from '../../device/media/video.js';
import { openMediaFile } from '../../device/media/media-file.js';
import { buildReference, type ReferenceOptions, type ReferencePortrait, type ReferenceSummary } from '../reference/portrait.js';
import { isStill, loadStill } from '../reference/source.js';
import type { AbuseLimiter } from './abuse-limiter.js';
import type { SessionConfig } from './config.js';
import { derivePlan, planFromSteps } from '../../protocol/plan.js';
import { PAGE_REFERENCE, type ReferenceClaims } from '../../protocol/reference.js';
import { loopStill, paceFrames } from './replay.js';
import { runSession, type RunnerFrame } from './runner.js';
import type { ChallengePlan, SessionEffect, SessionResult } from './types.js';

export interface VerifyInput {
  /** Reference: an image file, or `video#frame=N`. */
  id: string;
  /** Camera: a video, a directory of frames, an image or `video#frame=N` (looped). */
  video: string;
  /** Exactly one of `nonce` (carrier hex nonce) and `challenge` (comma-separated step kinds). */
  nonce?: string;
  challenge?: string;
}

export interface VerifyOptions {
  /** As fast as the engine goes, every frame (default false: at the recording's frame rate, dropping frames when behind). */
  fast?: boolean;
  /** Downscale camera frames wider than this before analysis (the reference is never downscaled). */
  maxWidth?: number;
  /** How long a still is shown to the camera, s. Default 10. */
  stillSeconds?: number;
  config?: Partial<SessionConfig>;
  reference?: Partial<ReferenceOptions>;
  abuse?: AbuseLimiter;
  onEffect?: (effect: SessionEffect) => void;
  /** Called with every camera frame before the runner takes it (a progress line, the screen's preview); must not keep `image`. */
  onFrame?: (index: number, timeMs: number, image: RgbImage) => void;
  signal?: AbortSignal;
  /** A reference the caller built from `input.id` and owns (not zeroed here); default: built and zeroed here. */
  portrait?: ReferencePortrait;
  /** Camera frames the caller already has for `input.video` (a suite replaying one recording to several cases); default: decoded here. */
  camera?: AsyncIterable<RunnerFrame>;
  /** Where `portrait` came from (a chip read); default: a photo of the page (`input.id`). */
  referenceClaims?: ReferenceClaims;
}

export interface VerifyOutcome {
  /** Measurements of the reference portrait (no template). */
  reference: ReferenceSummary;
  /** Where the reference came from, as a signed result would say it. */
  referenceSource: ReferenceClaims;
  result: SessionResult;
}

/** The plan of `--nonce` or `--challenge` (exactly one). */
export function planOf(input: Pick<VerifyInput, 'nonce' | 'challenge'>): ChallengePlan {
  if ((input.nonce === undefined) === (input.challenge === undefined)) {
    throw new KioskError('E_USAGE', 'give exactly one of --nonce <hex> and --challenge <steps>', { subject: 'challenge' });
  }
  return input.nonce !== undefined ? derivePlan(input.nonce) : planFromSteps(input.challenge!);
}

/** Loads the reference template; the caller must drop it (it is never returned by `verifyFiles`). */
export async function loadReference(
  engine: Pick<FaceEngine, 'analyze' | 'decide'>,
  spec: string,
  options: Partial<ReferenceOptions> = {},
): Promise<ReferencePortrait> {
  return buildReference(engine, await loadStill(spec), { ...options, subject: spec });
}

/** The camera frames of `spec`. */
export async function cameraFrames(spec: string, opts: Pick<VerifyOptions, 'maxWidth' | 'stillSeconds' | 'signal'>): Promise<AsyncIterable<RunnerFrame>> {
  if (await isStill(spec)) {
    return loopStill(await loadStill(spec, { maxWidth: opts.maxWidth }), { fps: DEFAULT_FPS, durationMs: (opts.stillSeconds ?? 10) * 1000 });
  }
  const source = await openMediaFile(spec);
  return source.frames({ maxWidth: opts.maxWidth, signal: opts.signal });
}

/** Runs one session. `engine` must be started. */
export async function verifyFiles(
  engine: Pick<FaceEngine, 'analyze' | 'decide' | 'info'>,
  input: VerifyInput,
  options: VerifyOptions = {},
): Promise<VerifyOutcome> {
  const plan = planOf(input);
  const ref = options.portrait ?? (await loadReference(engine, input.id, options.reference));
  const raw = options.camera ?? (await cameraFrames(input.video, options));
  const counted = onEach(raw, options.onFrame);
  const frames = options.fast ? counted : paceFrames(counted, { signal: options.signal });
  const result = await runSession(
    { engine, frames, reference: ref.template, referenceId: ref.templateId, abuse: options.abuse, onEffect: options.onEffect, signal: options.signal },
    { plan, config: options.config, delivery: options.fast ? 'every' : 'latest' },
  );
  if (!options.portrait) ref.template.fill(0);
  return { reference: ref.summary, referenceSource: options.referenceClaims ?? PAGE_REFERENCE, result };
}

async function* onEach(frames: AsyncIterable<RunnerFrame>, fn?: (index: number, timeMs: number, image: RgbImage) => void): AsyncGenerator<RunnerFrame> {
  for await (const f of frames) {
    fn?.(f.index, f.timeMs, f.image);
    yield f;
  }
}
