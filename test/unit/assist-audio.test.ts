/**
 * Audio of remote assistance, the pure parts: PCM conversions, levels, the ffmpeg command lines
 * (which write nowhere but a pipe and the ALSA device), and a call's audio lifecycle (CallAudio) on
 * a fake wrtc with the in-memory devices. Real wrtc, ffmpeg and Chromium are in
 * test/integration/assist-audio.test.ts and assist-webrtc.test.ts.
 */
import t from 'tap';
import { pino } from 'pino';
import { LevelMeter, samplesPer10ms } from '../../agent/assist/audio/audio-device.js';
import { MemoryAudioPlayback, ToneAudioCapture } from '../../agent/assist/audio/fake-audio.js';
import { captureArgs, playbackArgs } from '../../agent/assist/audio/ffmpeg-audio.js';
import { downmix, int16Of, resample, toMonoAt } from '../../agent/assist/audio/pcm.js';
import { CallAudio, type AudioStatus } from '../../agent/assist/call-audio.js';
import type { AudioDataLike, PeerConnectionLike, RemoteTrackLike, WrtcLike } from '../../agent/assist/wrtc.js';
import { dominantFrequency } from '../helpers/audio.js';

const logger = pino({ level: 'silent' });

t.test('PCM: bytes to samples, downmix, resample', async (t) => {
  const bytes = new Uint8Array([0x01, 0x00, 0xff, 0x7f, 0x00, 0x80]);
  t.same([...int16Of(bytes)], [1, 32767, -32768]);
  t.same([...int16Of(new Uint8Array([9, 0x01, 0x00]).subarray(1))], [1], 'unaligned bytes are copied');
  t.same([...downmix(Int16Array.from([100, 300, -10, 10]), 2)], [200, 0]);
  const mono = Int16Array.from([1, 2, 3]);
  t.equal(downmix(mono, 1), mono, 'mono is passed through');
  t.equal(resample(mono, 48000, 48000), mono, 'same rate is passed through');
  t.same([...resample(Int16Array.from([0, 100]), 16000, 48000)], [0, 33, 67, 100, 100, 100]);
  t.equal(resample(new Int16Array(480), 48000, 16000).length, 160);
  // A 1 kHz tone at 16 kHz stereo, as wrtc may hand it over, becomes a 1 kHz tone at 48 kHz mono.
  const stereo = Int16Array.from({ length: 3200 }, (_, i) => Math.round(5000 * Math.sin((2 * Math.PI * 1000 * Math.floor(i / 2)) / 16000)));
  const out = toMonoAt({ samples: stereo, sampleRate: 16000, channelCount: 2 }, 48000);
  t.equal(out.length, 4800);
  t.equal(dominantFrequency(out, 48000), 1000);
});

t.test('levels: peak and RMS, never samples', async (t) => {
  const m = new LevelMeter();
  t.equal(m.rms, 0);
  m.add(Int16Array.from([3, -4]));
  m.add(Int16Array.from([0, -32768]));
  t.equal(m.peak, 32768);
  t.equal(m.samples, 4);
  t.equal(Math.round(m.rms), Math.round(Math.sqrt((9 + 16 + 32768 ** 2) / 4)));
  t.equal(samplesPer10ms(48000), 480);
});

t.test('privacy: the ffmpeg children read and write only pipes and the ALSA device', async (t) => {
  const cap = captureArgs({ device: 'plughw:1,0', sampleRate: 48000 });
  t.same(
    cap.slice(cap.indexOf('-f'), cap.indexOf('-i') + 2),
    ['-f', 'alsa', '-channels', '1', '-sample_rate', '48000', '-i', 'plughw:1,0'],
    'input: the ALSA device',
  );
  t.equal(cap.at(-1), 'pipe:1', 'the only output is stdout');
  t.equal(cap.filter((a) => a === '-i').length, 1, 'one input');
  t.notOk(
    cap.some((a) => a === '-y' || a.includes('/') || a.startsWith('file:')),
    'no file anywhere in the command',
  );
  const play = playbackArgs({ device: 'plughw:1,0', sampleRate: 16000 });
  t.equal(play[play.indexOf('-i') + 1], 'pipe:0', 'input: stdin');
  t.same(play.slice(-3), ['-f', 'alsa', 'plughw:1,0'], 'the only output is the ALSA device');
  t.notOk(
    play.some((a) => a === '-y' || a.includes('/') || a.startsWith('file:')),
    'no file anywhere in the command',
  );
});

