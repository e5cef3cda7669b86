/**
 * `kiosk-agent eval sessions` as a user calls it: a suite derived from label files (written out
 * with --write-suite, which runs nothing), and the usage and label errors it must name.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readSuite } from '../../agent/session/suite.js';
import { DATA_DIR, hasData, NO_DATA } from '../helpers/data.js';
import { ownTempDir } from '../helpers/tempdir.js';

const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'agent/cli/main.ts', 'eval', 'sessions', ...args], { encoding: 'utf8' });

t.test('--videos with --write-suite writes the derived suite and runs nothing', { skip: hasData ? false : NO_DATA }, async (t) => {
  const out = join(ownTempDir(t, 'eval-sessions-'), 'derived.tsv');
  const labels = join(DATA_DIR, 'labels');
  const r = cli(
    '--videos',
    join(labels, 'videos.tsv'),
    '--identity',
    join(labels, 'photo-video-identity.tsv'),
    '--replay-of',
    join(labels, 'replay-of.tsv'),
    '--root',
    DATA_DIR,
    '--write-suite',
    out,
  );
  t.equal(r.status, 0, r.stderr);
  const cases = await readSuite(out);
  t.match(r.stdout, new RegExp(`^${cases.length} cases derived from the label files .*videos\\.tsv`));
  const bona = cases.filter((c) => c.class === 'bona_fide');
  t.ok(bona.length >= 10, `${bona.length} genuine sessions`);
  t.equal(cases.filter((c) => c.class === 'impostor').length, bona.length, 'an impostor per genuine');
  t.ok(
    cases.filter((c) => c.class === 'attack:replay').every((c) => c.expected === 'reject|retry'),
    'replays: not accepted',
  );
  t.notMatch(readFileSync(out, 'utf8'), /\.\.\//, 'paths stay relative to the data root');
});

t.test('--suite and --videos: exactly one, and the label options go with --videos', async (t) => {
  const neither = cli('--root', '.');
  t.equal(neither.status, 2);
  t.match(neither.stderr, /error E_USAGE: give either --suite <tsv> or --videos <tsv>/);
  const both = cli('--suite', 'a.tsv', '--videos', 'b.tsv', '--root', '.');
  t.equal(both.status, 2);
  t.match(both.stderr, /E_USAGE/);
  const stray = cli('--suite', 'test/fixtures/sessions-dev.tsv', '--replay-of', 'r.tsv', '--root', '.');
  t.equal(stray.status, 2);
  t.match(stray.stderr, /E_USAGE: --replay-of goes with --videos, not --suite/);
});

t.test('label files that do not fit are refused, naming the file and line, before any model loads', async (t) => {
  const dir = ownTempDir(t, 'eval-sessions-');
  const videos = join(dir, 'videos.tsv');
  const replay = join(dir, 'replay-of.tsv');
  writeFileSync(
    videos,
    'video\tclass\tfps\tframes\tevents\tlabel_quality\nlive.mp4\tbona_fide\t30\t100\tfrontal@0-20;yaw_image_left@30-50;pitch_up@60-80\t-\n',
  );
  writeFileSync(replay, 'attack_video\tsource_live_video\tlabel_source\nlive.mp4\tlive.mp4\tby eye\n');
  const r = cli('--videos', videos, '--replay-of', replay, '--root', dir, '--write-suite', join(dir, 'out.tsv'));
  t.equal(r.status, 2);
  t.match(r.stderr, /E_LABELS_INVALID: .*replay-of\.tsv:2: attack_video live\.mp4 is not an attack/);
  const missing = cli('--videos', join(dir, 'nope.tsv'), '--root', dir);
  t.equal(missing.status, 2);
  t.match(missing.stderr, /E_INPUT_NOT_FOUND/);
});
