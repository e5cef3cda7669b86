/**
 * A suite of verification sessions with expected verdicts (`eval sessions`). Tab-separated, one
 * case per line, `#` comments and a header line allowed:
 *
 *   case  kind  class  id  video  challenge  expected  expected_reason  config  note
 *
 * - kind `session`: a whole session (`verifyFiles`, every frame, `--fast`) with the reference `id`
 *   (image or `clip.mp4#frame=N`), the camera `video`, and `challenge` (comma-separated steps, or
 *   `nonce:<hex>`);
 * - kind `document`: the matching stage only: the reference templates of two documents `id` and
 *   `video` compared at the session's match threshold (accept, or reject `no_match`).
 *
 * `class` is what is presented: `bona_fide` (the holder of the reference, live), `impostor`
 * (someone else, live), `attack:<species>` (a replay, a still photo, a recording in the wrong
 * order...) or `non_compliant` (a live holder who does not do the asked moves). The report counts
 * session-level BPCER over bona fide cases (rejected or left in retry) and APCER over attacks
 * (accepted), impostors accepted, and the time from the first step's prompt to the verdict.
 *
 * `config` is `-` or session settings for that case as `key=value` separated by `;` (e.g.
 * `allowWeakPlans=true` for a blink-only recording); they are checked like any session config.
 *
 * A case passes when the verdict is the expected one (`reject|retry`: either, i.e. not accepted)
 * and, if `expected_reason` is not `-`, the FIRST reason is that one (the right verdict for the
 * wrong reason fails).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FaceDecision, FaceEngine } from '../../models/engine.js';
import { cosineSimilarity } from '../../models/engine.js';
import type { RgbImage } from '../../base/rgb-image.js';
import type { FaceSignals, FrameSignals } from '../../models/types.js';
import { KioskError, toKioskError } from '../../base/errors.js';
import type { ReferencePortrait } from '../reference/portrait.js';
import { resolveSessionConfig, type SessionConfig } from './config.js';
import { isStepKind } from '../../protocol/plan.js';
import type { ReasonCode, SessionResult, Verdict } from './types.js';
import { cameraFrames, loadReference, verifyFiles } from './verify.js';
import { errorRate, type Rate } from '../eval/metrics.js';
import { median } from './stats.js';
import { SharedFrames } from './shared-frames.js';

/** The verdict a case expects: one, or `reject|retry` (not accepted, either way: rejected, or kept at the gate). */
export type ExpectedVerdict = Verdict | 'reject|retry';

/** What a suite case presents (see the module doc). */
export type CaseClass = 'bona_fide' | 'impostor' | 'non_compliant' | `attack:${string}`;

export interface SuiteCase {
  name: string;
  kind: 'session' | 'document';
  class: CaseClass;
  id: string;
  video: string;
  challenge: string;
  expected: ExpectedVerdict;
  expectedReason: ReasonCode | null;
  /** Session settings of this case (over the suite's own). */
  config: Partial<SessionConfig>;
  note: string;
}

export interface CaseOutcome {
  case: string;
  kind: SuiteCase['kind'];
  class: CaseClass;
  expected: { verdict: ExpectedVerdict; reason: ReasonCode | null };
  actual: { verdict: Verdict | 'error'; reasons: string[] };
  pass: boolean;
  /** Scores worth a glance in the table; no embedding. */
  scores: { match: number | null; attack: number | null; attackSamples: number; motionResidual: number | null; motionSteps: string | null };
  framesSeen: number | null;
  /** Recording time from the first step's prompt (the gate passed) to the verdict, ms; null when the gate was never passed. */
  promptToVerdictMs: number | null;
  /** The quality issue the gate failed on most often (why a retry), or null. */
  dominantIssue: string | null;
  error?: { code: string; message: string };
  note: string;
}

