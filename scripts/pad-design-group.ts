/**
 * The design group's recordings for the attack-model choice (scripts/choose-pad.ts) and the PAD probe
 * (scripts/dev/pad-probe/probe.ts): path prefixes under the data root. Everything else is held out.
 */
/** The recordings of the design group: the people whose recordings the session was designed on (README, "Sessions"). */
export const DESIGN_PEOPLE: readonly string[] = [
  'tranvanluyt-replay-headturn/', // the same man, live and replayed on a monitor
  'blink-detector-video/',
  'trainingdata-antispoof-real/samples/0001e96803--621ea6b1e2c5d221d5131267/', // TR man
  'trainingdata-antispoof-real/samples/0001e96803--621f74a85af9d379642ce38f/', // ZA woman...
  'trainingdata-antispoof-replay/samples/0001fffbd2--630b6ba7e3a4854c648025ea/', // ...and her replay
  'krzysiek354-webcam/',
  'liveportrait-driving/',
];
