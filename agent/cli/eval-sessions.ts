/**
 * `kiosk-agent eval sessions`: runs a suite of verification sessions (see agent/session/suite.ts)
 * and prints expected vs actual verdicts with reasons. Exit code 0 when every case is as expected,
 * 1 when one is not, 2 on an error that stops the suite.
 */
import type { Command } from 'commander';
import { EXIT, intArg, reportError } from '../../base/cli.js';
import { KioskError } from '../../base/errors.js';
import type { SuiteCase } from '../session/suite.js';

interface SessionsOptions {
  suite?: string;
  videos?: string;
  identity?: string;
  replayOf?: string;
  writeSuite?: string;
  root: string;
  maxWidth?: number;
  plot?: string;
  json?: boolean;
  timeoutScale?: number;
  frameCacheMb?: number;
}

/** The cases to run: the suite file, or the suite derived from the label files; `source` names where they came from. */
async function suiteCases(opts: SessionsOptions): Promise<{ cases: SuiteCase[]; source: string }> {
  if ((opts.suite === undefined) === (opts.videos === undefined)) {
    throw new KioskError('E_USAGE', 'give either --suite <tsv> or --videos <tsv> (a suite derived from the label files)', { subject: '--suite' });
  }
  if (opts.suite !== undefined) {
    for (const flag of ['identity', 'replayOf', 'writeSuite'] as const) {
      if (opts[flag] !== undefined)
        throw new KioskError('E_USAGE', `--${flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} goes with --videos, not --suite`, { subject: '--suite' });
    }
    const { readSuite } = await import('../session/suite.js');
    return { cases: await readSuite(opts.suite), source: opts.suite };
  }
  const [labels, { suiteFromLabels }] = await Promise.all([import('../eval/labels.js'), import('../eval/suite-from-labels.js')]);
  const [videos, identity, replayOf] = await Promise.all([
    labels.readLabelFile(opts.videos!, labels.parseVideoLabels),
    opts.identity ? labels.readLabelFile(opts.identity, labels.parseIdentityLabels) : undefined,
    opts.replayOf ? labels.readLabelFile(opts.replayOf, labels.parseReplayOf) : undefined,
  ]);
  const cases = suiteFromLabels({ videos, identity, replayOf }, { identity: opts.identity, replayOf: opts.replayOf });
  const source = `the label files ${[opts.videos, opts.identity, opts.replayOf].filter(Boolean).join(', ')}`;
  return { cases, source };
}