/** Session-level error rates over the session cases, with counts. */
export interface SuiteRates {
  /** Bona fide sessions not accepted (rejected or left in retry). */
  bpcer: Rate;
  /** Attack sessions accepted, per species and over all. */
  apcer: Record<string, Rate>;
  apcer_all: Rate;
  /** Impostor sessions accepted. */
  impostors_accepted: Rate;
  /** Non-compliant sessions accepted. */
  non_compliant_accepted: Rate;
  /** Median recording time from the first step's prompt to the verdict over the bona fide sessions that reached the challenge, ms. */
  median_prompt_to_verdict_ms: number | null;
  prompt_to_verdict_sessions: number;
}

export interface SuiteReport {
  cases: CaseOutcome[];
  passed: number;
  total: number;
  rates: SuiteRates;
}

const VERDICTS: readonly Verdict[] = ['accept', 'reject', 'retry'];

/** Parses a suite file's text; throws E_LABELS_INVALID naming the line. */
export function parseSuite(text: string, file = 'suite'): SuiteCase[] {
  const out: SuiteCase[] = [];
  const lines = text.split(/\r?\n/);
  for (const [i, raw] of lines.entries()) {
    const line = raw.trimEnd();
    if (line === '' || line.startsWith('#') || (i === 0 && line.startsWith('case\t'))) continue;
    const cols = line.split('\t');
    const bad = (what: string) => new KioskError('E_LABELS_INVALID', `line ${i + 1}: ${what}`, { subject: file });
    if (cols.length < 9) throw bad(`expected at least 9 tab-separated columns, got ${cols.length}`);
    const [name, kind, cls, id, video, challenge, expected, reason, configCell, note = ''] = cols;
    if (kind !== 'session' && kind !== 'document') throw bad(`kind must be session or document, got "${kind}"`);
    if (!/^(bona_fide|impostor|non_compliant|attack:[a-z][a-z0-9_]*)$/.test(cls))
      throw bad(`class must be bona_fide, impostor, non_compliant or attack:<species>, got "${cls}"`);
    const expectedVerdict = expectedOf(expected);
    if (!expectedVerdict) throw bad(`expected must be accept, reject, retry or reject|retry, got "${expected}"`);
    if (kind === 'session' && !challenge.startsWith('nonce:') && !challenge.split(',').every((s) => isStepKind(s.trim()))) {
      throw bad(`challenge must be step kinds or nonce:<hex>, got "${challenge}"`);
    }
    const config = parseCaseConfig(configCell, bad);
    out.push({
      name,
      kind,
      class: cls as CaseClass,
      id,
      video,
      challenge,
      expected: expectedVerdict,
      expectedReason: reason === '-' ? null : (reason as ReasonCode),
      config,
      note,
    });
  }
  if (out.length === 0) throw new KioskError('E_LABELS_INVALID', 'the suite has no cases', { subject: file });
  return out;
}

/** An expected-verdict cell: a verdict, or `reject|retry` in either order; null when neither. */
function expectedOf(cell: string): ExpectedVerdict | null {
  if ((VERDICTS as readonly string[]).includes(cell)) return cell as Verdict;
  return cell === 'reject|retry' || cell === 'retry|reject' ? 'reject|retry' : null;
}

/** `key=value;key=value` session settings of one case, or `-`; values are numbers, true/false or words. */
function parseCaseConfig(cell: string, bad: (what: string) => KioskError): Partial<SessionConfig> {
  if (cell.trim() === '-' || cell.trim() === '') return {};
  const out: Record<string, number | boolean | string> = {};
  for (const item of cell.split(';')) {
    const m = /^\s*([A-Za-z]+)\s*=\s*(\S+)\s*$/.exec(item);
    if (!m) throw bad(`config must be key=value pairs separated by ";", got "${item}"`);
    const v = m[2];
    out[m[1]] = v === 'true' ? true : v === 'false' ? false : Number.isFinite(Number(v)) ? Number(v) : v;
  }
  try {
    resolveSessionConfig(out as Partial<SessionConfig>);
  } catch (err) {
    throw bad(`config: ${toKioskError(err).message}`);
  }
  return out as Partial<SessionConfig>;
}

export async function readSuite(path: string): Promise<SuiteCase[]> {
  return parseSuite(await readFile(path, 'utf8'), path);
}

