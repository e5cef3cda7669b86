import t from 'tap';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { labelledPlan, referenceFrame, suiteFromLabels, suiteToTsv } from '../../agent/eval/suite-from-labels.js';
import { parseEvents, parseIdentityLabels, parseReplayOf, parseVideoLabels, type VideoRow } from '../../agent/eval/labels.js';
import { casePasses, parseSuite, type SuiteCase } from '../../agent/session/suite.js';
import { DATA_DIR, hasData, NO_DATA } from '../helpers/data.js';

const VIDEOS_HEAD = 'video\tclass\tfps\tframes\tevents\tlabel_quality';
const IDENTITY_HEAD = 'photo\tvideo\tsame_identity\tlabel_source';
const REPLAY_HEAD = 'attack_video\tsource_live_video\tlabel_source';

const video = (path: string, cls: string, frames: number, events: string, quality = 'by eye'): string =>
  [path, cls, '30', String(frames), events, quality].join('\t');
const videos = (...rows: string[]) => parseVideoLabels([VIDEOS_HEAD, ...rows].join('\n'), 'videos.tsv');
const row = (events: string, frames = 300, quality = 'by eye'): VideoRow => videos(video('v.mp4', 'bona_fide', frames, events, quality))[0];

t.test('plan: image directions become the subject’s, in labelled order', async (t) => {
  const p = labelledPlan(row('frontal@0-20;yaw_image_right@30-60;yaw_image_left@70-90;pitch_down@100-120;pitch_up@130-150'));
  t.same(p, { steps: ['turn_left', 'turn_right', 'look_down', 'look_up'], weak: false }, 'yaw_image_right is the subject turning to their own left');
});

t.test('plan: a move before the face first settles is not asked for; repeats in a row merge; at most four steps', async (t) => {
  t.same(labelledPlan(row('yaw_image_right@0-10;frontal@12-40;yaw_image_left@44-74;blink@77-80;pitch_up@104-136'))?.steps, ['turn_right', 'look_up']);
  t.same(labelledPlan(row('frontal@0-9;yaw_image_left@10-20;yaw_image_left@25-40;pitch_up@50-60'))?.steps, ['turn_right', 'look_up']);
  const five = 'frontal@0-9;yaw_image_left@10-20;pitch_up@25-40;yaw_image_right@50-60;pitch_down@70-80;yaw_image_left@90-99';
  t.same(labelledPlan(row(five))?.steps, ['turn_right', 'look_up', 'turn_left', 'look_down']);
  t.same(labelledPlan(row('yaw_image_left@10-20;pitch_up@25-40')), { steps: ['turn_right', 'look_up'], weak: false }, 'no frontal range: every move counts');
});

t.test('plan: one move, or blinks only, is a weak plan; nothing labelled is no plan', async (t) => {
  t.same(labelledPlan(row('frontal@0-20;pitch_up@30-60')), { steps: ['look_up'], weak: true });
  t.same(labelledPlan(row('blink@10-14;blink@40-44;blink@82-85;eyes_closed@137-194')), { steps: ['blink', 'blink'], weak: true });
  t.same(labelledPlan(row('frontal@0-74;blink@27-31')), { steps: ['blink'], weak: true });
  t.equal(labelledPlan(row('frontal@0-299')), null);
  t.equal(labelledPlan(row('-')), null);
  t.equal(labelledPlan(row('blink@10-14', 300, 'blinks not labelled')), null, 'unlabelled blinks are unknown, not a plan');
});

t.test('reference frame: the middle of the longest frontal range, the later on a tie; else the longest quiet stretch', async (t) => {
  t.equal(referenceFrame(row('frontal@0-45;yaw_image_right@60-150;frontal@480-620', 621)), 550);
  t.equal(referenceFrame(row('frontal@0-10;yaw_image_right@20-30;frontal@40-50', 60)), 45, 'tie: the later one');
  t.equal(referenceFrame(row('frontal@0-999', 100)), 49, 'clipped to the recording');
  t.equal(referenceFrame(row('blink@10-14;blink@40-44;blink@82-85;eyes_closed@137-194;blink@220-224', 300)), 262, 'after the last blink: 225-299');
  t.equal(referenceFrame(row('blink@0-299', 300)), 150, 'no quiet frame: the middle');
  t.equal(referenceFrame(row('-', 31)), 15);
});

const LIVE_A = 'a/live.mp4';
const LIVE_B = 'b/live.mp4';
const LIVE_C = 'c/clip.mp4';
const QUIET = 'd/talk.mp4';
const REPLAY = 'r/replay.mp4';
const MOVES = 'frontal@0-20;yaw_image_right@30-60;frontal@61-70;yaw_image_left@71-100;frontal@101-140';

