import { join } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { floatArg, intArg, listArg, reportError } from '../../base/cli.js';
import { variantArg } from './args.js';
import { KioskError } from '../../base/errors.js';
import type { EvalDeps } from '../eval/deps.js';
import type { EngineInfo } from '../../models/engine.js';
import type { ModelVariant } from '../../models/variants.js';

interface CommonOptions {
  root: string;
  json?: boolean;
  variant?: ModelVariant;
}

const VARIANT_HELP = "model weights: float (the originals), fp16 or int8 (derived by `npm run quantize`); default: the engine's default (fp16)";

/** Writes an SVG picture made by `make`, atomically enough for a report file. */
async function writePlot(path: string, make: () => Promise<string>): Promise<void> {
  const { writeFile } = await import('node:fs/promises');
  await writeFile(path, await make());
}

function calibrateArg(value: string): { source: string } | { half: 'a' | 'b' } {
  if (value === 'half=a' || value === 'half=b') return { half: value.slice(5) as 'a' | 'b' };
  if (value.startsWith('source=') && value.length > 7) return { source: value.slice(7) };
  throw new InvalidArgumentError('--calibrate must be source=<text>, half=a or half=b');
}

/** JSON output: ±Infinity (a "flag nothing" threshold) is written as the strings "Infinity"/"-Infinity". */
function toJson(doc: unknown): string {
  return JSON.stringify(doc, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) && !Number.isNaN(v) ? String(v) : v), 2);
}

/**
 * Starts the real engine and decoders (loaded only when an eval runs, so that other commands
 * do not pay for ONNX Runtime and sharp), runs `fn`, and always stops the engine.
 */
