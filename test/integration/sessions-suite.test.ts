/**
 * The dev suite (test/fixtures/sessions-dev.tsv) on real recordings: every case must give the
 * expected verdict, and the expected first reason where one is given. Every frame (as --fast).
 */
import t from 'tap';
import { fileURLToPath } from 'node:url';
import { createFaceEngine } from '../../models/face-engine.js';
import { formatSuite, readSuite, runSuite } from '../../agent/session/suite.js';
import { DATA_DIR, hasData, NO_DATA } from '../helpers/data.js';

const SUITE = fileURLToPath(new URL('../fixtures/sessions-dev.tsv', import.meta.url));

t.test('dev suite: every case as expected, for the expected reason', { skip: hasData ? false : NO_DATA, timeout: 600_000 }, async (t) => {
  const cases = await readSuite(SUITE);
  t.ok(cases.length >= 9, `${cases.length} cases`);
  const engine = createFaceEngine();
  await engine.start();
  t.teardown(() => engine.stop());
  const report = await runSuite(engine, cases, { root: DATA_DIR });
  t.comment(`\n${formatSuite(report)}`);
  for (const c of report.cases) {
    t.ok(c.pass, `${c.case}: expected ${c.expected.verdict} ${c.expected.reason ?? ''}, got ${c.actual.verdict} ${c.actual.reasons.join(',')}`);
  }
  const replay = report.cases.find((c) => c.case === 'replay-monitor');
  const genuine = report.cases.find((c) => c.case === 'genuine-headturn');
  t.comment(
    `motion residual (max over steps): genuine ${genuine?.scores.motionResidual?.toFixed(3)} (${genuine?.scores.motionSteps}); replay ${replay?.scores.motionResidual?.toFixed(3)} (${replay?.scores.motionSteps})`,
  );
});