/**
 * The engine with its answers remembered per frame (analysis by image object, decision by face
 * object), for the cases that replay the same frames. The engine is deterministic and stateless
 * per frame (no tracking across frames), so a case sees exactly the signals it would get from a
 * fresh analysis; it only no longer pays for them twice. `clear()` zeroes the kept embeddings.
 */
function memoEngine(engine: Pick<FaceEngine, 'analyze' | 'decide' | 'info'>) {
  const analysed = new WeakMap<RgbImage, Promise<FrameSignals>>();
  const decided = new WeakMap<FaceSignals, Promise<FaceDecision>>();
  const embeddings: Float32Array[] = [];
  const memo: Pick<FaceEngine, 'analyze' | 'decide' | 'info'> = {
    analyze(image) {
      let p = analysed.get(image);
      if (!p) {
        p = engine.analyze(image);
        analysed.set(image, p);
      }
      return p;
    },
    decide(image, face) {
      let p = decided.get(face);
      if (!p) {
        p = engine.decide(image, face).then((d) => {
          embeddings.push(d.embedding);
          return d;
        });
        decided.set(face, p);
      }
      return p;
    },
    info: () => engine.info(),
  };
  return {
    engine: memo,
    clear(): void {
      for (const e of embeddings) e.fill(0);
      embeddings.length = 0;
    },
  };
}

export interface SuiteOptions {
  root: string;
  /** Downscale camera frames wider than this (the references are never downscaled). */
  maxWidth?: number;
  config?: Partial<SessionConfig>;
  onCase?: (done: number, total: number, name: string) => void;
  /**
   * Multiplies the session's wall-clock limits on engine calls (`decisionTimeoutMs`, `analyzeTimeoutMs`),
   * which guard a live kiosk against a hung engine, for a machine far slower than a kiosk (qemu emulation
   * runs the models 30-100 times slower): with every frame processed in turn, nothing else in a suite
   * depends on the machine's speed. Recording-time limits (step time limits) are unchanged. Default 1.
   */
  timeoutScale?: number;
  /** Decoded pixels kept per camera input for the cases that replay it, bytes (default 1 GiB; see SharedFrames). */
  frameCacheBytes?: number;
}

/** The case's session config with the engine-call limits scaled (see `SuiteOptions.timeoutScale`). */
export function caseConfig(options: Pick<SuiteOptions, 'config' | 'timeoutScale'>, own: Partial<SessionConfig>): Partial<SessionConfig> {
  const config = { ...options.config, ...own };
  const k = options.timeoutScale ?? 1;
  if (k === 1) return config;
  const base = resolveSessionConfig(config);
  const cap = 600000; // the config's own upper bound for these limits
  return { ...config, decisionTimeoutMs: Math.min(cap, base.decisionTimeoutMs * k), analyzeTimeoutMs: Math.min(cap, base.analyzeTimeoutMs * k) };
}

/** True when a verdict and its reasons are what the case expects (see the module doc). */
export function casePasses(c: Pick<SuiteCase, 'expected' | 'expectedReason'>, verdict: Verdict, reasons: readonly string[]): boolean {
  const verdictOk = c.expected === 'reject|retry' ? verdict !== 'accept' : verdict === c.expected;
  return verdictOk && (c.expectedReason === null ? true : reasons[0] === c.expectedReason);
}

function scoresOf(r: SessionResult): CaseOutcome['scores'] {
  return {
    match: r.scores.match.similarity,
    attack: r.scores.attack.aggregate,
    attackSamples: r.scores.attack.samples,
    motionResidual: r.scores.motion.residual,
    motionSteps: r.scores.motion.steps.length
      ? r.scores.motion.steps.map((m) => `${m.kind}:${m.residual === null ? '-' : m.residual.toFixed(3)}`).join(' ')
      : null,
  };
}

/**
 * Runs every case with one started engine, in order; a case that errors is reported, not thrown.
 * Work shared by cases is done once: each reference is built once, each camera input is decoded
 * once and its frames are analysed once (and decided on once) for all the cases that use it.
 */
