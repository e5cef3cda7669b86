import t from 'tap';
import { resolveSessionConfig } from '../../agent/session/config.js';
import {
  clearWrongMove,
  dominantMove,
  extendStillRun,
  NEW_TRACK,
  trackGesture,
  type GestureFrame,
  type GestureTrack,
  type MoveEvent,
  type ClosureEvent,
} from '../../agent/session/gestures.js';
import type { MoveKind } from '../../agent/session/types.js';

const cfg = resolveSessionConfig();
const ANCHOR = { yaw: 0, pitch: 0 };

interface F {
  yaw?: number;
  pitch?: number;
  p?: number;
  score?: number;
}

/** Runs frames at 30 fps through the detector; collects the moves seen, released and the closures. */
function run(frames: (F | null)[], asked?: MoveKind, track: GestureTrack = NEW_TRACK) {
  const seen: MoveEvent[] = [];
  const released: MoveEvent[] = [];
  const closures: ClosureEvent[] = [];
  frames.forEach((f, index) => {
    const frame: GestureFrame = {
      index,
      tMs: (index * 1000) / 30,
      face: f
        ? {
            pose: { yaw: f.yaw ?? 0, pitch: f.pitch ?? 0, roll: 0 },
            eyes: { left: 0.3, right: 0.3, openProbability: f.p ?? 0.99 },
            detection: { box: { x: 0, y: 0, width: 1, height: 1 }, score: f.score ?? 0.99 },
          }
        : null,
    };
    const out = trackGesture(track, frame, ANCHOR, cfg, asked);
    track = out.track;
    if (out.move) seen.push(out.move);
    if (out.released) released.push(out.released);
    if (out.closure) closures.push(out.closure);
  });
  return { seen, released, closures, track };
}

const rep = <T>(n: number, x: T): T[] => Array.from({ length: n }, () => x);

t.test('dominant direction is measured against each threshold (20 deg yaw, 15 deg pitch)', async (t) => {
  t.equal(dominantMove({ yaw: 24, pitch: 16 }, cfg).kind, 'turn_left', '24/20 > 16/15');
  t.equal(dominantMove({ yaw: 19, pitch: -18 }, cfg).kind, 'look_down', '18/15 > 19/20');
  t.equal(dominantMove({ yaw: -30, pitch: 0 }, cfg).kind, 'turn_right', "yaw < 0 is the subject's own right");
});

t.test('a move: past the threshold for holdFrames frames, held until back below half of it', async (t) => {
  const r = run([...rep(3, {}), { yaw: 25 }, ...rep(10, { yaw: 30 }), { yaw: 12 }, { yaw: 9 }, ...rep(3, {})]);
  t.same(
    r.seen.map((m) => `${m.kind}@${m.first}`),
    ['turn_left@3'],
    'seen on its second frame past 20 degrees',
  );
  t.same(
    r.released.map((m) => `${m.kind}@${m.first}-${m.last} peak ${m.peakDeg}`),
    ['turn_left@3-14 peak 30'],
    'released when below 10 degrees (frame 15)',
  );
  const once = run([...rep(3, {}), { yaw: 25 }, {}, { yaw: 25 }, {}]);
  t.same(once.seen, [], 'one frame at a time is not held');
});

t.test('the way back is not a move: a held turn blocks new moves until released', async (t) => {
  // Turned right, the head comes back through neutral and overshoots 18 degrees to the left.
  const r = run([...rep(3, {}), ...rep(8, { yaw: -35 }), { yaw: -20 }, { yaw: -5 }, ...rep(6, { yaw: 18 }), ...rep(4, {})]);
  t.same(
    r.seen.map((m) => m.kind),
    ['turn_right'],
    'an 18 degree overshoot is no turn',
  );
  const big = run([...rep(3, {}), ...rep(8, { yaw: -35 }), { yaw: -5 }, ...rep(6, { yaw: 26 })]);
  t.same(
    big.seen.map((m) => m.kind),
    ['turn_right', 'turn_left'],
    'a 26 degree swing the other way is a turn of its own',
  );
});

t.test('a held move is released when the head moves further into another direction (flowing into the next move)', async (t) => {
  // A mild look up still held (pitch 10) while the head turns right.
  const r = run([...rep(3, {}), ...rep(5, { pitch: 20 }), ...rep(4, { pitch: 10 }), ...rep(5, { pitch: 10, yaw: -30 })]);
  t.same(
    r.seen.map((m) => m.kind),
    ['look_up', 'turn_right'],
  );
  t.equal(r.released[0].kind, 'look_up');
});

t.test('a release takes holdFrames frames: one odd frame of a half-hidden face releases nothing', async (t) => {
  // tranvanluyt real.mp4 frames 352-394 (bitexact decode): a deep bow held past look_down, one usable frame whose
  // pose reads 22.5 deg left and 14 deg down (the face half out of the detector's reach), then the bow again.
  const bow = [...rep(3, {}), ...rep(6, { pitch: -20 }), { yaw: 22.5, pitch: -14.2 }, { pitch: -30, score: 0.8 }, ...rep(6, { pitch: -41 })];
  const r = run(bow);
  t.same(r.released, [], 'not released by the one overtaking frame');
  t.equal(r.track.held?.kind, 'look_down', 'the bow is still the look down');
  const neutral = run([...rep(3, {}), ...rep(6, { pitch: -20 }), {}, ...rep(6, { pitch: -41 })]);
  t.same(neutral.released, [], 'nor by one frame back at neutral');
  const twice = run([...rep(3, {}), ...rep(6, { pitch: -20 }), { yaw: 22.5, pitch: -14.2 }, { yaw: 22.5, pitch: -14.2 }, ...rep(3, { pitch: -41 })]);
  t.same(
    twice.released.map((m) => m.kind),
    ['look_down'],
    'two frames overtaken release it',
  );
  t.same(
    twice.seen.map((m) => m.kind),
    ['look_down', 'look_down'],
    'and the bow after it is a new look down',
  );
});

