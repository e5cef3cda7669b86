/**
 * Pictures of the evaluation reports as standalone SVG (no dependency, no script): a DET curve
 * (error of one class against the other over every threshold, log axes, the operating point
 * marked) and score distributions (one histogram per class, the threshold as a line). Counts are
 * written on the pictures, since the sets are small.
 */
import type { MatchReport } from './run-match.js';
import type { PadReport } from './run-pad.js';
import type { SuiteReport } from '../session/suite.js';

const W = 420;
const H = 320;
const M = { left: 58, right: 14, top: 34, bottom: 46 };
const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** One class of scores for a panel. */
export interface ScoreSet {
  name: string;
  scores: readonly number[];
}

/**
 * DET panel: for every threshold t (attack / match when score >= t... here: flagged when score
 * > t for PAD, accepted when >= t for matching, via `flag`), x = share of `negatives` flagged,
 * y = share of `positives` not flagged; both on log axes from `floor` to 1 (zeros drawn at the floor).
 */
export function detPanel(opts: {
  title: string;
  xLabel: string;
  yLabel: string;
  positives: readonly number[];
  negatives: readonly number[];
  threshold: number;
  flag: (score: number, threshold: number) => boolean;
}): string {
  const { positives, negatives } = opts;
  const floor = 1 / (2 * Math.max(positives.length, negatives.length, 10));
  const lx = (v: number) => M.left + ((Math.log10(Math.max(v, floor)) - Math.log10(floor)) / -Math.log10(floor)) * (W - M.left - M.right);
  const ly = (v: number) => H - M.bottom - ((Math.log10(Math.max(v, floor)) - Math.log10(floor)) / -Math.log10(floor)) * (H - M.top - M.bottom);
  const rates = (t: number) => ({
    x: negatives.filter((s) => opts.flag(s, t)).length / Math.max(1, negatives.length),
    y: positives.filter((s) => !opts.flag(s, t)).length / Math.max(1, positives.length),
  });
  const ts = [...new Set([...positives, ...negatives, Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY])].sort((a, b) => a - b);
  const pts = ts.map(rates);
  const path = pts.map((p, i) => `${i ? 'L' : 'M'}${lx(p.x).toFixed(1)},${ly(p.y).toFixed(1)}`).join(' ');
  const op = rates(opts.threshold);
  const opErr = { x: negatives.filter((s) => opts.flag(s, opts.threshold)).length, y: positives.filter((s) => !opts.flag(s, opts.threshold)).length };
  const ticks = [0.001, 0.01, 0.1, 1].filter((v) => v >= floor);
  return [
    ...frame(opts.title),
    ...ticks.map(
      (v) =>
        `<line x1="${lx(v)}" y1="${M.top}" x2="${lx(v)}" y2="${H - M.bottom}" stroke="#ddd"/><text x="${lx(v)}" y="${H - M.bottom + 14}" font-size="10" text-anchor="middle">${v * 100}%</text>`,
    ),
    ...ticks.map(
      (v) =>
        `<line x1="${M.left}" y1="${ly(v)}" x2="${W - M.right}" y2="${ly(v)}" stroke="#ddd"/><text x="${M.left - 4}" y="${ly(v) + 3}" font-size="10" text-anchor="end">${v * 100}%</text>`,
    ),
    `<path d="${path}" fill="none" stroke="${COLOURS[0]}" stroke-width="1.5"/>`,
    `<circle cx="${lx(op.x)}" cy="${ly(op.y)}" r="4" fill="${COLOURS[1]}"/>`,
    `<text x="${Math.min(lx(op.x) + 6, W - 150)}" y="${ly(op.y) - 6}" font-size="10" fill="${COLOURS[1]}">threshold ${opts.threshold.toFixed(3)}: ${opErr.x}/${negatives.length}, ${opErr.y}/${positives.length}</text>`,
    `<text x="${(M.left + W - M.right) / 2}" y="${H - 8}" font-size="11" text-anchor="middle">${esc(opts.xLabel)} (${negatives.length}; zero drawn at ${(floor * 100).toPrecision(2)}%)</text>`,
    `<text x="12" y="${(M.top + H - M.bottom) / 2}" font-size="11" text-anchor="middle" transform="rotate(-90 12 ${(M.top + H - M.bottom) / 2})">${esc(opts.yLabel)} (${positives.length})</text>`,
  ].join('\n');
}

