import t from 'tap';
import {
  detectEyeClosures, detectHeadMovements, detectVideoEvents, type DetectedEvent, type FrameSample,
} from '../../agent/eval/events.js';
import { expectedEvents, labelKindToEventKind, scoreCategory, scoreEvents, type ExpectedEvent } from '../../agent/eval/event-match.js';

const FPS = 30;

/** n frames at 30 fps; `f(i)` gives the signals of frame i (undefined = no face). */
function series(n: number, f: (i: number) => Omit<FrameSample, 'index' | 'timeMs'> | undefined): FrameSample[] {
  return Array.from({ length: n }, (_, i) => ({ index: i, timeMs: (i * 1000) / FPS, ...(f(i) ?? {}) }));
}

const spans = (events: DetectedEvent[]) => events.map((e) => `${e.kind}@${e.first}-${e.last}`);

t.test('eye closures: hysteresis, minimum duration, baseline of open frames only', async (t) => {
  const ear = new Map<number, number>([
    // blink: 0.20/0.30 = 0.67 < 0.7 closes at 40; 0.24/0.30 = 0.8 <= 0.85 keeps it closed at 43; 44 is open
    [40, 0.2], [41, 0.1], [42, 0.12], [43, 0.24],
    // one-frame dip: 33 ms < 60 ms minimum: dropped
    [60, 0.1],
  ]);
  // long closure 100-160: the baseline must not learn it, so the blink at 200-202 is still found
  for (let i = 100; i <= 160; i++) ear.set(i, 0.08);
  for (let i = 200; i <= 202; i++) ear.set(i, 0.12);
  const events = detectEyeClosures(series(240, (i) => ({ ear: ear.get(i) ?? 0.3 })));
  t.same(spans(events), ['eyes_closed@40-43', 'eyes_closed@100-160', 'eyes_closed@200-202']);
  t.ok(Math.abs(events[0].peak - 0.1 / 0.3) < 1e-9, 'peak = deepest EAR / baseline');
});

t.test('eye closures: the baseline is per video, not a fixed EAR', async (t) => {
  // narrow eyes: open EAR 0.18 (below the "typical" 0.25), a blink to 0.09 is half of it
  const narrow = detectEyeClosures(series(100, (i) => ({ ear: i >= 50 && i <= 53 ? 0.09 : 0.18 })));
  t.same(spans(narrow), ['eyes_closed@50-53']);
  // slow drift from 0.30 to 0.24 over 10 s with +-3 % jitter: no event
  const drift = detectEyeClosures(series(300, (i) => ({ ear: (0.3 - (0.06 * i) / 300) * (i % 2 ? 1.03 : 0.97) })));
  t.same(spans(drift), []);
});

t.test('eye closures: missing frames', async (t) => {
  // closed 100-140, face lost 115-120 (6 frames, 200 ms < 300 ms): still one closure
  const short = detectEyeClosures(series(200, (i) => (i >= 115 && i <= 120 ? undefined : { ear: i >= 100 && i <= 140 ? 0.1 : 0.3 })));
  t.same(spans(short), ['eyes_closed@100-140']);
  // face lost 115-130 (16 frames, 533 ms): the closure ends at 114, a new one starts at 131
  const long = detectEyeClosures(series(200, (i) => (i >= 115 && i <= 130 ? undefined : { ear: i >= 100 && i <= 140 ? 0.1 : 0.3 })));
  t.same(spans(long), ['eyes_closed@100-114', 'eyes_closed@131-140']);
  // no face at all: nothing
  t.same(detectEyeClosures(series(50, () => undefined)), []);
});

