import { once } from 'node:events';
import { basename } from 'node:path';
import type { Writable } from 'node:stream';
import { InvalidArgumentError, type Command } from 'commander';
import { KioskError, toKioskError } from '../../base/errors.js';
import type { FrameReadOptions, MediaFile } from '../../device/media/media-file.js';
import type { FaceEngine } from '../../models/engine.js';
import { EXIT } from '../../base/cli.js';
import { createProgress, formatDuration, progressEnabled, type Progress, type ProgressState } from '../../base/progress.js';
import { frameRecord, tableHeader, tableRows, type ErrorRecord, type SummaryRecord } from './analyze-output.js';

export { faceRecord, frameRecord, tableRows, type ErrorRecord, type FaceRecord, type FrameRecord, type SummaryRecord } from './analyze-output.js';

/** Options of `kiosk-agent analyze`. */
export interface AnalyzeOptions {
  /** JSON lines on stdout instead of a table. */
  json?: boolean;
  /** At most this many frames per input file (videos); default all. */
  maxFrames?: number;
  /** Resample videos to this many frames per second; default every frame. */
  fps?: number;
  /** Downscale frames wider than this many pixels before analysis; default none. */
  maxWidth?: number;
  /** Pixel limit per still image (decompression bombs); default `DEFAULT_MAX_PIXELS` (40 MP). */
  maxPixels?: number;
  /** Draw a progress bar on `err`; default: when `err` is a TTY and the output is a table (the command also asks that CI is not set). */
  progress?: boolean;
}

export interface AnalyzeDeps {
  /** Not started yet: `runAnalyze` starts it and stops it at the end. */
  engine: FaceEngine;
  out: Writable;
  err: Writable;
  /** Opens one input file; default `openMediaFile`. */
  openSource?: (path: string) => Promise<MediaFile>;
}

/** The reader of our output went away (`analyze ... | head`): stop quietly, it is nobody's error. */
class OutputClosed extends Error {}

/** Writes with backpressure; a closed or failed stream (EPIPE) becomes `OutputClosed`. */
async function write(stream: Writable, text: string): Promise<void> {
  if (stream.destroyed || stream.writableEnded || stream.errored) throw new OutputClosed();
  try {
    if (!stream.write(text)) await once(stream, 'drain');
  } catch {
    throw new OutputClosed();
  }
}

interface Input {
  file: string;
  error?: KioskError;
}

/** Expands directories into their image and video files; a path that cannot be read becomes an error entry. */
async function expandInputs(paths: string[]): Promise<{ inputs: Input[]; skipped: number }> {
  const [{ statInput }, { listMediaFiles }] = await Promise.all([import('../../device/media/input-file.js'), import('../../device/media/media-file.js')]);
  const inputs: Input[] = [];
  let skipped = 0;
  for (const path of paths) {
    try {
      if (!(await statInput(path)).isDirectory()) {
        inputs.push({ file: path });
        continue;
      }
      const listed = await listMediaFiles(path, 'media');
      skipped += listed.skipped.length;
      if (listed.files.length === 0) throw new KioskError('E_INPUT_EMPTY', 'directory holds no image or video files', { subject: path });
      inputs.push(...listed.files.map((file) => ({ file })));
    } catch (err) {
      inputs.push({ file: path, error: toKioskError(err, 'E_INPUT_UNREADABLE', path) });
    }
  }
  return { inputs, skipped };
}

/**
 * Runs the face engine over images, videos and directories and prints per-frame signals. A file that
 * fails (unreadable, corrupt, truncated, no face in any frame) gets an error line and the batch goes
 * on. Returns the exit code: 2 if any file failed or the engine did not start, else 0.
 */
