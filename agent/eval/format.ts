/**
 * Readable tables for the evaluation reports (the CLI without `--json`). Every rate is printed
 * with its counts, "3/90 (3.3%)", never as a bare percentage.
 */
import type { Rate, Share, TarAtFarResult } from './metrics.js';
import type { MatchFigures, MatchReport } from './run-match.js';
import type { OperatingRates, PadReport } from './run-pad.js';
import type { EventCounts, VideoReport } from './run-video.js';

function pct(rate: number | null): string {
  return rate === null ? '-' : `${(rate * 100).toFixed(rate > 0 && rate < 0.001 ? 3 : 1)}%`;
}

/** "errors/total (rate%)". */
export function fmtRate(r: Rate): string {
  return `${r.errors}/${r.total} (${pct(r.rate)})`;
}

/** "count/total (rate%)". */
export function fmtShare(s: Share): string {
  return `${s.count}/${s.total} (${pct(s.rate)})`;
}

function num(x: number | null, digits = 4): string {
  if (x === null) return '-';
  if (!Number.isFinite(x)) return x > 0 ? '+inf' : '-inf';
  return x.toFixed(digits);
}

/** Left-aligned columns, two spaces apart. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, c) => cell.padEnd(widths[c]))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function tarCell(t: TarAtFarResult): string {
  const note = t.resolved ? '' : ' [too few impostors]';
  return `${fmtShare(t.tar)} at FAR ${fmtRate(t.far)} thr ${num(t.threshold)}${note}`;
}

function matchRow(name: string, f: MatchFigures): string[] {
  return [
    name,
    `${f.genuine}/${f.impostor}`,
    num(f.auc),
    f.eer.eer === null ? '-' : `${pct(f.eer.eer)} (FMR ${fmtRate(f.eer.fmr)}, FNMR ${fmtRate(f.eer.fnmr)}) thr ${num(f.eer.threshold)}`,
    tarCell(f.tar_at_far_1pct),
    tarCell(f.tar_at_far_0_1pct),
  ];
}

/** The `eval match` report as text. */
export function formatMatchReport(r: MatchReport): string {
  const out = [
    `pairs ${r.pairs_total}: scored ${r.pairs}, excluded ${r.pairs_excluded}; images FTD ${fmtShare(r.ftd)}, other failures ${r.failed}`,
    '',
    table(['set', 'gen/imp', 'AUC', 'EER', 'TAR at FAR 1%', 'TAR at FAR 0.1%'], [matchRow('all', r), ...r.by_source.map((s) => matchRow(s.source, s))]),
  ];
  out.push('', '(EER and TAR thresholds above are fitted on these pairs: diagnostics, not operating points)');
  if (r.at_threshold) {
    out.push(`at the operating threshold ${num(r.at_threshold.threshold)}: FNMR ${fmtRate(r.at_threshold.fnmr)}, FMR ${fmtRate(r.at_threshold.fmr)}`);
    for (const s of r.by_source) if (s.at_threshold) out.push(`  ${s.source}: FNMR ${fmtRate(s.at_threshold.fnmr)}, FMR ${fmtRate(s.at_threshold.fmr)}`);
  } else {
    out.push('no operating threshold: FNMR/FMR not reported');
  }
  if (r.calibrated) {
    const c = r.calibrated;
    out.push(
      `threshold chosen on ${c.calibration_source} (${c.calibration.pairs} pairs; ${c.rule}): ${num(c.threshold)} ` +
        `(there FMR ${fmtRate(c.calibration.fmr)}, FNMR ${fmtRate(c.calibration.fnmr)})`,
      `  on the other ${c.held_out.pairs} pairs: FNMR ${fmtRate(c.held_out.fnmr)}, FMR ${fmtRate(c.held_out.fmr)}`,
    );
  }
  for (const f of r.failures) out.push(`  ${f.code}: ${f.message}`);
  return out.join('\n');
}

function opCells(r: OperatingRates, species: readonly string[]): string[] {
  return [...species.map((sp) => (r.apcer[sp] ? fmtRate(r.apcer[sp]) : '-')), fmtRate(r.bpcer)];
}

