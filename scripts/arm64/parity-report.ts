/**
 * The arm64 parity report: compares the dumps of scripts/arm64/parity.ts and the two machines'
 * `eval sessions --json` outputs, prints Markdown (and `--json-out` the figures), writes `--md-out`.
 *   parity-report.ts --a x86.json --b arm64.json [--self arm64-self.json] [--sessions-a s.json --sessions-b s.json]
 *                    [--stages stages.tsv] [--commit c] [--md-out docs/arm64-parity.md] [--json-out report.json]
 */
import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { compareDumps, compareVerdicts, sessionVerdicts, type MaxDiff, type ParityComparison, type ParityDump } from './parity-compare.js';

/** Small differences keep their magnitude (2.3e-6, not 0.0000); exact zeros stay 0. */
const fmt = (x: number | null, digits = 4) =>
  x === null ? '-' : !Number.isFinite(x) ? 'differs in size' : x !== 0 && Math.abs(x) < 10 ** -digits ? x.toExponential(1) : x.toFixed(digits);
const where = (d: MaxDiff) => (d.clip === null ? '' : `${d.clip} frame ${d.frame}`);

const SIGNAL_UNITS: Record<string, string> = {
  yaw: 'degrees',
  pitch: 'degrees',
  roll: 'degrees',
  eyeOpen: 'probability',
  attack: 'fused attack score',
  similarity: 'cosine to the clip\u2019s first face',
};

/** The Markdown tables of one comparison. */
function comparisonMarkdown(title: string, c: ParityComparison): string {
  const lines = [
    `### ${title}`,
    '',
    `${c.frames} frames compared (${c.b.arch}, inputs ${c.b.inputs}, isolated models fed the ${c.b.anchor} faces, vs ${c.a.arch}).`,
    '',
  ];
  if (c.decode) {
    lines.push(
      `Decoding: largest pixel difference ${c.decode.maxPixel} (of 255), mean ${c.decode.meanPixel.toFixed(3)}; frames of another size: ${c.decode.sizeMismatch}.`,
      '',
    );
  }
  lines.push('| model output | largest abs. difference | where | values compared |', '|---|---|---|---|');
  for (const [k, d] of Object.entries(c.models)) lines.push(`| ${k} | ${fmt(d.max)} | ${where(d)} | ${d.compared} |`);
  lines.push('', `Embedding: smallest cosine between the two machines' embeddings of the same crop: ${fmt(c.embeddingCosineMin, 6)}.`, '');
  lines.push('| signal (own chain) | largest abs. difference | unit | where |', '|---|---|---|---|');
  for (const [k, d] of Object.entries(c.signals)) lines.push(`| ${k} | ${fmt(d.max)} | ${SIGNAL_UNITS[k] ?? ''} | ${where(d)} |`);
  lines.push('', `Frames where one machine found a face and the other did not: ${c.faceFoundMismatch}.`, '');
  return lines.join('\n');
}

async function readJson(path: string): Promise<unknown> {
  return JSON.parse(await readFile(path, 'utf8'));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      a: { type: 'string' },
      b: { type: 'string' },
      self: { type: 'string' },
      'sessions-a': { type: 'string' },
      'sessions-b': { type: 'string' },
      stages: { type: 'string' },
      commit: { type: 'string' },
      'md-out': { type: 'string' },
      'json-out': { type: 'string' },
    },
  });
  if (!values.a || !values.b) throw new Error('usage: parity-report.ts --a <x86 dump> --b <arm64 dump> [...]');
  const a = (await readJson(values.a)) as ParityDump;
  const b = (await readJson(values.b)) as ParityDump;
  const shared = compareDumps(a, b);
  const self = values.self ? compareDumps(a, (await readJson(values.self)) as ParityDump) : null;
  let verdicts: ReturnType<typeof compareVerdicts> | null = null;
  const notes: string[] = [];
  if (values['sessions-a'] && values['sessions-b']) {
    try {
      verdicts = compareVerdicts(sessionVerdicts(await readJson(values['sessions-a'])), sessionVerdicts(await readJson(values['sessions-b'])));
    } catch (err) {
      notes.push(`Session verdicts not compared: ${err instanceof Error ? err.message : String(err)}.`);
    }
  }
  const stages = values.stages ? (await readFile(values.stages, 'utf8')).trim().split('\n').filter(Boolean) : [];
  const modelIds = b.models.map((m) => m.id).join(', ');
  const sameModels = JSON.stringify(a.models) === JSON.stringify(b.models);
  const md = [
    '# arm64 parity report (last run)',
    '',
    `Written by \`npm run check:arm64\` on ${new Date().toISOString()}, commit ${values.commit ?? 'unknown'}. ` +
      `${a.arch} (Node ${a.node}) vs ${b.arch} (Node ${b.node}, emulated by qemu-user).`,
    `Models: ${modelIds}; same files (sha256) on both: ${sameModels ? 'yes' : '**no**'}. Clips: ${b.clips.map((c) => `${c.clip} (${c.frames.length})`).join(', ')}.`,
    '',
    comparisonMarkdown('Same decoded frames (model differences only)', shared),
    self ? comparisonMarkdown('Each machine decodes the clips itself (decoding + model differences)', self) : '',
    '### Dev session suite, side by side',
    '',
    ...(verdicts
      ? [
          `Verdicts the same on both: ${verdicts.filter((v) => v.same).length}/${verdicts.length}; as the suite expects: ` +
            `${verdicts.filter((v) => v.a?.verdict === v.expected).length}/${verdicts.length} on ${a.arch}, ` +
            `${verdicts.filter((v) => v.b?.verdict === v.expected).length}/${verdicts.length} on ${b.arch}.`,
          '',
          `| case | expected | ${a.arch} | ${b.arch} | same |`,
          '|---|---|---|---|---|',
          ...verdicts.map(
            (v) =>
              `| ${v.case} | ${v.expected} | ${v.a ? `${v.a.verdict} ${v.a.reasons.join(',')}` : 'not run'} | ${v.b ? `${v.b.verdict} ${v.b.reasons.join(',')}` : 'not run'} | ${v.same ? 'yes' : '**no**'} |`,
          ),
          '',
        ]
      : ['Not run (see the stages below).', '']),
    ...notes,
    ...(stages.length ? ['### Stages', '', '| stage | seconds | result |', '|---|---|---|', ...stages.map((s) => `| ${s.split('\t').join(' | ')} |`), ''] : []),
  ].join('\n');
  process.stdout.write(`${md}\n`);
  if (values['md-out']) await writeFile(values['md-out'], `${md}\n`);
  if (values['json-out']) await writeFile(values['json-out'], `${JSON.stringify({ shared, self, verdicts, stages }, null, 2)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`parity-report: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
