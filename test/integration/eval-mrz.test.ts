import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expectedScoreOf, parseMrzLabels, passportEyeScore, runMrzEval } from '../../agent/eval/run-mrz.js';
import { DATA_DIR } from '../helpers/data.js';
import { ownTempDir } from '../helpers/tempdir.js';

const SPECIMENS = join(DATA_DIR, 'passporteye-specimens');
const hasSpecimens = existsSync(SPECIMENS);
const NO_SPECIMENS = `${SPECIMENS} is absent: skipping the MRZ evaluation on PassportEye's specimens`;
const hasTesseract = spawnSync('tesseract', ['--version']).status === 0;

// The ICAO 9303 "Utopia" specimens PassportEye's own tests read (public test values).
const TD3 = 'P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<|L898902C36UTO7408122F1204159ZE184226B<<<<<10';
const TD2 = 'I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<|D231458907UTO7408122F1204159<<<<<<<6';

t.test('scoring: PassportEye valid_score, file-name prefixes, labels', async (t) => {
  t.equal(passportEyeScore(TD3.split('|')), 100);
  t.equal(passportEyeScore(TD2.split('|')), 100);
  t.equal(passportEyeScore(null), 0, 'nothing read scores 0');
  // Birth date check digit wrong: 10 points of 54 lost (PassportEye's TD3 weighting), composite too.
  t.equal(passportEyeScore(['P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<', 'L898902C36UTO7408123F1204159ZE184226B<<<<<10']), 62);
  t.equal(expectedScoreOf('passporteye-specimens/passporteye/mrz/testdata/62_pass-aus.png'), 62);
  t.equal(expectedScoreOf('other/set/12_page.jpg'), null, 'only PassportEye testdata names carry a score');
  t.same(parseMrzLabels(`image\tmrz\na.jpg\t${TD2}\n`, 'l.tsv'), [{ image: 'a.jpg', lines: TD2.split('|') }]);
  t.throws(() => parseMrzLabels('a.jpg\tP<UTO lower\n', 'l.tsv'), { code: 'E_LABELS_INVALID', message: /l\.tsv:1/ });

  // The runner with a stand-in reader: counts, fields against labels, a failed read counted as not found.
  const report = await runMrzEval(
    ['a.jpg', 'b.jpg'],
    {
      read: async (image) => {
        if (image === 'b.jpg') throw new Error('unreadable');
        return { format: 'TD2', lines: TD2.split('|'), failed: [], checks: [], repairs: [], rotation: 0, method: 'band' };
      },
      now: (() => {
        let ms = 0;
        return () => (ms += 100);
      })(),
    },
    new Map([['a.jpg', TD2.split('|')]]),
  );
  t.same([report.found.count, report.found.total, report.fields_right.count, report.fields_right.total], [1, 2, 1, 1]);
  t.equal(report.wall_ms_median, 100);
  t.equal(report.failures[0]?.file, 'b.jpg');
});

t.test(
  'eval mrz on the PassportEye specimens (real tesseract)',
  { skip: !hasSpecimens ? NO_SPECIMENS : !hasTesseract ? 'tesseract is not installed' : false },
  async (t) => {
    const dir = ownTempDir(t, 'eval-mrz-');
    const labels = join(dir, 'labels.tsv');
    writeFileSync(labels, `image\tmrz\npassporteye-specimens/tests/data/passport-td3.png\t${TD3}\npassporteye-specimens/tests/data/passport-td2.jpg\t${TD2}\n`);
    const run = (...args: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', 'agent/cli/main.ts', 'eval', 'mrz', '--root', DATA_DIR, ...args], { encoding: 'utf8', timeout: 240_000 });

    const json = run('--labels', labels, '--json');
    t.equal(json.status, 0, json.stderr);
    const doc = JSON.parse(json.stdout) as {
      images: number;
      found: { count: number; total: number };
      access_key_valid: { count: number };
      rows: { image: string; fields: unknown; wall_ms: number }[];
    };
    t.equal(doc.images, 2);
    t.equal(doc.found.total, 2);
    t.ok(doc.access_key_valid.count >= 1, `the access key read from at least one ICAO specimen (got ${doc.access_key_valid.count}/2)`);
    t.ok(
      doc.rows.every((r) => r.fields !== null && r.wall_ms > 0),
      'every labelled image compared and timed',
    );

    const text = run('--labels', labels);
    t.equal(text.status, 0, text.stderr);
    t.match(text.stdout, /check digits valid\s+\d+\/2/);
    t.match(text.stdout, /wall time per image\s+median \d+ ms/);
    t.notMatch(text.stdout, /L898902C3|740812/, 'no document number or birth date in the text report');

    const missing = run('--labels', join(dir, 'none.tsv'));
    t.equal(missing.status, 2, 'a missing labels file is an error');
    t.match(missing.stderr, /E_INPUT_NOT_FOUND/);
  },
);
