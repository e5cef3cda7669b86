/**
 * `kiosk-agent verify`: one verification session on a recording, as if it came from the camera.
 * Customer prompts and a progress line go to stderr, the verdict to stdout.
 * Exit code: 0 accept, 1 reject or retry, 2 error.
 */
import type { Command } from 'commander';
import type { PromptId, SessionEffect, SessionResult } from '../session/types.js';
import type { VerifyOutcome } from '../session/verify.js';
import { EXIT, intArg, reportError } from '../../base/cli.js';
import { variantArg } from './args.js';
import { accessKeyOf, documentOptions, numberKeyOf, pcscReaderOf, type DocumentCliOptions } from './document-options.js';
import type { ModelVariant } from '../../models/variants.js';

/** What the development "screen" prints for each prompt (a kiosk's screen owns its own wording). */
export const PROMPT_TEXT: Readonly<Record<PromptId, string>> = {
  look_at_camera: 'Please look at the camera',
  only_one_person: 'Only one person, please',
  move_closer: 'Move closer',
  move_back: 'Move back a little',
  more_light: 'More light, please',
  less_light: 'Too bright: step out of direct light',
  look_straight: 'Look straight at the camera',
  hold_still: 'Hold still',
  open_eyes: 'Open your eyes',
  uncover_face: 'Take off your mask: the whole face must be visible',
  blink: 'Blink',
  turn_left: 'Turn your head to your left',
  turn_right: 'Turn your head to your right',
  look_up: 'Look up',
  look_down: 'Look down',
  please_wait: 'Please wait…',
};

interface VerifyCliOptions extends DocumentCliOptions {
  id?: string;
  document?: string;
  video: string;
  nonce?: string;
  challenge?: string;
  fast?: boolean;
  json?: boolean;
  maxWidth?: number;
  stillSeconds: number;
  variant: ModelVariant;
  screen?: boolean;
  screenPort?: number;
  allowWeakPlan?: boolean;
}

const f2 = (x: number | null | undefined) => (x === null || x === undefined ? '-' : x.toFixed(2));
const f3 = (x: number | null | undefined) => (x === null || x === undefined ? '-' : x.toFixed(3));

/** The verdict as text: verdict, reasons, steps, scores, timings. */
export function formatVerdict(outcome: VerifyOutcome): string {
  const r = outcome.result;
  const s = r.scores;
  const lines = [
    `verdict: ${r.verdict}${r.reasons.length ? ` (${r.reasons.join(', ')})` : ''}${r.cancelReason ? ` cancel=${r.cancelReason}` : ''}`,
    `plan: ${r.plan.steps.map((x) => x.kind).join(', ')} (${r.plan.nonceSource}${r.plan.nonce ? ` nonce ${r.plan.nonce}` : ''})`,
    ...r.steps.map(
      (st) =>
        `  step ${st.kind}: ${st.status}${st.durationMs !== null ? ` in ${(st.durationMs / 1000).toFixed(1)} s` : ''}${st.peakDeg !== null ? `, peak ${st.peakDeg.toFixed(0)} deg` : ''}`,
    ),
    `match: similarity ${f3(s.match.similarity)} over ${s.match.samples} frontal frames (accept >= ${s.match.threshold})`,
    `attack: ${s.attack.method} ${f3(s.attack.aggregate)} over ${s.attack.samples} frames, range ${f2(s.attack.min)}-${f2(s.attack.max)} (reject > ${s.attack.threshold})`,
    `continuity: min similarity ${f3(s.continuity.minSimilarity)}, ${s.continuity.outliers} outliers of ${s.continuity.samples}`,
    `motion: residual ${f3(s.motion.residual)} (${s.motion.steps.map((m) => `${m.kind} ${f3(m.residual)}`).join(', ') || 'no move'}; planar below ${s.motion.planarThreshold})`,
    `reference source: ${referenceLine(outcome.referenceSource)}`,
    `reference: ${outcome.reference.interEyePx} px between the eyes, sharpness ${outcome.reference.sharpness}, ${outcome.reference.facesFound} face(s) found${outcome.reference.ignored.length ? `, ${outcome.reference.ignored.length} ignored (${outcome.reference.ignored.map((g) => g.reason).join(', ')})` : ''}`,
    `timings: ${r.timings.framesSeen} frames analysed, ${r.timings.framesDropped ?? 0} dropped; analyze median ${r.timings.analyzeMs?.median ?? '-'} ms (p95 ${r.timings.analyzeMs?.p95 ?? '-'}); ` +
      (r.timings.lastStepToVerdictMs !== null
        ? `verdict ${r.timings.lastStepToVerdictMs.toFixed(0)} ms of recording time after the frame of the last step, ${r.timings.lastStepToVerdictWallMs ?? '-'} ms of wall time`
        : 'challenge not completed'),
    `models: ${(r.models ?? []).map((m) => `${m.id}@${m.sha256.slice(0, 12)}`).join(' ')}`,
  ];
  return lines.join('\n');
}