t.test('a move that releases the last one counts its frames from its start (the head leaving the camera after 3 frames)', async (t) => {
  // zalo train/videos/1.mp4 frames 102-111: a look up, then a turn right for three frames before the face is lost.
  const r = run([
    ...rep(3, {}),
    ...rep(4, { pitch: 20 }),
    { yaw: -30, pitch: 6 },
    { yaw: -35, pitch: 11 },
    { yaw: -35, pitch: 10 },
    { yaw: -32, score: 0.8 },
    null,
  ]);
  t.same(
    r.seen.map((m) => `${m.kind}@${m.first}`),
    ['look_up@3', 'turn_right@7'],
    'the turn right is seen on the frame after the release, from its first frame',
  );
});

t.test('an asked move counts whatever the other axis does; weak detections are gaps', async (t) => {
  const diagonal = run([...rep(3, {}), ...rep(3, { yaw: 30, pitch: 16 })], 'look_up');
  t.same(
    diagonal.seen.map((m) => m.kind),
    ['look_up'],
    'asked look_up: 16 deg up with 30 deg of yaw is a look up',
  );
  const weak = run([...rep(3, {}), { yaw: 30, score: 0.6 }, { yaw: 30 }, { yaw: 30, score: 0.6 }, {}]);
  t.same(weak.seen, [], 'frames under minPoseFaceScore neither count nor break the count');
});

t.test('eye closures: open first, at least minBlinkClosedMs, head within blinkMaxPoseDeg', async (t) => {
  const blink = run([...rep(3, {}), ...rep(3, { p: 0.02 }), ...rep(3, {})]);
  t.same(
    blink.closures.map((c) => `${c.first}-${c.last} ${c.blink}`),
    ['3-5 true'],
  );
  t.equal(Math.round(blink.closures[0].durationMs), 100);
  t.same(run([...rep(3, {}), { p: 0.02 }, ...rep(3, {})]).closures, [], 'one frame at 30 fps (33 ms) is a flicker');
  t.same(run([...rep(3, { p: 0.02 }), ...rep(3, {})]).closures, [], 'closed from the start: no open eyes before');
  const long = run([...rep(3, {}), ...rep(40, { p: 0.02 }), {}]);
  t.same(
    long.closures.map((c) => c.blink),
    [false],
    'longer than maxBlinkClosedMs: eyes closed, not a blink',
  );
  const bowed = run([...rep(3, {}), ...rep(3, { pitch: -30, p: 0.02 }), ...rep(3, {})]);
  t.same(bowed.closures, [], 'lids of a head bowed 30 degrees are not read');
  const half = run([...rep(3, {}), ...rep(3, { p: 0.4 }), ...rep(3, {})]);
  t.same(half.closures, [], 'between the thresholds is not closed');
});

t.test('clear wrong move: past threshold + margin from the anchor AND from the step start, and dominating', async (t) => {
  const from = (yaw: number, pitch: number) => ({ yaw, pitch });
  t.equal(clearWrongMove('turn_left', from(-26, 0), from(-26, 0), cfg), 'turn_right');
  t.equal(clearWrongMove('turn_left', from(-24, 0), from(-24, 0), cfg), null, 'under 20 + 5');
  t.equal(clearWrongMove('look_up', from(0, -24), from(0, -12), cfg), null, 'already 12 low at the step start: only 12 more');
  t.equal(clearWrongMove('turn_left', from(26, 0), from(26, 0), cfg), null, 'the asked direction is never wrong');
  t.equal(clearWrongMove('turn_left', from(30, -22), from(30, -22), cfg), null, 'look down 22/15 = 1.47 < 30/20 = 1.5: the asked turn dominates');
  t.equal(clearWrongMove('blink', from(0, 21), from(0, 21), cfg), 'look_up', 'any clear move during a blink step');
});

t.test("the gate's stillness rule: frames within qualityMaxPoseSpreadDeg over qualityStableMs, anchor at the median", async (t) => {
  let runPoses: { yaw: number; pitch: number; tMs: number }[] = [];
  const feed = (yaw: number, pitch: number, tMs: number) => {
    const r = extendStillRun(runPoses, { yaw, pitch, tMs }, cfg);
    runPoses = r.run;
    return r;
  };
  for (let i = 0; i < 6; i++) t.equal(feed(i, 0, i * 33).still, false, `frame ${i} (${i * 33} ms)`);
  const r = feed(1, 0, 200);
  t.ok(r.still);
  t.same(r.anchor, { yaw: 2, pitch: 0 }, 'median yaw of 0, 1, 2, 3, 4, 5, 1');
  const broke = feed(20, 0, 233);
  t.ok(broke.broke);
  t.equal(broke.still, false);
  t.equal(broke.run.length, 1);
});