/** The `eval pad` report as text: the operating point first, diagnostics after. */
export function formatPadReport(r: PadReport): string {
  const op = r.operating;
  const species = [...new Set([...Object.keys(op.images.apcer), ...Object.keys(op.presentations?.apcer ?? {})])].sort();
  const out = [
    `presentations ${r.presentations}: scored ${r.scored}; FTD ${fmtShare(r.ftd)}, other failures ${r.failed}`,
    `operating threshold ${num(op.threshold)} (an attack when the score exceeds it)`,
    '',
    table(
      ['at the operating threshold', ...species.map((sp) => `APCER ${sp}`), 'BPCER'],
      [
        ['images, all', ...opCells(op.images, species)],
        ...op.images.halves.map((h, i) => [`images, subject half ${'ab'[i]} (${h.subjects.length} subjects)`, ...opCells(h.rates, species)]),
        ...(op.presentations ? [['recordings, per presentation', ...opCells(op.presentations, species)]] : []),
      ],
    ),
  ];
  if (op.presentations) {
    out.push('', `recordings: failures to acquire (never passed the session's gate) ${fmtRate(op.presentations.fta)}`);
    for (const p of op.presentations.list) {
      const what =
        p.aggregate === null ? `FTA (${p.fta})` : `${num(p.aggregate, 3)} over ${p.samples} -> ${p.aggregate > op.threshold ? 'attack' : 'bona fide'}`;
      const models = Object.entries(p.by_model)
        .map(([id, v]) => `${id} ${num(v, 3)}`)
        .join(', ');
      out.push(
        `  ${p.bona_fide ? 'bona fide' : `attack:${p.species}`}  ${p.video}: ${what}${models && p.aggregate !== null ? ` (${models})` : ''}${p.error ? ` [${p.error.code}]` : ''}`,
      );
    }
  }
  out.push(
    '',
    'diagnostics (not operating points):',
    `AUC all attacks ${num(r.auc.auc)} (${r.auc.attacks} attacks / ${r.auc.bona_fide} bona fide)` +
      Object.entries(r.auc_by_species)
        .map(([sp, a]) => `; ${sp} ${num(a.auc)} (${a.attacks}/${a.bona_fide})`)
        .join(''),
  );
  for (const m of r.models) {
    out.push(
      `  ${m.model}: AUC ${num(m.auc.auc)}` +
        Object.entries(m.auc_by_species)
          .map(([sp, a]) => `; ${sp} ${num(a.auc)}`)
          .join(''),
    );
  }
  const foldSpecies = Object.keys(r.out_of_fold.apcer);
  out.push(
    `threshold fitted on one subject half at BPCER <= ${pct(r.rule.bpcer_max)}, reported on the other half (${r.rule.split})`,
    table(
      ['fold', 'threshold', 'calib. BPCER', ...foldSpecies.map((s) => `test APCER ${s}`), 'test BPCER'],
      [
        ...r.folds.map((f, i) => [
          `${i + 1}: ${f.calibration_subjects.length} -> ${f.test_subjects.length} subjects`,
          num(f.threshold),
          fmtRate(f.calibration.bpcer),
          ...foldSpecies.map((s) => (f.test.apcer[s] ? fmtRate(f.test.apcer[s]) : '-')),
          fmtRate(f.test.bpcer),
        ]),
        ['out of fold', '', '', ...foldSpecies.map((s) => fmtRate(r.out_of_fold.apcer[s])), fmtRate(r.out_of_fold.bpcer)],
      ],
    ),
  );
  for (const f of r.failures) out.push(`  ${f.code}: ${f.message}`);
  return out.join('\n');
}

function countCells(c: EventCounts): string[] {
  return [c.labelled, c.detected, c.matched, c.missed, c.false, c.wrong_direction].map(String);
}

/** The `eval video` report as text. */
export function formatVideoReport(r: VideoReport): string {
  const header = ['video', 'what', 'labelled', 'detected', 'matched', 'missed', 'false', 'wrong dir'];
  const rows: string[][] = [];
  for (const v of r.videos) {
    rows.push([v.video, 'eyes', ...countCells(v.eyes)], ['', 'head', ...countCells(v.head)]);
  }
  rows.push(['total', 'eyes', ...countCells(r.totals.eyes)], ['', 'head', ...countCells(r.totals.head)], ['', 'all', ...countCells(r.totals)]);
  const out = [table(header, rows), ''];
  const peak = (d: { kind: string; peak: number }) => (d.kind === 'eyes_closed' ? `closed ${Math.round(d.peak)} ms` : `peak ${num(d.peak, 1)} deg`);
  for (const v of r.videos) {
    const anchor = v.anchor ? `anchor frame ${v.anchor.frame} (yaw ${v.anchor.yaw}, pitch ${v.anchor.pitch})` : 'no frame passed the gate';
    out.push(
      `${v.video} (${v.class}): ${v.frames_with_face}/${v.frames_analysed} frames with a face, ${anchor}, tolerance +-${v.tolerance_frames} frames${v.eyes_scored ? '' : ', blinks not labelled'}`,
    );
    if (v.error) out.push(`  ${v.error.code}: ${v.error.message}`);
    for (const m of v.events.matched) out.push(`  matched  ${m.label}@${m.labelled.join('-')} as ${m.kind}@${m.detected.join('-')}`);
    for (const m of v.events.missed) out.push(`  missed   ${m.label}@${m.first}-${m.last} (${m.kind})`);
    for (const d of v.events.wrong_direction) out.push(`  wrong    ${d.kind}@${d.first}-${d.last} (${peak(d)})`);
    for (const d of v.events.false) out.push(`  false    ${d.kind}@${d.first}-${d.last} (${peak(d)})`);
    for (const d of v.events.unscored) out.push(`  unscored ${d.kind}@${d.first}-${d.last} (${peak(d)})`);
  }
  return out.join('\n');
}