function referenceLine(r: VerifyOutcome['referenceSource']): string {
  if (r.source === 'page') return 'photo of the page (not authenticated)';
  return `chip (${r.accessControl ?? '-'}), passive authentication ${r.passiveAuth}, chip authentication ${r.chipAuth}${r.chipAuthMethod ? ` (${r.chipAuthMethod})` : ''}, ${r.issuingState ?? '-'} ${r.documentType ?? '-'}${r.docNumberHash ? ', document number hashed' : ''}`;
}

/** The exit code of a result: 0 accept, 1 reject or retry. */
export function exitCodeOf(result: Pick<SessionResult, 'verdict'>): number {
  return result.verdict === 'accept' ? EXIT.ok : EXIT.reject;
}

/** stderr "screen": each new prompt on its own line, and a progress line rewritten in place on a TTY. */
function screen(err: NodeJS.WriteStream, enabled: boolean) {
  const tty = err.isTTY === true;
  let phase = 'waiting_face';
  let steps = '';
  let progressShown = false;
  const clear = () => {
    if (tty && progressShown) err.write('\r\x1b[K');
    progressShown = false;
  };
  return {
    effect(e: SessionEffect) {
      if (!enabled) return;
      if (e.type === 'prompt') {
        clear();
        err.write(`» ${PROMPT_TEXT[e.id]}\n`);
      } else if (e.type === 'progress') {
        phase = e.phase;
        steps = `${e.completedSteps}/${e.totalSteps}`;
      }
    },
    frame(index: number, timeMs: number) {
      if (!enabled || !tty) return;
      err.write(`\r\x1b[K[${phase} ${steps}] frame ${index} at ${(timeMs / 1000).toFixed(1)} s`);
      progressShown = true;
    },
    done() {
      clear();
    },
  };
}