/** A wrtc stand-in: counts what reaches the audio source, lets the test play the operator's audio. */
function fakeWrtc() {
  const state = { sent: 0, sourceStopped: false, sinkStopped: false, sink: undefined as undefined | { ondata: ((d: AudioDataLike) => void) | null } };
  const wrtc = {
    nonstandard: {
      RTCAudioSource: class {
        createTrack() {
          return {
            stop: () => {
              state.sourceStopped = true;
            },
          };
        }
        onData() {
          state.sent += 1;
        }
      },
      RTCAudioSink: class {
        ondata: ((d: AudioDataLike) => void) | null = null;
        constructor() {
          state.sink = this;
        }
        stop() {
          state.sinkStopped = true;
        }
      },
    },
  } as unknown as WrtcLike;
  const pc = { addTrack: () => undefined } as unknown as PeerConnectionLike;
  return { wrtc, pc, state, operatorSays: (d: AudioDataLike) => state.sink?.ondata?.(d) };
}

const tone = (rate: number) => Int16Array.from({ length: rate / 100 }, (_, i) => Math.round(3000 * Math.sin(i / 3)));

t.test("a call's audio: devices open only when connected, frames flow both ways, everything stops with the call", async (t) => {
  const f = fakeWrtc();
  const capture = new ToneAudioCapture({ sampleRate: 48000 });
  const playback = new MemoryAudioPlayback({ sampleRate: 48000 });
  const statuses: AudioStatus[] = [];
  const audio = new CallAudio({ wrtc: f.wrtc, devices: { capture, playback }, assistId: 'a-1', logger, onStatus: (s) => statuses.push(s) });
  audio.addTo(f.pc);
  audio.receive({ kind: 'audio', stop: () => undefined } as RemoteTrackLike);
  f.operatorSays({ samples: tone(16000), sampleRate: 16000 });
  t.equal(capture.stats().running, false, 'no microphone before the peer is connected');
  t.equal(playback.stats().frames, 0, 'nothing played before the speaker is open');
  await audio.open();
  t.same(
    statuses.map((s) => `${s.direction}:${s.state}`),
    ['capture:live', 'playback:live'],
  );
  await new Promise((r) => setTimeout(r, 60));
  t.ok(f.state.sent >= 3, `microphone frames reach the peer (${f.state.sent})`);
  f.operatorSays({ samples: tone(16000), sampleRate: 16000, channelCount: 1 });
  t.equal(playback.received().length, 480, "the operator's 10 ms at 16 kHz is played as 480 samples at 48 kHz");
  await audio.stop();
  t.ok(f.state.sinkStopped && f.state.sourceStopped, 'sink and track stopped');
  t.equal(capture.stats().running, false);
  t.equal(playback.stats().running, false);
  const sent = f.state.sent;
  await new Promise((r) => setTimeout(r, 40));
  t.equal(f.state.sent, sent, 'no frame after the call');
  t.match(statuses.slice(2), [
    { direction: 'capture', state: 'stopped' },
    { direction: 'playback', state: 'stopped', frames: 1 },
  ]);
  t.equal(capture.events.listenerCount('failed') + playback.events.listenerCount('failed'), 0, 'listeners removed');
  await audio.stop();
  t.equal(statuses.length, 4, 'stop twice reports once');
});

t.test('a device that cannot open, or fails mid-call, is reported with a code; the other goes on', async (t) => {
  const f = fakeWrtc();
  const capture = new ToneAudioCapture({ sampleRate: 48000 });
  const playback = new MemoryAudioPlayback({ sampleRate: 48000, fail: 'no_device' });
  const statuses: AudioStatus[] = [];
  const audio = new CallAudio({ wrtc: f.wrtc, devices: { capture, playback }, assistId: 'a-2', logger, onStatus: (s) => statuses.push(s) });
  audio.addTo(f.pc);
  await audio.open();
  t.match(statuses, [
    { direction: 'capture', state: 'live' },
    { direction: 'playback', state: 'unavailable', code: 'E_DEVICE', reason: 'no_device' },
  ]);
  capture.crash();
  t.match(statuses[2], { direction: 'capture', state: 'unavailable', code: 'E_DEVICE', reason: 'exited' }, 'the microphone died mid-call');
  await audio.stop();
  t.same(
    statuses.slice(3).map((s) => `${s.direction}:${s.state}`),
    ['capture:stopped'],
    'only the device that was live reports stopped',
  );
});

t.test('a call that ends while the devices are opening leaves them closed', async (t) => {
  const f = fakeWrtc();
  const capture = new ToneAudioCapture({ sampleRate: 48000 });
  const playback = new MemoryAudioPlayback({ sampleRate: 48000 });
  const statuses: AudioStatus[] = [];
  const audio = new CallAudio({ wrtc: f.wrtc, devices: { capture, playback }, assistId: 'a-3', logger, onStatus: (s) => statuses.push(s) });
  audio.addTo(f.pc);
  const opening = audio.open();
  await audio.stop();
  await opening;
  t.equal(capture.stats().running, false);
  t.equal(playback.stats().running, false);
  t.notOk(
    statuses.some((s) => s.state === 'unavailable'),
    'no failure reported for a deliberate stop',
  );
});