t.test('head movements: hysteresis, direction from the subject sign convention', async (t) => {
  const yaw = (i: number) => {
    if (i >= 30 && i <= 40) return (i - 30) * 3; // ramp 0 -> 30: reaches 15 at frame 35
    if (i > 40 && i < 70) return 30;
    if (i >= 70 && i <= 80) return 30 - (i - 70) * 3; // ramp down: 9 at 77 (>= 8 exit), 6 at 78
    if (i >= 170 && i <= 200) return -25; // the subject's own right
    if (i >= 220 && i <= 222) return 40; // 100 ms spike: too short
    return 0;
  };
  const pitch = (i: number) => (i >= 100 && i <= 140 ? -20 : 0);
  const events = detectHeadMovements(series(260, (i) => ({ yaw: yaw(i), pitch: pitch(i) })));
  t.same(spans(events), ['turn_left@35-77', 'look_down@100-140', 'turn_right@170-200']);
  t.equal(events[0].peak, 30, 'peak deviation in degrees');
  t.equal(events[2].peak, 25, 'peak is positive along the movement');
});

t.test('head movements: neutral is the person\'s own, and a turn may flow into a nod', async (t) => {
  // camera above the screen: neutral pitch -10. A fixed 0 baseline would call it all look_down.
  const offset = detectHeadMovements(series(200, (i) => ({ yaw: 2, pitch: i >= 100 && i <= 130 ? -30 : -10 })));
  t.same(spans(offset), ['look_down@100-130']);
  // turn left 50-80 then straight into looking up 81-110, no neutral frame between
  const flow = detectHeadMovements(series(150, (i) => ({
    yaw: i >= 50 && i <= 80 ? 30 : 0,
    pitch: i >= 81 && i <= 110 ? 20 : 0,
  })));
  t.same(spans(flow), ['turn_left@50-80', 'look_up@81-110']);
  // both axes past their thresholds: the larger relative deviation wins (20/15 > 14/12)
  const both = detectHeadMovements(series(100, (i) => (i >= 50 && i <= 70 ? { yaw: -20, pitch: 14 } : { yaw: 0, pitch: 0 })));
  t.same(spans(both), ['turn_right@50-70']);
});

t.test('head movements: losing the face mid-movement does not split or end it', async (t) => {
  // a steep look-down 100-190; the detector loses the face 130-149 (667 ms) and gives two weak
  // detections with a wrong pose (yaw 25 = "turn left", pitch +5) at 140 and 142
  const steep = (i: number): Omit<FrameSample, 'index' | 'timeMs'> | undefined => {
    if (i === 140 || i === 142) return { yaw: 25, pitch: 5, faceScore: 0.8 };
    if (i >= 130 && i <= 149) return undefined;
    return { yaw: 0, pitch: i >= 100 && i <= 190 ? -35 : 0, faceScore: 0.99 };
  };
  t.same(spans(detectHeadMovements(series(260, steep))), ['look_down@100-190'], 'one movement, weak frames ignored');
  // the same weak frames are used when told to (minFaceScore 0): they end the look-down early
  t.same(spans(detectHeadMovements(series(260, steep), { minFaceScore: 0 })), ['look_down@100-129', 'look_down@150-190']);
  // gone for longer than maxGapMs (1 s): the movement ends at the last frame seen, a new one starts after
  const gone = detectHeadMovements(series(300, (i) => (i >= 130 && i <= 170 ? undefined : { yaw: 0, pitch: i >= 100 && i <= 200 ? -35 : 0 })));
  t.same(spans(gone), ['look_down@100-129', 'look_down@171-200']);
  // samples without a score (older callers) are taken as confident
  t.same(spans(detectHeadMovements(series(200, (i) => ({ yaw: i >= 50 && i <= 80 ? 30 : 0, pitch: 0 })))), ['turn_left@50-80']);
});

t.test('video events: eye closures are ignored during a head movement', async (t) => {
  // looking down 100-140 lowers the apparent EAR; a real blink at 20-23 stays
  const samples = series(200, (i) => {
    const down = i >= 100 && i <= 140;
    return { yaw: 0, pitch: down ? -25 : 0, ear: down || (i >= 20 && i <= 23) ? 0.12 : 0.3 };
  });
  const gated = detectVideoEvents(samples);
  t.same(spans(gated.head), ['look_down@100-140']);
  t.same(spans(gated.eyes), ['eyes_closed@20-23']);
  const ungated = detectVideoEvents(samples, { eyesOnlyWhenNeutral: false });
  t.same(spans(ungated.eyes), ['eyes_closed@20-23', 'eyes_closed@100-140'], 'without the gate the nod reads as a closure');
});