export async function runAnalyze(paths: string[], options: AnalyzeOptions, deps: AnalyzeDeps): Promise<number> {
  const { engine, out, err } = deps;
  const json = options.json ?? false;
  const open = deps.openSource ?? (async (p: string) => (await import('../../device/media/media-file.js')).openMediaFile(p));
  const showProgress = options.progress ?? (!json && (err as { isTTY?: boolean }).isTTY === true);
  let bar: Progress | undefined;
  const readOpts: FrameReadOptions = { fps: options.fps, maxWidth: options.maxWidth, maxPixels: options.maxPixels };
  const totals = { files_ok: 0, files_failed: 0, frames: 0, frames_with_faces: 0, faces: 0 };

  // The bar is erased before anything else reaches the terminal it is drawn on (stderr, or stdout when that is a terminal too).
  const outIsTTY = (out as { isTTY?: boolean }).isTTY === true;
  const emit = async (text: string, stream = out) => {
    if (stream === err || outIsTTY) bar?.clear();
    await write(stream, text);
  };
  const fail = async (file: string, e: KioskError, framesRead: number) => {
    totals.files_failed++;
    const rec: ErrorRecord = { file, frames_read: framesRead, error: { code: e.code, message: e.message } };
    if (json) await emit(`${JSON.stringify(rec)}\n`);
    else await emit(`error ${e.code}: ${e.message}${framesRead > 0 ? ` [after ${framesRead} frames]` : ''}\n`, err);
  };

  // Without a listener an EPIPE on stdout is an uncaught exception; `write` notices the errored stream.
  const ignore = () => {};
  out.on('error', ignore);
  err.on('error', ignore);
  try {
    try {
      await engine.start();
    } catch (e) {
      const ke = toKioskError(e, 'E_MODEL_LOAD');
      if (json) await write(out, `${JSON.stringify({ error: { code: ke.code, message: ke.message } })}\n`);
      else await write(err, `error ${ke.code}: face engine did not start: ${ke.message}\n`);
      return EXIT.error;
    }
    try {
      const { inputs, skipped } = await expandInputs(paths);
      const tty = err as Writable & { isTTY?: boolean; columns?: number };
      const onErr = {
        isTTY: tty.isTTY,
        get columns() {
          return tty.columns;
        },
        write: (text: string) => !err.destroyed && err.write(text),
      };
      bar = createProgress({ total: inputs.length, label: 'analyze', stream: onErr, enabled: showProgress, format: barLine });
      if (!json) await write(out, tableHeader());
      for (const [n, input] of inputs.entries()) {
        if (input.error) {
          await fail(input.file, input.error, 0);
          continue;
        }
        let framesRead = 0;
        let withFace = 0;
        try {
          const source = await open(input.file);
          for await (const frame of source.frames(readOpts)) {
            const signals = await engine.analyze(frame.image);
            const rec = frameRecord(input.file, frame.index, frame.timeMs, signals);
            framesRead++;
            totals.frames++;
            totals.faces += rec.faces.length;
            if (rec.faces.length > 0) withFace++;
            await emit(json ? `${JSON.stringify(rec)}\n` : tableRows(rec));
            const planned = Math.min(source.frameCount ?? Infinity, options.maxFrames ?? Infinity);
            const frac = Number.isFinite(planned) ? framesRead / planned : 0;
            bar.update(n + frac, `${n + 1}/${inputs.length} files, frame ${framesRead} ${basename(input.file)}`);
            if (options.maxFrames !== undefined && framesRead >= options.maxFrames) break; // stops and reaps ffmpeg
          }
          totals.frames_with_faces += withFace;
          if (framesRead > 0 && withFace === 0) {
            const what = framesRead === 1 ? 'the image' : `any of ${framesRead} frames`;
            await fail(input.file, new KioskError('E_NO_FACE', `no face found in ${what}`, { subject: input.file }), framesRead);
          } else {
            totals.files_ok++;
          }
        } catch (e) {
          if (e instanceof OutputClosed) throw e;
          totals.frames_with_faces += withFace;
          await fail(input.file, toKioskError(e, 'E_INTERNAL', input.file), framesRead);
        }
      }
      const code = totals.files_failed > 0 ? EXIT.error : EXIT.ok;
      const summary: SummaryRecord = { summary: { files: inputs.length, ...totals, files_skipped: skipped, exit_code: code } };
      const s = summary.summary;
      await emit(
        json
          ? `${JSON.stringify(summary)}\n`
          : `\n${s.files} files: ${s.files_ok} ok, ${s.files_failed} failed${skipped ? `, ${skipped} skipped (not media)` : ''}; ` +
              `${s.frames} frames, ${s.frames_with_faces} with a face, ${s.faces} faces\n`,
      );
      return code;
    } finally {
      bar?.done();
      await engine.stop();
    }
  } catch (e) {
    if (e instanceof OutputClosed) return totals.files_failed > 0 ? EXIT.error : EXIT.ok;
    throw e;
  } finally {
    out.off('error', ignore);
    err.off('error', ignore);
  }
}

/** `[#########...............] 2/5 files, frame 40 clip.mp4  eta 1 min 05 s`. */
function barLine(s: ProgressState): string {
  const width = 24;
  const filled = s.total > 0 ? Math.max(0, Math.min(width, Math.round((s.done / s.total) * width))) : width;
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${s.detail ?? ''}${s.etaMs === undefined ? '' : `  eta ${formatDuration(s.etaMs)}`}`;
}

function positiveInt(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive integer, got "${v}"`);
    return n;
  };
}