/** Histogram panel: one outline per score set over [lo, hi], the threshold as a dashed line. */
export function histogramPanel(opts: {
  title: string;
  xLabel: string;
  sets: readonly ScoreSet[];
  threshold: number;
  lo: number;
  hi: number;
  bins?: number;
}): string {
  const bins = opts.bins ?? 25;
  const width = (opts.hi - opts.lo) / bins;
  const counts = opts.sets.map((set) => {
    const c = new Array<number>(bins).fill(0);
    for (const s of set.scores) c[Math.min(bins - 1, Math.max(0, Math.floor((s - opts.lo) / width)))]++;
    return c.map((n) => n / Math.max(1, set.scores.length));
  });
  const top = Math.max(0.01, ...counts.flat());
  const x = (v: number) => M.left + ((v - opts.lo) / (opts.hi - opts.lo)) * (W - M.left - M.right);
  const y = (f: number) => H - M.bottom - (f / top) * (H - M.top - M.bottom);
  const lines = counts.map((c, k) => {
    const d = c
      .map((f, i) => `L${x(opts.lo + i * width).toFixed(1)},${y(f).toFixed(1)} L${x(opts.lo + (i + 1) * width).toFixed(1)},${y(f).toFixed(1)}`)
      .join(' ');
    return `<path d="M${x(opts.lo)},${y(0)} ${d} L${x(opts.hi)},${y(0)}" fill="none" stroke="${COLOURS[k % COLOURS.length]}" stroke-width="1.5"/>`;
  });
  const legend = opts.sets.map(
    (set, k) =>
      `<text x="${M.left + 6}" y="${M.top + 14 + 13 * k}" font-size="11" fill="${COLOURS[k % COLOURS.length]}">${esc(set.name)} (${set.scores.length})</text>`,
  );
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => opts.lo + f * (opts.hi - opts.lo));
  return [
    ...frame(opts.title),
    ...ticks.map((v) => `<text x="${x(v)}" y="${H - M.bottom + 14}" font-size="10" text-anchor="middle">${v.toFixed(2)}</text>`),
    ...lines,
    `<line x1="${x(opts.threshold)}" y1="${M.top}" x2="${x(opts.threshold)}" y2="${H - M.bottom}" stroke="#000" stroke-dasharray="4 3"/>`,
    `<text x="${x(opts.threshold) + 4}" y="${M.top + 10}" font-size="10">threshold ${opts.threshold.toFixed(3)}</text>`,
    ...legend,
    `<text x="${(M.left + W - M.right) / 2}" y="${H - 8}" font-size="11" text-anchor="middle">${esc(opts.xLabel)}</text>`,
    `<text x="12" y="${(M.top + H - M.bottom) / 2}" font-size="11" text-anchor="middle" transform="rotate(-90 12 ${(M.top + H - M.bottom) / 2})">share of the class per bin</text>`,
  ].join('\n');
}

function frame(title: string): string[] {
  return [
    `<rect x="0" y="0" width="${W}" height="${H}" fill="#fff"/>`,
    `<rect x="${M.left}" y="${M.top}" width="${W - M.left - M.right}" height="${H - M.top - M.bottom}" fill="none" stroke="#888"/>`,
    `<text x="${W / 2}" y="18" font-size="13" text-anchor="middle" font-weight="bold">${esc(title)}</text>`,
  ];
}

/** Panels side by side in one SVG document. */
export function figure(panels: readonly string[]): string {
  const body = panels.map((p, i) => `<g transform="translate(${i * W},0)">\n${p}\n</g>`).join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W * panels.length}" height="${H}" font-family="sans-serif">\n${body}\n</svg>\n`;
}

const accepts = (s: number, t: number) => s >= t;
const flagsAttack = (s: number, t: number) => s > t;