export function register(program: Command): Command {
  const cmd = program
    .command('verify')
    .summary('run one verification session on a recording (liveness challenge, attack checks, match to the ID portrait)')
    .description(
      "Runs one session on a recording as if it came from the camera: at the recording's frame rate (frames the " +
        'engine cannot keep up with are dropped, as from a live camera), or every frame as fast as possible with ' +
        '--fast. Customer prompts and a progress line go to stderr, the verdict to stdout. Exit code 0 accept, ' +
        '1 reject or retry, 2 error.\n\n' +
        '--id takes an image (an ID document photo or a chip portrait) or one frame of a video as clip.mp4#frame=N ' +
        "(0-based), or --document pcsc reads the state-signed portrait from the document's chip (with --mrz and --csca). --video takes a video, a directory of frames (30 fps), or a still image / clip.mp4#frame=N, " +
        'which is shown to the camera unchanged for --still-seconds (a photo attack).',
    )
    .option('--id <image>', 'reference portrait: image file, or video#frame=N')
    .option('--document <reader>', "take the reference portrait from the document's chip on this reader (pcsc) instead of --id")
    .requiredOption('--video <file|dir>', 'camera input: video file, directory of frames, or a still (looped)')
    .option('--nonce <hex>', 'carrier nonce (>= 64 bits of hex): the plan is derived from it')
    .option('--challenge <steps>', "explicit plan, comma-separated: blink, turn_left, turn_right, look_up, look_down (subject's own left/right)")
    .option('--allow-weak-plan', 'accept an explicit plan of one step or without a head move (session.allowWeakPlans; e.g. a blink-only recording)')
    .option('--fast', 'every frame, as fast as the engine goes (no pacing, no dropped frames)')
    .option('--max-width <px>', 'downscale camera frames wider than this before analysis', intArg('--max-width', 64))
    .option('--still-seconds <s>', 'how long a still --video is shown to the camera', intArg('--still-seconds', 1), 10)
    .option('--variant <name>', 'model weights: float, fp16 or int8', variantArg, 'fp16')
    .option('--json', 'print the result as JSON (no image, crop or embedding in it)')
    .option('--screen', 'serve the customer screen on 127.0.0.1 and print its URL; the session starts when a page connects (or after 60 s)')
    .option('--screen-port <n>', 'port of the customer screen (0: any free port)', intArg('--screen-port', 0), 8741);
  return documentOptions(cmd).action(async (opts: VerifyCliOptions) => {
    const { createLogger } = await import('../../base/log.js');
    const logger = createLogger({ level: process.env.KIOSK_LOG_LEVEL ?? 'warn' }).child({ component: 'verify' });
    const ui = screen(process.stderr, true);
    let engine: Awaited<ReturnType<typeof import('../../models/face-engine.js').createFaceEngine>> | null = null;
    let customer: import('../screen/verify-screen.js').VerifyScreen | null = null;
    let chip: import('../reference/chip.js').ChipReference | undefined;
    const ac = new AbortController();
    const onSignal = () => ac.abort('operator');
    process.once('SIGINT', onSignal);
    try {
      const [{ createFaceEngine }, { verifyFiles, planOf }, { isStrongPlan }, { KioskError }] = await Promise.all([
        import('../../models/face-engine.js'),
        import('../session/verify.js'),
        import('../../protocol/plan.js'),
        import('../../base/errors.js'),
      ]);
      // usage errors before the models load
      if ((opts.id === undefined) === (opts.document === undefined))
        throw new KioskError('E_USAGE', 'give exactly one of --id <image> and --document pcsc', { subject: '--id' });
      if (opts.document !== undefined && opts.document !== 'pcsc')
        throw new KioskError('E_USAGE', 'the only document reader is pcsc', { subject: '--document' });
      const doc = opts.document ? { accessKey: await accessKeyOf(opts), reader: await pcscReaderOf(opts), hashKey: await numberKeyOf(opts) } : undefined;
      if (!opts.allowWeakPlan && !isStrongPlan(planOf(opts))) {
        throw new KioskError(
          'E_CHALLENGE_INVALID',
          'the plan needs at least two steps and a head move (a replay of anyone blinking satisfies a blink-only plan); --allow-weak-plan accepts it',
          { subject: 'challenge' },
        );
      }
      engine = createFaceEngine({ logger, options: { variant: opts.variant } });
      await engine.start();
      if (opts.screen) {
        const { openVerifyScreen } = await import('../screen/verify-screen.js');
        customer = await openVerifyScreen({
          logger,
          plan: planOf(opts),
          port: opts.screenPort,
          out: (l) => process.stderr.write(`${l}\n`),
          onCancel: () => ac.abort('customer_left'),
          signal: ac.signal,
        });
      }
      if (doc) {
        const { readChipReference } = await import('../reference/chip.js');
        await doc.reader.start();
        try {
          process.stderr.write('» Place your document on the reader\n');
          chip = await readChipReference(engine, doc.reader, {
            accessKey: doc.accessKey,
            hashKey: doc.hashKey,
            timeoutMs: opts.documentTimeout * 1000,
            signal: ac.signal,
          });
        } finally {
          await doc.reader.stop();
        }
      }
      const outcome = await verifyFiles(
        engine,
        { ...opts, id: opts.id ?? 'chip' },
        {
          portrait: chip?.portrait,
          referenceClaims: chip?.claims,
          fast: opts.fast,
          config: opts.allowWeakPlan ? { allowWeakPlans: true } : undefined,
          maxWidth: opts.maxWidth,
          stillSeconds: opts.stillSeconds,
          onEffect: (e) => {
            ui.effect(e);
            customer?.onEffect(e);
          },
          onFrame: (i, t, image) => {
            ui.frame(i, t);
            customer?.onFrame(image);
          },
          signal: ac.signal,
        },
      );
      ui.done();
      logger.info({ verdict: outcome.result.verdict, reasons: outcome.result.reasons }, 'session finished');
      process.stdout.write(opts.json ? `${JSON.stringify(outcome, null, 2)}\n` : `${formatVerdict(outcome)}\n`);
      process.exitCode = exitCodeOf(outcome.result);
      await customer?.finish(outcome.result);
    } catch (err) {
      ui.done();
      reportError(err, opts.json);
    } finally {
      process.off('SIGINT', onSignal);
      chip?.portrait.template.fill(0);
      await customer?.stop();
      await engine?.stop();
    }
  });
}