function positiveNumber(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`must be a positive number, got "${v}"`);
  return n;
}

/** Builds the on-device engine; the module is imported only when the command runs, keeping `--help` fast. */
export async function loadOnDeviceEngine(): Promise<FaceEngine> {
  const { createLogger } = await import('../../base/log.js');
  const logger = createLogger({ level: process.env.KIOSK_LOG_LEVEL ?? 'warn' });
  const { createFaceEngine } = await import('../../models/face-engine.js');
  return createFaceEngine({ logger: logger.child({ component: 'face-engine' }) });
}

const HELP_AFTER = `
Inputs:
  image      JPEG, PNG, WebP or TIFF (EXIF orientation applied; at most 40 MP)
  video      anything ffmpeg decodes (mp4, mkv, webm, avi, animated GIF); needs the ffmpeg package
  directory  its image and video files in natural name order; other files are skipped

Output:
  table      one row per face (or "-" when a frame has none), a summary, a progress bar on stderr
             when stderr is a terminal; errors go to stderr
  --json     JSON lines on stdout, snake_case keys:
             {"file","frame","time_ms","width","height","faces":[{"box","score","yaw","pitch","roll",
              "eye_openness":{"right","left","open_probability"},"quality":{"inter_eye_px",
              "face_width_px","sharpness","brightness","contrast","lower_face_skin"}}],"timings_ms"}
             a failed file: {"file","frames_read","error":{"code","message"}}
             last line: {"summary":{"files","files_ok","files_failed","files_skipped","frames",
              "frames_with_faces","faces","exit_code"}}
  Angles are degrees from the subject's point of view (yaw > 0: head turned to their own left).

Errors per file (the batch goes on): E_INPUT_NOT_FOUND, E_INPUT_EMPTY, E_INPUT_UNREADABLE,
  E_IMAGE_CORRUPT, E_IMAGE_TOO_LARGE, E_FORMAT_UNSUPPORTED, E_VIDEO_DECODE (frames decoded before
  the damage are still printed), E_VIDEO_NO_FRAMES, E_DECODER_MISSING, E_NO_FACE (no face in any frame).

Exit status: 0 every file analysed with a face found, 2 any file failed or the engine did not start.

Examples:
  $ kiosk-agent analyze photo.jpg
  $ kiosk-agent analyze clip.mp4 --json --fps 10 --max-frames 100 > signals.jsonl
  $ kiosk-agent analyze ./captures ./more/a.png --json
`;

export interface RegisterDeps {
  /** Builds the engine when the command runs; default `loadOnDeviceEngine`. */
  loadEngine?: () => Promise<FaceEngine>;
  out?: Writable;
  err?: Writable;
}

/** Registers `analyze` on the program; `deps` are for tests (default: the real engine and process streams). */
export function register(program: Command, deps: RegisterDeps = {}): void {
  program
    .command('analyze')
    .summary('per-frame face signals for images, videos and directories')
    .description(
      'Run the on-device face engine over images, videos or directories and print per-frame signals: ' +
        'face boxes and scores, head pose, eye openness and quality. Nothing leaves the device.',
    )
    .argument('<paths...>', 'image files, video files or directories')
    .option('--json', 'JSON lines on stdout (one per frame, one per failed file, a summary last)')
    .option('--max-frames <n>', 'analyse at most n frames of each file (default: all)', positiveInt('--max-frames'))
    .option('--fps <rate>', 'resample videos to this many frames per second (default: every frame)', positiveNumber)
    .option('--max-width <px>', 'downscale frames wider than px pixels before analysis (default: none)', positiveInt('--max-width'))
    .addHelpText('after', HELP_AFTER)
    .action(async (paths: string[], opts: { json?: boolean; maxFrames?: number; fps?: number; maxWidth?: number }) => {
      const out = deps.out ?? process.stdout;
      const err = deps.err ?? process.stderr;
      let engine: FaceEngine;
      try {
        engine = await (deps.loadEngine ?? loadOnDeviceEngine)();
      } catch (e) {
        const ke = toKioskError(e, 'E_MODEL_LOAD');
        if (opts.json) await write(out, `${JSON.stringify({ error: { code: ke.code, message: ke.message } })}\n`);
        else await write(err, `error ${ke.code}: face engine could not be created: ${ke.message}\n`);
        process.exitCode = EXIT.error;
        return;
      }
      process.exitCode = await runAnalyze(paths, { ...opts, progress: !opts.json && progressEnabled(err) }, { engine, out, err });
    });
}