/** `eval match --plot`: DET (FMR vs FNMR) and the similarity distributions at the operating threshold. */
export function matchPlot(r: MatchReport): string {
  const t = r.at_threshold?.threshold ?? 0;
  const scores = r.scores;
  return figure([
    detPanel({
      title: 'matching: DET',
      xLabel: 'FMR (impostor pairs accepted)',
      yLabel: 'FNMR (mated pairs rejected)',
      positives: scores.genuine,
      negatives: scores.impostor,
      threshold: t,
      flag: accepts,
    }),
    histogramPanel({
      title: 'matching: similarity',
      xLabel: 'cosine similarity',
      sets: [
        { name: 'mated', scores: scores.genuine },
        { name: 'impostor', scores: scores.impostor },
      ],
      threshold: t,
      lo: -0.3,
      hi: 1,
    }),
  ]);
}

/** `eval pad --plot`: DET of the images (APCER vs BPCER) and the attack-score distributions, images and recordings. */
export function padPlot(r: PadReport): string {
  const t = r.operating.threshold;
  const bona = r.image_scores.filter((s) => s.bona_fide).map((s) => s.score);
  const attacks = r.image_scores.filter((s) => !s.bona_fide).map((s) => s.score);
  const panels = [
    detPanel({
      title: 'PAD, images: DET',
      xLabel: 'BPCER (bona fide called attacks)',
      yLabel: 'APCER (attacks accepted)',
      positives: attacks,
      negatives: bona,
      threshold: t,
      flag: flagsAttack,
    }),
    histogramPanel({
      title: 'PAD, images: attack score',
      xLabel: 'attack score',
      sets: [
        { name: 'bona fide', scores: bona },
        { name: 'attack', scores: attacks },
      ],
      threshold: t,
      lo: 0,
      hi: 1,
    }),
  ];
  const pres = r.operating.presentations?.list.filter((p) => p.aggregate !== null) ?? [];
  if (pres.length) {
    panels.push(
      histogramPanel({
        title: 'PAD, recordings: session aggregate',
        xLabel: 'median attack score per recording',
        sets: [
          { name: 'bona fide', scores: pres.filter((p) => p.bona_fide).map((p) => p.aggregate!) },
          { name: 'attack', scores: pres.filter((p) => !p.bona_fide).map((p) => p.aggregate!) },
        ],
        threshold: t,
        lo: 0,
        hi: 1,
        bins: 20,
      }),
    );
  }
  return figure(panels);
}

/** `eval sessions --plot`: per session, the match similarity and the attack aggregate by presentation class. */
export function sessionsPlot(r: SuiteReport, thresholds: { match: number; attack: number }): string {
  const sessions = r.cases.filter((c) => c.kind === 'session');
  const by = (cls: (c: (typeof sessions)[number]) => boolean, pick: (c: (typeof sessions)[number]) => number | null) =>
    sessions.filter(cls).flatMap((c) => (pick(c) === null ? [] : [pick(c)!]));
  const bona = (c: (typeof sessions)[number]) => c.class === 'bona_fide';
  const impostor = (c: (typeof sessions)[number]) => c.class === 'impostor';
  const attack = (c: (typeof sessions)[number]) => c.class.startsWith('attack');
  return figure([
    histogramPanel({
      title: 'sessions: match to the reference',
      xLabel: 'median similarity of the frontal samples',
      sets: [
        { name: 'bona fide', scores: by(bona, (c) => c.scores.match) },
        { name: 'impostor', scores: by(impostor, (c) => c.scores.match) },
        { name: 'attack', scores: by(attack, (c) => c.scores.match) },
      ],
      threshold: thresholds.match,
      lo: -0.3,
      hi: 1,
      bins: 26,
    }),
    histogramPanel({
      title: 'sessions: attack aggregate',
      xLabel: 'median attack score of the samples',
      sets: [
        { name: 'bona fide', scores: by(bona, (c) => c.scores.attack) },
        {
          name: 'replays',
          scores: by(
            (c) => c.class === 'attack:replay',
            (c) => c.scores.attack,
          ),
        },
        {
          name: 'other attacks (the challenge stops them)',
          scores: by(
            (c) => attack(c) && c.class !== 'attack:replay',
            (c) => c.scores.attack,
          ),
        },
      ],
      threshold: thresholds.attack,
      lo: 0,
      hi: 1,
      bins: 20,
    }),
  ]);
}
