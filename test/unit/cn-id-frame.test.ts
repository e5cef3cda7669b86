/**
 * The resident-ID reader framing: known frames from public drivers (cited in frame.ts), and the
 * decoder on chunked input, noise before the preamble, bad checksums and out-of-range lengths.
 */
import t from 'tap';
import { COMMANDS, encodeCommand, encodeResponse, FrameDecoder, MAX_LENGTH, PREAMBLE, xorChecksum } from '../../device/document/cn-id/frame.js';

const hex = (s: string) => Buffer.from(s.replace(/\s/g, ''), 'hex');
const up = (b: Buffer) => b.toString('hex').toUpperCase();

t.test('commands encode as the public drivers send them', async (t) => {
  t.equal(up(encodeCommand(COMMANDS.findCard)), 'AAAAAA96690003200122', 'find card');
  t.equal(up(encodeCommand(COMMANDS.selectCard)), 'AAAAAA96690003200221', 'select card');
  t.equal(up(encodeCommand(COMMANDS.readBase)), 'AAAAAA96690003300132', 'read base message');
  t.equal(xorChecksum(hex('00 03 20 01')), 0x22, 'checksum is XOR from the length to the data');
});

t.test('responses the drivers expect decode with their status bytes', async (t) => {
  const d = new FrameDecoder();
  const events = d.push(Buffer.concat([hex('AAAAAA9669000800009F0000000097'), hex('AAAAAA9669000400008084'), hex('AAAAAA9669000C00009000000000000000009C')]));
  t.same(
    events.map((e) => (e.kind === 'frame' ? [e.frame.sw1, e.frame.sw2, e.frame.sw3, e.frame.data.length] : e.kind)),
    [
      [0, 0, 0x9f, 4],
      [0, 0, 0x80, 0],
      [0, 0, 0x90, 8],
    ],
    'find ok, no card, select ok',
  );
  t.equal(up(encodeResponse([0, 0, 0x9f], Buffer.alloc(4))), 'AAAAAA9669000800009F0000000097', 'encodeResponse is the inverse');
});

t.test('a frame split into single bytes decodes once complete', async (t) => {
  const frame = encodeResponse([0, 0, 0x90], Buffer.from('abcdef'));
  const d = new FrameDecoder();
  const seen = [];
  for (let i = 0; i < frame.length; i++) {
    const events = d.push(frame.subarray(i, i + 1));
    if (i < frame.length - 1) t.equal(events.length, 0, `nothing after ${i + 1} bytes`, { diagnostic: false });
    seen.push(...events);
  }
  t.equal(seen.length, 1);
  t.equal(seen[0].kind === 'frame' && seen[0].frame.data.toString(), 'abcdef');
});

t.test('noise before the preamble is skipped and counted, also when the preamble is split', async (t) => {
  const frame = encodeResponse([0, 0, 0x90], Buffer.from([1, 2, 3]));
  const d = new FrameDecoder();
  const noise = Buffer.from([0x00, 0xff, 0xaa, 0x96, 0x69, 0x13, 0xaa, 0xaa]);
  t.same(d.push(Buffer.concat([noise, frame.subarray(0, 2)])), []);
  const events = d.push(frame.subarray(2));
  t.equal(events.length, 1);
  t.equal(events[0].kind, 'frame');
  t.equal(d.skipped, noise.length, 'skipped bytes counted');
});

t.test('a bad checksum is a coded error, and the next frame still decodes', async (t) => {
  const bad = encodeResponse([0, 0, 0x90], Buffer.from([1, 2, 3]));
  bad[bad.length - 1] ^= 0x01;
  const good = encodeResponse([0, 0, 0x9f], Buffer.alloc(4));
  const events = new FrameDecoder().push(Buffer.concat([bad, good]));
  t.equal(events.length, 2);
  t.equal(events[0].kind, 'error');
  if (events[0].kind === 'error') {
    t.equal(events[0].error.code, 'E_DEVICE');
    t.equal(events[0].error.details?.reason, 'checksum');
  }
  t.equal(events[1].kind === 'frame' && events[1].frame.sw3, 0x9f);
});

t.test('an over-long or too short length is a coded error, then the decoder resynchronises', async (t) => {
  const good = encodeResponse([0, 0, 0x90]);
  for (const length of [MAX_LENGTH + 1, 0xffff, 3, 0]) {
    const header = Buffer.concat([PREAMBLE, Buffer.from([length >> 8, length & 0xff])]);
    const events = new FrameDecoder().push(Buffer.concat([header, good]));
    t.equal(events[0]?.kind === 'error' && events[0].error.details?.reason, 'length', `length ${length} refused`);
    t.equal(events.at(-1)?.kind, 'frame', `the frame after length ${length} decodes`);
  }
  const ok = Buffer.concat([PREAMBLE, Buffer.from([MAX_LENGTH >> 8, MAX_LENGTH & 0xff])]);
  t.same(new FrameDecoder().push(ok), [], 'the longest allowed length waits for its bytes');
});

t.test('reset drops a partial frame', async (t) => {
  const d = new FrameDecoder();
  const frame = encodeResponse([0, 0, 0x90], Buffer.alloc(10));
  d.push(frame.subarray(0, 12));
  d.reset();
  t.same(d.push(frame.subarray(12)), [], 'the tail alone is not a frame');
  t.equal(d.push(frame).length, 1, 'a whole frame after it is');
});