async function withEngine<T>(
  label: string,
  opts: CommonOptions & { maxWidth?: number; pad?: string[] },
  fn: (deps: EvalDeps) => Promise<T>,
): Promise<{ report: T; engine: EngineInfo }> {
  const [{ createLogger }, { phasedProgress }] = await Promise.all([import('../../base/log.js'), import('../../base/progress.js')]);
  const logger = createLogger({ level: process.env.KIOSK_LOG_LEVEL ?? 'warn' }).child({ component: 'eval' });
  const [{ createFaceEngine, DEFAULT_MODELS }, { decodeImageFile }, { readVideoFrames }] = await Promise.all([
    import('../../models/face-engine.js'),
    import('../../device/media/image.js'),
    import('../../device/media/video.js'),
  ]);
  const engine = createFaceEngine({
    logger,
    options: { ...(opts.variant ? { variant: opts.variant } : {}), ...(opts.pad ? { models: { ...DEFAULT_MODELS, pad: opts.pad } } : {}) },
  });
  await engine.start();
  // A line on stderr when it is a terminal (not in CI): files done, the estimate, the file; stdout, --json included, is untouched.
  const progress = phasedProgress(label);
  const deps: EvalDeps = {
    engine,
    loadImage: (p) => decodeImageFile(join(opts.root, p)),
    frames: (p) => readVideoFrames(join(opts.root, p), { maxWidth: opts.maxWidth }),
    onProgress: (done, total, file) => progress.report(done, total, file),
  };
  try {
    return { report: await fn(deps), engine: engine.info() };
  } finally {
    progress.done();
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
    .option(
      '--threshold <similarity>',
      "operating threshold for FNMR and FMR (accept when >=); default: the session's (models/calibration.ts)",
      floatArg('--threshold', -1, 1),
    )
    .option('--source <text>', 'only the pairs whose source column contains this text')
    .option(
      '--calibrate <how>',
      'choose a threshold (lowest with FMR <= --fmr-target) on some pairs and report it on others: source=<text> (pairs whose source contains text, reported on the rest) or half=a|b (identity halves, reported on the other half)',
      calibrateArg,
    )
    .option('--fmr-target <rate>', 'FMR allowed on the calibration pairs of --calibrate', floatArg('--fmr-target', 0, 1), 0.001)
    .option('--plot <svg>', 'write a picture: DET curve with the operating point, and the similarity distributions')
    .option('--variant <name>', VARIANT_HELP, variantArg)
    .option('--json', 'print one JSON document (snake_case keys, counts beside every rate)')
    .action(
      async (
        opts: CommonOptions & {
          pairs: string;
          threshold?: number;
          source?: string;
          calibrate?: { source: string } | { half: 'a' | 'b' };
          fmrTarget: number;
          plot?: string;
        },
      ) => {
        try {
          const [{ readLabelFile, parseVerifyPairs }, { runMatchEval }, { formatMatchReport }] = await Promise.all([
            import('../eval/labels.js'),
            import('../eval/run-match.js'),
            import('../eval/format.js'),
          ]);
          const all = await readLabelFile(opts.pairs, parseVerifyPairs);
          const pairs = opts.source === undefined ? all : all.filter((p) => p.source.includes(opts.source!));
          if (pairs.length === 0) throw new KioskError('E_USAGE', `no pair's source contains "${opts.source}"`, { subject: opts.pairs });
          const { DEFAULT_SESSION_CONFIG } = await import('../session/config.js');
          const threshold = opts.threshold ?? DEFAULT_SESSION_CONFIG.minMatchSimilarity;
          const result = await withEngine('eval match', opts, (deps) =>
            runMatchEval(pairs, deps, { threshold, calibrate: opts.calibrate, fmrTarget: opts.fmrTarget }),
          );
          if (opts.plot) await writePlot(opts.plot, async () => (await import('../eval/plots.js')).matchPlot(result.report));
          print(opts, 'eval match', opts.pairs, result, formatMatchReport(result.report));
        } catch (err) {
          reportError(err, opts.json);
        }
      },
    );
}

function addPad(parent: Command): Command {
  return parent
    .command('pad')
    .summary('presentation-attack detection at the operating threshold: APCER per species, BPCER, per image and per presentation')
    .description(
      'Scores the primary face (most confident, then largest) of every labelled image with the presentation-attack model(s) ' +
        '(higher = attack; several models are fused, models/pad/fusion.ts), and, with --videos, every labelled recording ' +
        "as a session scores it: the session's gate and stillness rule, then near-frontal frames one per capture interval, " +
        "aggregated with the session's median (a recording that never passes the gate is a failure to acquire, FTA). " +
        'Reports APCER per species and BPCER (ISO/IEC 30107-3) at the operating threshold (--threshold, default the ' +
        "session's: an attack when the score exceeds it), on all images, on each subject half, and per presentation. " +
        'Diagnostics: AUC per model and fused; thresholds fitted on one subject half at BPCER <= --bpcer and reported on ' +
        'the other (NUAA: the folder under ClientFace/ImposterFace is the subject; any other set is one subject).',
    )
    .requiredOption('--labels <tsv>', 'labels file: image, class (bona_fide/attack), species (e.g. ../shared/data/labels/spoof.tsv)')
    .requiredOption('--root <dir>', 'folder the paths in the label files are relative to (e.g. ../shared/data)')
    .option('--videos <tsv>', 'also score these recordings per presentation (videos.tsv format, e.g. ../shared/data/labels/videos.tsv)')
    .option(
      '--threshold <score>',
      "operating threshold (attack when the score exceeds it); default: the session's (models/calibration.ts)",
      floatArg('--threshold', 0, 1),
    )
    .option('--pad <ids>', "presentation-attack models to load, comma-separated (several are fused); default: the engine's", listArg)
    .option('--bpcer <rate>', 'BPCER allowed on the calibration half of the diagnostic folds', floatArg('--bpcer', 0, 1), 0.05)
    .option('--seed <n>', 'shuffle subjects with this seed before halving (default: alternate sorted subjects)', intArg('--seed', 0))
    .option('--max-width <px>', 'downscale video frames to at most this width (default: none, as the session)', intArg('--max-width', 64))
    .option('--plot <svg>', 'write a picture: DET curve of the images with the operating point, and the score distributions')
    .option('--variant <name>', VARIANT_HELP, variantArg)
    .option('--json', 'print one JSON document (snake_case keys, counts beside every rate)')
    .action(
      async (
        opts: CommonOptions & {
          labels: string;
          videos?: string;
          threshold?: number;
          pad?: string[];
          bpcer: number;
          seed?: number;
          maxWidth?: number;
          plot?: string;
        },
      ) => {
        try {
          const [{ readLabelFile, parseSpoofLabels, parseVideoLabels }, { runPadEval }, { formatPadReport }, { resolveSessionConfig }] = await Promise.all([
            import('../eval/labels.js'),
            import('../eval/run-pad.js'),
            import('../eval/format.js'),
            import('../session/config.js'),
          ]);
          const rows = await readLabelFile(opts.labels, parseSpoofLabels);
          const videos = opts.videos ? await readLabelFile(opts.videos, parseVideoLabels) : undefined;
          const config = resolveSessionConfig();
          const threshold = opts.threshold ?? config.maxAttackScore;
          const result = await withEngine('eval pad', { ...opts, pad: opts.pad }, (deps) =>
            runPadEval(rows, deps, { threshold, bpcerTarget: opts.bpcer, seed: opts.seed, videos: videos ? { rows: videos, config } : undefined }),
          );
          if (opts.plot) await writePlot(opts.plot, async () => (await import('../eval/plots.js')).padPlot(result.report));
          print(opts, 'eval pad', opts.labels, result, formatPadReport(result.report));
        } catch (err) {
          reportError(err, opts.json);
        }
      },
    );
}

function addVideo(parent: Command): Command {
  return parent
    .command('video')
    .summary('eye-closure and head-movement events against labelled frame ranges')
    .description(
      "Runs the face engine on every frame and reads head moves and eye closures with the kiosk's own detector and " +
        'session settings (agent/session/gestures.ts): moves from the pose of the first still, frontal frames (the ' +
        "session's quality gate without its camera set-up checks), 20 deg yaw / 15 deg pitch held 2 frames, ended " +
        'when released; closures from the eye-state model, counted when open eyes came before and the head is within ' +
        '20 deg. Events are matched to the labelled ranges: same kind, overlapping within the tolerance. Label ' +
        "directions yaw_image_right/left are the image's; they are mapped to the subject's turn_left/turn_right " +
        '(unmirrored camera). Where label_quality says blinks were not labelled, eye closures are listed, not scored. ' +
        'Per video: labelled, detected, matched, missed, false, wrong direction, for eyes and head separately; every ' +
        'event is listed.',
    )
    .requiredOption('--labels <tsv>', 'labels file: video, class, fps, frames, events, label_quality (e.g. ../shared/data/labels/videos.tsv)')
    .requiredOption('--root <dir>', 'folder the video paths in the file are relative to (e.g. ../shared/data)')
    .option('--tolerance <frames>', "match tolerance in frames (default: the row's stated +-N frames, else 5)", intArg('--tolerance', 0))
    .option('--mirrored', 'the videos are mirrored (swaps turn_left/turn_right for the image-side labels)')
    .option('--max-width <px>', 'downscale frames to at most this width before analysis (default: none, as the session)', intArg('--max-width', 64))
    .option('--variant <name>', VARIANT_HELP, variantArg)
    .option('--json', 'print one JSON document (snake_case keys, per video and totals)')
    .action(async (opts: CommonOptions & { labels: string; tolerance?: number; mirrored?: boolean; maxWidth?: number }) => {
      try {
        const [{ readLabelFile, parseVideoLabels }, { runVideoEval }, { formatVideoReport }] = await Promise.all([
          import('../eval/labels.js'),
          import('../eval/run-video.js'),
          import('../eval/format.js'),
        ]);
        const rows = await readLabelFile(opts.labels, parseVideoLabels);
        const result = await withEngine('eval video', opts, (deps) => runVideoEval(rows, deps, { toleranceFrames: opts.tolerance, mirrored: opts.mirrored }));
        print(opts, 'eval video', opts.labels, result, formatVideoReport(result.report));
      } catch (err) {
        reportError(err, opts.json);
      }
    });
}

function addMrz(parent: Command): Command {
  return parent
    .command('mrz')
    .summary('MRZ read from document images: found, check digits, fields, PassportEye score, time')
    .description(
      'Reads the MRZ of every image (device/document/mrz-ocr.ts: band by morphology, Debian tesseract, repairs only where ' +
        'check digits confirm them) and reports per image and in total, with counts: MRZ found, every check digit valid, the ' +
        "access key's three checks valid, fields right against PassportEye's test expectations or --labels, PassportEye's " +
        'expected valid_score (file name prefix) beside ours, and the median wall time per image.',
    )
    .requiredOption('--root <dir>', 'data folder (e.g. ../shared/data); without --labels every image under <root>/passporteye-specimens is read')
    .option('--labels <tsv>', 'expected MRZ per image: image<TAB>lines joined by | (paths relative to --root); only these images are read')
    .option('--json', 'print one JSON document (snake_case keys, counts beside every share)')
    .action(async (opts: { root: string; labels?: string; json?: boolean }) => {
      try {
        const [{ readFile, readdir }, { runMrzEval, readMrzLabels, formatMrzReport }, { readMrzFromImage }, { phasedProgress }] = await Promise.all([
          import('node:fs/promises'),
          import('../eval/run-mrz.js'),
          import('../../device/document/mrz-ocr.js'),
          import('../../base/progress.js'),
        ]);
        const labels = opts.labels ? await readMrzLabels(opts.labels) : [];
        let images = labels.map((l) => l.image);
        if (!opts.labels) {
          const dir = join(opts.root, 'passporteye-specimens');
          const entries = await readdir(dir, { recursive: true }).catch((err: unknown) => {
            throw new KioskError('E_INPUT_NOT_FOUND', 'no passporteye-specimens folder under --root', { subject: dir, cause: err });
          });
          images = entries
            .filter((e) => /\.(jpe?g|png)$/i.test(e))
            .map((e) => join('passporteye-specimens', e))
            .sort();
        }
        const progress = phasedProgress('eval mrz');
        const report = await runMrzEval(
          images,
          { read: async (p) => readMrzFromImage(await readFile(join(opts.root, p))), onProgress: (d, t, f) => progress.report(d, t, f) },
          new Map(labels.map((l) => [l.image, l.lines])),
        ).finally(() => progress.done());
        const labelsName = opts.labels ?? 'passporteye file names and tests';
        if (opts.json) process.stdout.write(`${toJson({ command: 'eval mrz', labels: labelsName, root: opts.root, ...report })}\n`);
        else process.stdout.write(`${formatMrzReport(report)}\n`);
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
  const evalCmd = program.command('eval').description('Measure accuracy on labelled data (never tunes a threshold on the data it reports)');
  addMatch(evalCmd);
  addPad(evalCmd);
  addVideo(evalCmd);
  addMrz(evalCmd);
  return evalCmd;
}