/** Adds `sessions` under the `eval` command and returns it. */
export function register(evalCmd: Command): Command {
  return evalCmd
    .command('sessions')
    .summary('a suite of verification sessions: expected vs actual verdicts with reasons')
    .description(
      'Runs every case of a suite file (tab-separated: case, kind, class, id, video, challenge, expected, expected_reason, ' +
        'config, note; see test/fixtures/sessions-dev.tsv) with one engine, every frame (as verify --fast). kind=session runs a ' +
        "whole session; kind=document compares the reference templates of two documents at the session's match threshold. " +
        'A case passes when the verdict is the expected one and, when an expected reason is given, the first reason is it. ' +
        'Then, over the session cases by class: session-level BPCER (bona fide sessions rejected or left in retry), APCER ' +
        '(attack sessions accepted, per species), impostor and non-compliant sessions accepted, and the median recording ' +
        "time from the first step's prompt to the verdict. Instead of --suite, --videos derives the suite from the data's " +
        'own label files (agent/eval/suite-from-labels.ts): per live recording a genuine, an impostor, a wrong-order and a ' +
        'still-frame case with the labelled moves as the plan, each attack recording with the reference and plan of the ' +
        'person it re-films, a no-action case for a recording with no labelled action.',
    )
    .option('--suite <tsv>', 'suite file (e.g. test/fixtures/sessions-dev.tsv)')
    .option('--videos <tsv>', 'derive the suite from this videos label file (e.g. ../shared/data/labels/videos.tsv) instead of --suite')
    .option('--identity <tsv>', "with --videos: photo, video, same_identity (e.g. labels/photo-video-identity.tsv): a person's photo is their reference")
    .option('--replay-of <tsv>', 'with --videos: attack_video, source_live_video (e.g. labels/replay-of.tsv): whose reference and plan an attack gets')
    .option('--write-suite <tsv>', 'with --videos: write the derived suite to this file (a suite file) and stop, without running it')
    .requiredOption('--root <dir>', 'folder the paths in the suite are relative to (e.g. ../shared/data)')
    .option('--max-width <px>', 'downscale camera frames wider than this before analysis', intArg('--max-width', 64))
    .option('--plot <svg>', 'write a picture: match similarity and attack aggregate per session, by class, with the thresholds')
    .option('--json', 'print one JSON document: per case its expected and actual verdict and reasons')
    .option(
      '--timeout-scale <k>',
      "multiply the session's wall-clock limits on engine calls (decisionTimeoutMs, analyzeTimeoutMs) by k, on a machine far slower than a kiosk (emulation: npm run check:arm64)",
      intArg('--timeout-scale', 1),
    )
    .option(
      '--frame-cache-mb <n>',
      'decoded frames kept per recording for the cases that replay it (default 1024); past it frames are decoded again per case, same results',
      intArg('--frame-cache-mb', 16),
    )
    .action(async (opts: SessionsOptions) => {
      const [{ createLogger }, { phasedProgress }] = await Promise.all([import('../../base/log.js'), import('../../base/progress.js')]);
      const logger = createLogger({ level: process.env.KIOSK_LOG_LEVEL ?? 'warn' }).child({ component: 'eval-sessions' });
      let engine: { stop(): Promise<void> } | null = null;
      let progress: ReturnType<typeof phasedProgress> | undefined;
      try {
        const { cases, source } = await suiteCases(opts);
        if (opts.writeSuite) {
          const [{ writeFile }, { suiteToTsv }] = await Promise.all([import('node:fs/promises'), import('../eval/suite-from-labels.js')]);
          await writeFile(opts.writeSuite, suiteToTsv(cases));
          process.stdout.write(`${cases.length} cases derived from ${source} written to ${opts.writeSuite}\n`);
          return;
        }
        const [{ createFaceEngine }, { runSuite, formatSuite }] = await Promise.all([import('../../models/face-engine.js'), import('../session/suite.js')]);
        const e = createFaceEngine({ logger });
        engine = e;
        await e.start();
        // A line on stderr when it is a terminal (not in CI); stdout, --json included, is untouched.
        const bar = phasedProgress('eval sessions');
        progress = bar;
        const report = await runSuite(e, cases, {
          root: opts.root,
          maxWidth: opts.maxWidth,
          timeoutScale: opts.timeoutScale,
          frameCacheBytes: opts.frameCacheMb === undefined ? undefined : opts.frameCacheMb * 1024 * 1024,
          onCase: (done, total, name) => bar.report(done, total, name),
        });
        bar.done();
        if (opts.plot) {
          const [{ sessionsPlot }, { writeFile }, { DEFAULT_SESSION_CONFIG: d }] = await Promise.all([
            import('../eval/plots.js'),
            import('node:fs/promises'),
            import('../session/config.js'),
          ]);
          await writeFile(opts.plot, sessionsPlot(report, { match: d.minMatchSimilarity, attack: d.maxAttackScore }));
        }
        if (opts.json) {
          process.stdout.write(
            `${JSON.stringify({ command: 'eval sessions', suite: source, root: opts.root, models: e.info().models, ...report }, null, 2)}\n`,
          );
        } else {
          process.stdout.write(`${formatSuite(report)}\n`);
        }
        process.exitCode = report.passed === report.total ? EXIT.ok : EXIT.reject;
      } catch (err) {
        progress?.done();
        reportError(err, opts.json);
      } finally {
        await engine?.stop();
      }
    });
}