function sample(identity = [`a/selfie.jpg\t${LIVE_A}\t1\tindex`, `b/selfie.jpg\t${LIVE_B}\t1\tindex`]) {
  return {
    videos: videos(
      video(LIVE_A, 'bona_fide', 141, MOVES),
      video(LIVE_B, 'bona_fide', 141, MOVES),
      video(LIVE_C, 'bona_fide', 100, 'frontal@0-99;blink@30-34'),
      video(QUIET, 'bona_fide', 300, 'frontal@0-299'),
      video(REPLAY, 'attack:replay', 200, 'frontal@0-199'),
    ),
    identity: parseIdentityLabels([IDENTITY_HEAD, ...identity].join('\n'), 'identity.tsv'),
    replayOf: parseReplayOf([REPLAY_HEAD, `${REPLAY}\t${LIVE_B}\tindex`].join('\n'), 'replay-of.tsv'),
  };
}

const find = (cases: SuiteCase[], prefix: string, path: string) => {
  const c = cases.find((x) => x.name.startsWith(prefix) && x.video.split('#')[0] === path);
  if (!c) throw new Error(`no ${prefix} case for ${path}`);
  return c;
};

t.test('suite: per live person genuine, impostor, wrong order and still; the attack gets its live person’s reference and plan', async (t) => {
  const cases = suiteFromLabels(sample());
  const genuineA = find(cases, 'genuine', LIVE_A);
  t.match(genuineA, { class: 'bona_fide', id: 'a/selfie.jpg', challenge: 'turn_left,turn_right', expected: 'accept', config: {} });
  t.match(find(cases, 'impostor', LIVE_A), { class: 'impostor', id: 'b/selfie.jpg', expected: 'reject', expectedReason: 'no_match' });
  t.match(find(cases, 'impostor', LIVE_B), { id: 'a/selfie.jpg' }, 'the next person with a photo, round the file');
  t.match(find(cases, 'impostor', LIVE_C), { id: 'a/selfie.jpg' }, 'someone without a photo gets a photo too');
  t.match(find(cases, 'wrong-order', LIVE_A), {
    class: 'attack:wrong_order',
    id: 'a/selfie.jpg',
    challenge: 'turn_right,turn_left',
    expected: 'reject',
    expectedReason: 'challenge_wrong_action',
  });
  t.match(find(cases, 'still', LIVE_A), { class: 'attack:still', video: `${LIVE_A}#frame=120`, expected: 'reject|retry', expectedReason: null });
  t.match(find(cases, 'genuine', LIVE_C), {
    id: `${LIVE_C}#frame=49`,
    challenge: 'blink',
    config: { allowWeakPlans: true },
  });
  t.notOk(
    cases.some((c) => c.name.startsWith('wrong-order') && c.video === LIVE_C),
    'no wrong order for a one-step plan',
  );
  t.match(find(cases, 'no-action', QUIET), { class: 'non_compliant', challenge: 'turn_left,turn_right', expected: 'reject|retry' });
  t.notOk(
    cases.some((c) => c.name.startsWith('genuine') && c.video === QUIET),
    'a recording with no labelled action is no genuine session',
  );
  t.match(find(cases, 'replay', REPLAY), {
    class: 'attack:replay',
    id: 'b/selfie.jpg',
    challenge: 'turn_left,turn_right',
    expected: 'reject|retry',
  });
  t.equal(new Set(cases.map((c) => c.name)).size, cases.length, 'names are unique');
  t.equal(cases.length, 3 * 4 - 1 + 1 + 1, 'A, B: four each; C: three; the quiet clip; the replay');
});

t.test('suite: without identity labels the reference is a frame of the recording; a same_identity 0 row is one more impostor', async (t) => {
  const bare = suiteFromLabels({ videos: sample().videos });
  t.equal(find(bare, 'genuine', LIVE_A).id, `${LIVE_A}#frame=120`);
  t.equal(find(bare, 'replay', REPLAY).id, `${REPLAY}#frame=99`, 'no replay-of: its own frame');
  const extra = suiteFromLabels(sample([`a/selfie.jpg\t${LIVE_A}\t1\tindex`, `z/other.jpg\t${LIVE_A}\t0\tindex`]));
  const impostors = extra.filter((c) => c.class === 'impostor' && c.video === LIVE_A);
  t.same(
    impostors.map((c) => c.id).sort(),
    [`${LIVE_B}#frame=120`, 'z/other.jpg'],
    'no one else has a photo here: the next person’s frame; and the named non-match',
  );
});

