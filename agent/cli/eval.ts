import { join } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { reportError } from './exit.js';
import { KioskError } from '../errors.js';
import type { EvalDeps } from '../eval/deps.js';
import type { EngineInfo } from '../../models/engine.js';
import { MODEL_VARIANTS, type ModelVariant } from '../../models/variants.js';

interface CommonOptions {
  root: string;
  json?: boolean;
  variant?: ModelVariant;
}

const VARIANT_HELP = 'model weights: float (the originals), fp16 or int8 (derived by `npm run quantize`); default: the engine\'s default (fp16)';

function variantArg(value: string): ModelVariant {
  if (!(MODEL_VARIANTS as readonly string[]).includes(value)) throw new InvalidArgumentError(`--variant must be one of ${MODEL_VARIANTS.join(', ')}`);
  return value as ModelVariant;
}

function floatArg(name: string, min: number, max: number) {
  return (value: string): number => {
    const v = Number(value);
    if (value.trim() === '' || !Number.isFinite(v) || v < min || v > max) {
      throw new InvalidArgumentError(`${name} must be a number from ${min} to ${max}`);
    }
    return v;
  };
}

function intArg(name: string, min: number) {
  return (value: string): number => {
    const v = Number(value);
    if (!Number.isInteger(v) || v < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}`);
    return v;
  };
}

/** JSON output: ±Infinity (a "flag nothing" threshold) is written as the strings "Infinity"/"-Infinity". */
function toJson(doc: unknown): string {
  return JSON.stringify(doc, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) && !Number.isNaN(v) ? String(v) : v), 2);
}

/**
 * Starts the real engine and decoders (loaded only when an eval runs, so that other commands
 * do not pay for ONNX Runtime and sharp), runs `fn`, and always stops the engine.
 */
async function withEngine<T>(opts: CommonOptions & { maxWidth?: number }, fn: (deps: EvalDeps) => Promise<T>): Promise<{ report: T; engine: EngineInfo }> {
  const { createLogger } = await import('../log.js');
  const logger = createLogger({ level: process.env.KIOSK_LOG_LEVEL ?? 'warn' }).child({ component: 'eval' });
  const [{ createFaceEngine }, { decodeImageFile }, { readVideoFrames }] = await Promise.all([
    import('../../models/face-engine.js'),
    import('../media/image.js'),
    import('../media/video.js'),
  ]);
  const engine = createFaceEngine({ logger, options: opts.variant ? { variant: opts.variant } : {} });
  const progress = !opts.json && process.stderr.isTTY;
  const deps: EvalDeps = {
    engine,
    loadImage: (p) => decodeImageFile(join(opts.root, p)),
    frames: (p) => readVideoFrames(join(opts.root, p), { maxWidth: opts.maxWidth }),
    onProgress: progress
      ? (done, total, file) => process.stderr.write(`\r\x1b[K${done}/${total} ${file}${done === total ? '\n' : ''}`)
      : undefined,
  };
  await engine.start();
  try {
    return { report: await fn(deps), engine: engine.info() };
  } finally {
    await engine.stop();
  }
}

function print(opts: CommonOptions, command: string, labels: string, result: { report: object; engine: EngineInfo }, text: string): void {
  if (opts.json) {
    process.stdout.write(`${toJson({ command, labels, root: opts.root, engine: result.engine, ...result.report })}\n`);
  } else {
    process.stdout.write(`${text}\n`);
  }
}

function addMatch(parent: Command): Command {
  return parent
    .command('match')
    .summary('1:1 matching accuracy on labelled image pairs')
    .description(
      'Embeds the primary face (most confident, then largest) of every distinct image once, scores each pair by cosine similarity, and reports ' +
        'AUC, EER (with its threshold), TAR at FAR 1% and 0.1%, and FNMR/FMR at --threshold, all with counts. ' +
        'TAR at FAR x uses the smallest observed similarity whose FAR on these impostor pairs is <= x; the FAR ' +
        'it achieves is printed beside it. Images without a face are failures to detect (FTD): counted, listed, ' +
        'and their pairs left out of the rates.',
    )
    .requiredOption('--pairs <tsv>', 'pairs file: image_a, image_b, same (1/0), source (e.g. ../shared/data/labels/verify-pairs.tsv)')
    .requiredOption('--root <dir>', 'folder the image paths in the file are relative to (e.g. ../shared/data)')
    .option('--threshold <similarity>', 'also report FNMR and FMR at this cosine similarity (accept when >=)', floatArg('--threshold', -1, 1))
    .option('--source <text>', 'only the pairs whose source column contains this text (choose a threshold on one source, report on another)')
    .option('--variant <name>', VARIANT_HELP, variantArg)
    .option('--json', 'print one JSON document (snake_case keys, counts beside every rate)')
    .action(async (opts: CommonOptions & { pairs: string; threshold?: number; source?: string }) => {
      try {
        const [{ readLabelFile, parseVerifyPairs }, { runMatchEval }, { formatMatchReport }] = await Promise.all([
          import('../eval/labels.js'), import('../eval/run-match.js'), import('../eval/format.js'),
        ]);
        const all = await readLabelFile(opts.pairs, parseVerifyPairs);
        const pairs = opts.source === undefined ? all : all.filter((p) => p.source.includes(opts.source!));
        if (pairs.length === 0) throw new KioskError('E_USAGE', `no pair's source contains "${opts.source}"`, { subject: opts.pairs });
        const result = await withEngine(opts, (deps) => runMatchEval(pairs, deps, { threshold: opts.threshold }));
        print(opts, 'eval match', opts.pairs, result, formatMatchReport(result.report));
      } catch (err) {
        reportError(err, opts.json);
      }
    });
}