t.test('label kinds map to the subject\'s own directions in one place', async (t) => {
  t.equal(labelKindToEventKind('yaw_image_right'), 'turn_left', 'face toward the image right = subject turns to their own left');
  t.equal(labelKindToEventKind('yaw_image_left'), 'turn_right');
  t.equal(labelKindToEventKind('yaw_image_right', { mirrored: true }), 'turn_right', 'mirrored camera swaps');
  t.equal(labelKindToEventKind('pitch_up', { mirrored: true }), 'look_up');
  t.equal(labelKindToEventKind('pitch_down'), 'look_down');
  t.equal(labelKindToEventKind('blink'), 'eyes_closed');
  t.equal(labelKindToEventKind('eyes_closed'), 'eyes_closed');
  t.equal(labelKindToEventKind('frontal'), null);
  t.same(
    expectedEvents([{ kind: 'frontal', first: 0, last: 9 }, { kind: 'yaw_image_right', first: 10, last: 20 }]),
    [{ kind: 'turn_left', first: 10, last: 20, label: 'yaw_image_right' }],
    'frontal ranges are not events',
  );
});

t.test('scoring detections against labelled ranges', async (t) => {
  const e = (kind: ExpectedEvent['kind'], first: number, last: number): ExpectedEvent => ({ kind, first, last, label: 'blink' });
  const d = (kind: DetectedEvent['kind'], first: number, last: number): DetectedEvent => ({ kind, first, last, peak: 0 });
  const expected = [e('eyes_closed', 10, 14), e('eyes_closed', 40, 44), e('turn_left', 100, 150), e('look_down', 200, 250)];
  const detected = [
    d('eyes_closed', 12, 13), // matches 10-14
    d('eyes_closed', 47, 48), // 3 frames after 40-44: outside a 2-frame tolerance
    d('eyes_closed', 80, 82), // nothing labelled there
    d('turn_right', 105, 140), // a turn, the wrong way
    d('look_down', 195, 260), // matches
  ];
  const s2 = scoreEvents(expected, detected, 2);
  t.same(
    [s2.labelled, s2.detected, s2.matched, s2.missed, s2.false, s2.wrongDirection],
    [4, 5, 2, 2, 2, 1],
    'tolerance 2: matched 10-14 and look_down; missed 40-44 and turn_left; false 47-48 and 80-82; wrong turn_right',
  );
  t.same(s2.missedEvents.map((x) => x.first), [40, 100]);
  const s3 = scoreEvents(expected, detected, 3);
  t.same([s3.matched, s3.missed, s3.false, s3.wrongDirection], [3, 1, 1, 1], 'tolerance 3 reaches 47');

  const eyes = scoreCategory('eyes', expected, detected, 2);
  t.same([eyes.labelled, eyes.detected, eyes.matched, eyes.false, eyes.wrongDirection], [2, 3, 1, 2, 0]);
  const head = scoreCategory('head', expected, detected, 2);
  t.same([head.labelled, head.detected, head.matched, head.missed, head.wrongDirection], [2, 2, 1, 1, 1]);

  // one long closure found in two pieces: one match, one false event
  const split = scoreEvents([e('eyes_closed', 100, 160)], [d('eyes_closed', 100, 120), d('eyes_closed', 125, 160)], 0);
  t.same([split.matched, split.false], [1, 1]);
  // one detection spanning two labelled blinks is used once
  const spanning = scoreEvents([e('eyes_closed', 10, 14), e('eyes_closed', 16, 20)], [d('eyes_closed', 12, 18)], 0);
  t.same([spanning.matched, spanning.missed, spanning.false], [1, 1, 0]);
});