export async function runSuite(
  baseEngine: Pick<FaceEngine, 'analyze' | 'decide' | 'info'>,
  cases: readonly SuiteCase[],
  options: SuiteOptions,
): Promise<SuiteReport> {
  const cfg = resolveSessionConfig(options.config);
  const memo = memoEngine(baseEngine);
  const engine = memo.engine;
  const cameras = new Map<string, SharedFrames>();
  const lastUse = new Map<string, number>();
  for (const [i, c] of cases.entries()) if (c.kind === 'session') lastUse.set(c.video, i);
  const refs = new Map<string, ReferencePortrait>();
  const reference = async (p: string) => {
    let r = refs.get(p);
    if (!r) {
      r = await loadReference(engine, join(options.root, p));
      refs.set(p, r);
    }
    return r;
  };
  const outcomes: CaseOutcome[] = [];
  try {
    for (const [i, c] of cases.entries()) {
      const base = { case: c.name, kind: c.kind, class: c.class, expected: { verdict: c.expected, reason: c.expectedReason }, note: c.note };
      try {
        if (c.kind === 'document') {
          const a = await reference(c.id);
          const b = await reference(c.video);
          const similarity = cosineSimilarity(a.template, b.template);
          const verdict: Verdict = similarity >= cfg.minMatchSimilarity ? 'accept' : 'reject';
          const reasons = verdict === 'accept' ? [] : ['no_match'];
          outcomes.push({
            ...base,
            actual: { verdict, reasons },
            pass: casePasses(c, verdict, reasons),
            scores: { match: similarity, attack: null, attackSamples: 0, motionResidual: null, motionSteps: null },
            framesSeen: null,
            promptToVerdictMs: null,
            dominantIssue: null,
          });
        } else {
          const challenge = c.challenge.startsWith('nonce:') ? { nonce: c.challenge.slice(6) } : { challenge: c.challenge };
          const video = join(options.root, c.video);
          let camera = cameras.get(c.video);
          if (!camera) {
            camera = new SharedFrames(() => cameraFrames(video, { maxWidth: options.maxWidth }), options.frameCacheBytes);
            cameras.set(c.video, camera);
          }
          const { result } = await verifyFiles(
            engine,
            { id: join(options.root, c.id), video, ...challenge },
            { fast: true, maxWidth: options.maxWidth, config: caseConfig(options, c.config), portrait: await reference(c.id), camera: camera.replay() },
          );
          outcomes.push({
            ...base,
            actual: { verdict: result.verdict, reasons: [...result.reasons] },
            pass: casePasses(c, result.verdict, result.reasons),
            scores: scoresOf(result),
            framesSeen: result.timings.framesSeen,
            promptToVerdictMs: result.timings.gatePassedAtMs === null ? null : result.timings.finishedAtMs - result.timings.gatePassedAtMs,
            dominantIssue: result.quality.dominantIssue,
          });
        }
      } catch (err) {
        const e = toKioskError(err);
        outcomes.push({
          ...base,
          actual: { verdict: 'error', reasons: [e.code] },
          pass: false,
          scores: { match: null, attack: null, attackSamples: 0, motionResidual: null, motionSteps: null },
          framesSeen: null,
          promptToVerdictMs: null,
          dominantIssue: null,
          error: { code: e.code, message: e.message },
        });
      }
      if (c.kind === 'session' && lastUse.get(c.video) === i) {
        await cameras.get(c.video)?.close();
        cameras.delete(c.video);
      }
      options.onCase?.(i + 1, cases.length, c.name);
    }
  } finally {
    for (const cam of cameras.values()) await cam.close();
    cameras.clear();
    for (const r of refs.values()) r.template.fill(0);
    refs.clear();
    memo.clear();
  }
  return { cases: outcomes, passed: outcomes.filter((o) => o.pass).length, total: outcomes.length, rates: suiteRates(outcomes) };
}