function addPad(parent: Command): Command {
  return parent
    .command('pad')
    .summary('presentation-attack detection: APCER per species, BPCER, AUC')
    .description(
      'Scores the primary face (most confident, then largest) of every labelled image with the presentation-attack model (higher = attack). ' +
        'Reports AUC over all images, then splits the SUBJECTS in two disjoint halves (NUAA: the folder under ' +
        'ClientFace/ImposterFace; any other set is one subject): the threshold is chosen on one half as the ' +
        'lowest with BPCER <= --bpcer there, and APCER per species and BPCER (ISO/IEC 30107-3) are reported on ' +
        'the other half; then the other way round, and the two test halves added up.',
    )
    .requiredOption('--labels <tsv>', 'labels file: image, class (bona_fide/attack), species (e.g. ../shared/data/labels/spoof.tsv)')
    .requiredOption('--root <dir>', 'folder the image paths in the file are relative to (e.g. ../shared/data)')
    .option('--bpcer <rate>', 'BPCER allowed on the calibration half when choosing the threshold', floatArg('--bpcer', 0, 1), 0.05)
    .option('--seed <n>', 'shuffle subjects with this seed before halving (default: alternate sorted subjects)', intArg('--seed', 0))
    .option('--variant <name>', VARIANT_HELP, variantArg)
    .option('--json', 'print one JSON document (snake_case keys, counts beside every rate)')
    .action(async (opts: CommonOptions & { labels: string; bpcer: number; seed?: number }) => {
      try {
        const [{ readLabelFile, parseSpoofLabels }, { runPadEval }, { formatPadReport }] = await Promise.all([
          import('../eval/labels.js'), import('../eval/run-pad.js'), import('../eval/format.js'),
        ]);
        const rows = await readLabelFile(opts.labels, parseSpoofLabels);
        const result = await withEngine(opts, (deps) => runPadEval(rows, deps, { bpcerTarget: opts.bpcer, seed: opts.seed }));
        print(opts, 'eval pad', opts.labels, result, formatPadReport(result.report));
      } catch (err) {
        reportError(err, opts.json);
      }
    });
}

function addVideo(parent: Command): Command {
  return parent
    .command('video')
    .summary('eye-closure and head-movement events against labelled frame ranges')
    .description(
      'Runs the face engine on every frame, detects eye closures (EAR below 0.7 x a running median of open ' +
        'frames, hysteresis to 0.85, >= 60 ms) and head movements (yaw >= 15 deg / pitch >= 12 deg from a running ' +
        'neutral, >= 200 ms; frames without a face scored >= 0.9 are gaps, a movement survives gaps up to 1 s), and matches them to the labelled ranges: same kind, overlapping within the ' +
        'tolerance. Label directions yaw_image_right/left are the image\'s; they are mapped to the subject\'s ' +
        'turn_left/turn_right (unmirrored camera). Per video: labelled, detected, matched, missed, false, wrong ' +
        'direction, for eyes and head separately.',
    )
    .requiredOption('--labels <tsv>', 'labels file: video, class, fps, frames, events, label_quality (e.g. ../shared/data/labels/videos.tsv)')
    .requiredOption('--root <dir>', 'folder the video paths in the file are relative to (e.g. ../shared/data)')
    .option('--tolerance <frames>', "match tolerance in frames (default: the row's stated +-N frames, else 5)", intArg('--tolerance', 0))
    .option('--mirrored', 'the videos are mirrored (swaps turn_left/turn_right for the image-side labels)')
    .option('--max-width <px>', 'downscale frames to at most this width before analysis', intArg('--max-width', 64), 640)
    .option('--variant <name>', VARIANT_HELP, variantArg)
    .option('--json', 'print one JSON document (snake_case keys, per video and totals)')
    .action(async (opts: CommonOptions & { labels: string; tolerance?: number; mirrored?: boolean; maxWidth: number }) => {
      try {
        const [{ readLabelFile, parseVideoLabels }, { runVideoEval }, { formatVideoReport }] = await Promise.all([
          import('../eval/labels.js'), import('../eval/run-video.js'), import('../eval/format.js'),
        ]);
        const rows = await readLabelFile(opts.labels, parseVideoLabels);
        const result = await withEngine(opts, (deps) =>
          runVideoEval(rows, deps, { toleranceFrames: opts.tolerance, mirrored: opts.mirrored }));
        print(opts, 'eval video', opts.labels, result, formatVideoReport(result.report));
      } catch (err) {
        reportError(err, opts.json);
      }
    });
}

/**
 * Registers `eval` with its subcommands and returns it, so that later subcommands
 * (e.g. `eval sessions`) can be added with `addCommand`.
 */
export function register(program: Command): Command {
  const evalCmd = program
    .command('eval')
    .description('Measure accuracy on labelled data (never tunes a threshold on the data it reports)');
  addMatch(evalCmd);
  addPad(evalCmd);
  addVideo(evalCmd);
  return evalCmd;
}
