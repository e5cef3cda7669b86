/**
 * The audio device contract of remote assistance (agent/assist/audio/audio-device.ts): every
 * microphone and speaker (ffmpeg on ALSA, ffmpeg on a lavfi tone, the in-memory fakes) passes this
 * suite. Real children and the real clock: the waits are for audio from a real-time source, not
 * timing logic under test.
 */
import t from 'tap';
import { isKioskError } from '../../base/errors.js';
import type { AudioCapture, AudioFrame, AudioPlayback } from '../../agent/assist/audio/audio-device.js';
import { dominantFrequency, ownChildren, processAlive } from '../helpers/audio.js';

export interface CaptureSubject {
  capture: AudioCapture;
  /** The tone the source produces, checked in the samples (undefined: silence or unknown content). */
  toneHz?: number;
  /** Pid of the capture child while it runs (devices without a child: undefined). */
  pid?: () => number | undefined;
  /** Makes the running device fail (kills its child). */
  crash?: () => void;
  /**
   * The source has no clock of its own (ALSA's `null` PCM is not paced by a sound card: its rate
   * depends on alsa-lib and the host; runs on one machine counted 160 to 356 frames in a second), so
   * the suite checks that frames flow, not their rate. Sources with a clock (a sound card, lavfi
   * under `-re`) leave this unset and are held to real time.
   */
  unclocked?: boolean;
}