/** Session-level BPCER, APCER and the prompt-to-verdict time over the session cases. */
export function suiteRates(outcomes: readonly CaseOutcome[]): SuiteRates {
  const sessions = outcomes.filter((o) => o.kind === 'session');
  const accepted = (o: CaseOutcome) => o.actual.verdict === 'accept';
  const rate = (xs: readonly CaseOutcome[], bad: (o: CaseOutcome) => boolean) => errorRate(xs.filter(bad).length, xs.length);
  const bona = sessions.filter((o) => o.class === 'bona_fide');
  const attacks = sessions.filter((o) => o.class.startsWith('attack:'));
  const species = [...new Set(attacks.map((o) => o.class.slice(7)))].sort();
  const times = bona.flatMap((o) => (o.promptToVerdictMs === null ? [] : [o.promptToVerdictMs]));
  return {
    bpcer: rate(bona, (o) => !accepted(o)),
    apcer: Object.fromEntries(
      species.map((sp) => [
        sp,
        rate(
          attacks.filter((o) => o.class === `attack:${sp}`),
          accepted,
        ),
      ]),
    ),
    apcer_all: rate(attacks, accepted),
    impostors_accepted: rate(
      sessions.filter((o) => o.class === 'impostor'),
      accepted,
    ),
    non_compliant_accepted: rate(
      sessions.filter((o) => o.class === 'non_compliant'),
      accepted,
    ),
    median_prompt_to_verdict_ms: median(times),
    prompt_to_verdict_sessions: times.length,
  };
}

/** The suite as a text table: expected vs actual with reasons and the main scores. */
export function formatSuite(report: SuiteReport): string {
  const head = ['case', 'expected', 'actual', 'ok', 'match', 'attack (n)', 'motion', 'frames'];
  const rows = report.cases.map((o) => [
    o.case,
    `${o.expected.verdict}${o.expected.reason ? ` ${o.expected.reason}` : ''}`,
    `${o.actual.verdict}${o.actual.reasons.length ? ` ${o.actual.reasons.join(',')}` : ''}`,
    o.pass ? 'yes' : 'NO',
    o.scores.match === null ? '-' : o.scores.match.toFixed(3),
    o.scores.attack === null ? '-' : `${o.scores.attack.toFixed(3)} (${o.scores.attackSamples})`,
    o.scores.motionResidual === null ? '-' : o.scores.motionResidual.toFixed(3),
    o.framesSeen === null ? '-' : String(o.framesSeen),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const fmt = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  const errors = report.cases.filter((o) => o.error).map((o) => `  ${o.case}: ${o.error!.code} ${o.error!.message}`);
  const r = report.rates;
  const rateText = (x: Rate) => `${x.errors}/${x.total}`;
  const summary = [
    `session-level BPCER (bona fide sessions rejected or left in retry): ${rateText(r.bpcer)}` +
      (r.bpcer.errors
        ? ` (${report.cases
            .filter((o) => o.kind === 'session' && o.class === 'bona_fide' && o.actual.verdict !== 'accept')
            .map((o) => `${o.case}: ${o.actual.verdict} ${o.actual.reasons.join(',')}${o.dominantIssue ? ` ${o.dominantIssue}` : ''}`)
            .join('; ')})`
        : ''),
    `session-level APCER (attack sessions accepted): ${rateText(r.apcer_all)}` +
      Object.entries(r.apcer)
        .map(([sp, x]) => `; ${sp} ${rateText(x)}`)
        .join(''),
    `impostor sessions accepted: ${rateText(r.impostors_accepted)}; non-compliant sessions accepted: ${rateText(r.non_compliant_accepted)}`,
    `median time from the first step's prompt to the verdict (recording time, bona fide sessions past the gate): ` +
      (r.median_prompt_to_verdict_ms === null ? '-' : `${(r.median_prompt_to_verdict_ms / 1000).toFixed(1)} s over ${r.prompt_to_verdict_sessions}`),
  ];
  return [fmt(head), ...rows.map(fmt), `${report.passed}/${report.total} cases as expected`, ...summary, ...(errors.length ? ['errors:', ...errors] : [])].join(
    '\n',
  );
}