t.test('suite: label files that disagree are refused, naming the file and line', async (t) => {
  const s = sample();
  t.throws(() => suiteFromLabels({ ...s, identity: parseIdentityLabels(`${IDENTITY_HEAD}\nx.jpg\tnope.mp4\t1\t-`, 'id.tsv') }, { identity: 'id.tsv' }), {
    code: 'E_LABELS_INVALID',
    message: /id\.tsv:2: video nope\.mp4/,
  });
  t.throws(() => suiteFromLabels({ ...s, replayOf: parseReplayOf(`${REPLAY_HEAD}\n${LIVE_A}\t${LIVE_B}\t-`, 'r.tsv') }, { replayOf: 'r.tsv' }), {
    code: 'E_LABELS_INVALID',
    message: /r\.tsv:2: attack_video a\/live\.mp4 is not an attack/,
  });
  t.throws(() => suiteFromLabels({ ...s, replayOf: parseReplayOf(`${REPLAY_HEAD}\n${REPLAY}\t${REPLAY}\t-`, 'r.tsv') }, { replayOf: 'r.tsv' }), {
    message: /source_live_video r\/replay\.mp4 is not bona fide/,
  });
  t.throws(() => parseIdentityLabels(`${IDENTITY_HEAD}\nx.jpg\tv.mp4\tyes\t-`, 'id.tsv'), {
    code: 'E_LABELS_INVALID',
    message: /same_identity must be 1 or 0/,
  });
  t.throws(() => parseReplayOf(`${REPLAY_HEAD}\n/etc/passwd\tv.mp4\t-`, 'r.tsv'), { code: 'E_LABELS_INVALID', message: /relative/ });
  t.throws(() => parseReplayOf('attack\tsource\n', 'r.tsv'), { code: 'E_LABELS_INVALID', message: /header/ });
});

t.test('suite file round trip: what --write-suite writes reads back to the same cases', async (t) => {
  const cases = suiteFromLabels(sample());
  t.same(parseSuite(suiteToTsv(cases), 'derived.tsv'), cases);
});

t.test('reject|retry passes on either, never on accept; a stated reason still has to be the first', async (t) => {
  const c = parseSuite(
    ['case\tkind\tclass\tid\tvideo\tchallenge\texpected\texpected_reason\tconfig\tnote', 'x\tsession\tattack:still\ti\tv\tblink\tretry|reject\t-\t-\t'].join(
      '\n',
    ),
  )[0];
  t.equal(c.expected, 'reject|retry');
  t.ok(casePasses(c, 'reject', ['challenge_timeout']));
  t.ok(casePasses(c, 'retry', ['quality']));
  t.notOk(casePasses(c, 'accept', []));
  t.notOk(casePasses({ ...c, expectedReason: 'challenge_timeout' }, 'retry', ['quality']));
  t.throws(() => parseSuite(['x\tsession\tbona_fide\ti\tv\tblink\taccept|retry\t-\t-\t'].join('\n')), { code: 'E_LABELS_INVALID', message: /reject\|retry/ });
});

t.test('on the data’s own labels: the plans the labels give are the ones the dev suite was written with', { skip: hasData ? false : NO_DATA }, async (t) => {
  const read = async (f: string) => readFile(join(DATA_DIR, 'labels', f), 'utf8');
  const cases = suiteFromLabels({
    videos: parseVideoLabels(await read('videos.tsv'), 'videos.tsv'),
    identity: parseIdentityLabels(await read('photo-video-identity.tsv'), 'photo-video-identity.tsv'),
    replayOf: parseReplayOf(await read('replay-of.tsv'), 'replay-of.tsv'),
  });
  const dev = parseSuite(await readFile(fileURLToPath(new URL('../fixtures/sessions-dev.tsv', import.meta.url)), 'utf8'));
  // the dev suite's hand-written plans for the recordings whose moves it asks for (blinks asked between moves are not derived)
  let compared = 0;
  for (const d of dev.filter((x) => x.class === 'bona_fide' && x.kind === 'session' && !x.challenge.includes('blink'))) {
    const derived = find(cases, 'genuine', d.video);
    t.equal(derived.challenge, d.challenge, d.name);
    if (!d.id.includes('#frame=')) t.equal(derived.id, d.id, `${d.name}: the selfie is the reference`);
    compared++;
  }
  t.ok(compared >= 7, `${compared} plans compared`);
  for (const d of dev.filter((x) => x.class === 'attack:replay' && !x.name.includes('masked'))) {
    t.equal(find(cases, 'replay', d.video).challenge, d.challenge, `${d.name}: the live person's plan`);
  }
  t.same(parseEvents('-', 'videos.tsv', 1), [], '"-" is no labelled event');
});