export interface PlaybackSubject {
  playback: AudioPlayback;
  pid?: () => number | undefined;
  /** What reached the speaker (the fake only). */
  received?: () => Int16Array;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function tone(sampleRate: number, n: number, hz = 440, amplitude = 6000): Int16Array {
  const len = sampleRate / 100;
  return Int16Array.from({ length: len }, (_, i) => Math.round(amplitude * Math.sin((2 * Math.PI * hz * (n * len + i)) / sampleRate)));
}

function concat(frames: AudioFrame[]): Int16Array {
  const out = new Int16Array(frames.reduce((a, f) => a + f.samples.length, 0));
  let o = 0;
  for (const f of frames) {
    out.set(f.samples, o);
    o += f.samples.length;
  }
  return out;
}

/** The microphone contract; `broken` is a device that cannot be opened (a missing ALSA device). */
export function audioCaptureContract(name: string, make: () => CaptureSubject, broken?: () => CaptureSubject): void {
  t.test(`${name}: 10 ms frames of 16-bit mono, in real time; stop ends delivery and reaps the child`, async (t) => {
    const s = make();
    t.teardown(() => s.capture.stop());
    const rate = s.capture.sampleRate;
    const frames: AudioFrame[] = [];
    await s.capture.start((f) => frames.push(f));
    t.ok(frames.length >= 1, 'start() resolves once audio has arrived');
    const pid = s.pid?.();
    if (s.pid) t.ok(processAlive(pid), 'a child captures');
    t.equal(s.capture.stats().running, true);
    await sleep(1000);
    if (s.unclocked) t.ok(frames.length >= 60, `frames flow from a source without a clock (got ${frames.length} in a second)`);
    else t.ok(frames.length >= 60 && frames.length <= 300, `about 100 frames in a second (got ${frames.length})`);
    t.ok(
      frames.every((f) => f.samples instanceof Int16Array && f.samples.length === rate / 100 && f.sampleRate === rate),
      `every frame ${rate / 100} samples at ${rate} Hz`,
    );
    const st = s.capture.stats();
    t.equal(st.frames, frames.length, 'stats count the frames');
    t.equal(st.samples, frames.length * (rate / 100));
    if (s.toneHz) {
      const hz = dominantFrequency(concat(frames.slice(5)), rate);
      t.ok(Math.abs(hz - s.toneHz) <= 3, `the tone is there: dominant ${hz} Hz (expected ${s.toneHz})`);
      t.ok(st.rms > 1000 && st.peak > 1000, `levels: peak ${st.peak}, rms ${st.rms.toFixed(0)}`);
    }
    await s.capture.stop();
    const count = frames.length;
    await sleep(150);
    t.equal(frames.length, count, 'no frame after stop()');
    t.equal(s.capture.stats().running, false);
    if (pid) t.notOk(processAlive(pid), 'the child has exited');
    t.same(ownChildren(), [], 'no child process left');
    await s.capture.stop();
    t.pass('stop() twice is fine');
  });

  t.test(`${name}: can be opened again after stop, and stop during start leaves nothing behind`, async (t) => {
    const s = make();
    t.teardown(() => s.capture.stop());
    await s.capture.start(() => undefined);
    await s.capture.stop();
    let n = 0;
    await s.capture.start(() => {
      n += 1;
    });
    await sleep(200);
    t.ok(n > 5, `frames after a restart (${n})`);
    await s.capture.stop();
    const starting = s.capture
      .start(() => undefined)
      .then(
        () => 'started',
        (e: unknown) => (isKioskError(e) ? e.code : 'error'),
      );
    await s.capture.stop();
    const outcome = await starting;
    t.ok(outcome === 'started' || outcome === 'E_ABORTED', `start overtaken by stop: ${outcome}`);
    await s.capture.stop();
    t.same(ownChildren(), [], 'no child process left');
  });

  if (make().crash) {
    t.test(`${name}: a device that dies mid-call emits failed with a code`, async (t) => {
      const s = make();
      t.teardown(() => s.capture.stop());
      await s.capture.start(() => undefined);
      const failed = new Promise<unknown>((r) => s.capture.events.once('failed', (e) => r(e.error)));
      s.crash!();
      const err = await failed;
      t.ok(isKioskError(err), 'a KioskError');
      if (isKioskError(err)) {
        t.equal(err.code, 'E_DEVICE');
        t.equal(err.details?.reason, 'exited');
      }
      t.equal(s.capture.stats().running, false);
    });
  }

  if (broken) {
    t.test(`${name}: a device that cannot be opened is refused at start with a code`, async (t) => {
      const s = broken();
      t.teardown(() => s.capture.stop());
      const err = await s.capture
        .start(() => undefined)
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      t.ok(isKioskError(err, 'E_DEVICE'), 'E_DEVICE');
      t.equal(isKioskError(err) ? err.details?.reason : undefined, 'no_device', 'reason no_device');
      t.equal(s.capture.stats().running, false);
      t.same(ownChildren(), [], 'no child process left');
    });
  }
}

/** The speaker contract; `broken` is a device that cannot be opened. */
export function audioPlaybackContract(name: string, make: () => PlaybackSubject, broken?: () => PlaybackSubject): void {
  t.test(`${name}: plays what it is given, counts it, drops writes when closed, reaps the child`, async (t) => {
    const s = make();
    t.teardown(() => s.playback.stop());
    const rate = s.playback.sampleRate;
    t.equal(s.playback.stats().running, false);
    s.playback.write(tone(rate, 0));
    t.equal(s.playback.stats().frames, 0, 'a write before start is dropped');
    await s.playback.start();
    const pid = s.pid?.();
    if (s.pid) t.ok(processAlive(pid), 'a child plays');
    for (let n = 0; n < 50; n++) {
      s.playback.write(tone(rate, n));
      await sleep(10);
    }
    const st = s.playback.stats();
    t.equal(st.running, true);
    t.equal(st.frames, 50, 'every frame taken (written in real time, none dropped)');
    t.ok(st.peak >= 5900 && st.peak <= 6000, `peak ${st.peak}`);
    t.ok(st.rms > 4000, `rms ${st.rms.toFixed(0)}`);
    if (s.received) {
      const got = s.received();
      t.equal(got.length, 50 * (rate / 100));
      t.ok(Math.abs(dominantFrequency(got, rate) - 440) <= 3, 'the tone arrived');
    }
    await s.playback.stop();
    t.equal(s.playback.stats().running, false);
    s.playback.write(tone(rate, 0));
    t.equal(s.playback.stats().frames, 50, 'a write after stop is dropped');
    if (pid) t.notOk(processAlive(pid), 'the child has exited');
    await s.playback.start();
    s.playback.write(tone(rate, 0));
    t.equal(s.playback.stats().frames, 1, 'opened again, counts from zero');
    await s.playback.stop();
    await s.playback.stop();
    t.same(ownChildren(), [], 'no child process left');
  });

  if (broken) {
    t.test(`${name}: a device that cannot be opened is reported with a code (at start or on the first audio)`, async (t) => {
      const s = broken();
      t.teardown(() => s.playback.stop());
      const failed = new Promise<unknown>((r) => s.playback.events.once('failed', (e) => r(e.error)));
      const startErr = await s.playback.start().then(
        () => undefined,
        (e: unknown) => e,
      );
      let err = startErr;
      if (!err) {
        for (let n = 0; n < 20; n++) {
          s.playback.write(tone(s.playback.sampleRate, n));
          await sleep(10);
        }
        err = await Promise.race([failed, sleep(5000).then(() => 'no failed event')]);
      }
      t.ok(isKioskError(err, 'E_DEVICE'), `E_DEVICE (${String((err as Error)?.message ?? err)})`);
      t.equal(isKioskError(err) ? err.details?.reason : undefined, 'no_device', 'reason no_device');
      t.equal(s.playback.stats().running, false);
      await s.playback.stop();
      t.same(ownChildren(), [], 'no child process left');
    });
  }
}
