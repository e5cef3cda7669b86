/**
 * Two-way audio of remote assistance without a browser: the kiosk's AssistService (real wrtc, a
 * fake camera, ffmpeg audio devices) and an operator peer made with wrtc too, joined by in-memory
 * signalling, in a child process that exits explicitly (wrtc segfaults on natural exit).
 * - `two-way`: the kiosk microphone is ffmpeg on a lavfi 440 Hz tone, the operator sends 1000 Hz;
 *   each side finds the other's tone; the call's end stops both ffmpeg children; nothing is written.
 * - `broken`: no ALSA capture device and no ffmpeg for the speaker: both are reported with a code,
 *   and the video and the data channel carry on.
 * Run with ASSIST_AUDIO_CHILD set, this file is the child.
 */
import { spawn } from 'node:child_process';

type Scenario = 'two-way' | 'broken';

if (process.env.ASSIST_AUDIO_CHILD) await runChild(process.env.ASSIST_AUDIO_CHILD as Scenario);
else await runTests();

async function runChild(scenario: Scenario): Promise<void> {
  const hardStop = setTimeout(() => {
    say({ type: 'child_timeout' });
    process.exit(3);
  }, 40_000);
  const { EventEmitter } = await import('node:events');
  const { pino } = await import('pino');
  const { FakeFrameSource } = await import('../../device/camera/fake-source.js');
  const { AssistService } = await import('../../agent/assist/service.js');
  const { FfmpegAudioCapture, FfmpegAudioPlayback } = await import('../../agent/assist/audio/ffmpeg-audio.js');
  const { MemoryAudioPlayback } = await import('../../agent/assist/audio/fake-audio.js');
  const { dominantFrequency, filesOpenForWriting, processAlive, TeeAudioPlayback } = await import('../helpers/audio.js');
  type Signal = import('../../agent/assist/signalling.js').SignalMessage;
  function say(o: object) {
    process.stdout.write(`EVENT ${JSON.stringify(o)}\n`);
  }

  const RATE = 48000;
  const logLines: string[] = [];
  const logger = pino(
    { level: 'debug' },
    {
      write: (l: string) => {
        logLines.push(l);
      },
    },
  );
  const speaker = new MemoryAudioPlayback({ sampleRate: RATE });
  const alsaSpeaker = new FfmpegAudioPlayback({ device: 'null', sampleRate: RATE });
  const devices =
    scenario === 'two-way'
      ? {
          capture: new FfmpegAudioCapture({ device: 'lavfi', sampleRate: RATE, input: ['-re', '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=${RATE}`] }),
          playback: new TeeAudioPlayback([speaker, alsaSpeaker]),
        }
      : {
          capture: new FfmpegAudioCapture({ device: 'kiosk-no-such-pcm', sampleRate: RATE }),
          playback: new FfmpegAudioPlayback({ device: 'default', sampleRate: RATE, ffmpegPath: '/nonexistent/ffmpeg' }),
        };

  // Signalling in memory: the kiosk's messages go to the operator, the operator's come back as events.
  const toOperator: Signal[] = [];
  let deliver: (m: Signal) => void = (m) => {
    toOperator.push(m);
  };
  const signalling = {
    events: new EventEmitter<{ message: [Signal] }>(),
    start: async () => {},
    stop: async () => {},
    send: async (m: Signal) => {
      setImmediate(() => deliver(m));
    },
  };
  const camera = new FakeFrameSource({ width: 320, height: 240, fps: 15, allowVirtual: true });
  const assist = new AssistService({
    kioskId: 'kiosk-001',
    camera,
    signalling,
    operators: [],
    logger,
    audio: devices,
    signer: { sign: async () => ({ token: 'x', jti: 'x' }) },
    outbox: { put: async () => undefined },
    resultTopic: 'r',
    options: { maxWidth: 320, fps: 10, answerTimeoutMs: 20_000, callTimeoutMs: 30_000 },
  });
  const audioEvents: Array<{ direction: string; state: string }> = [];
  assist.events.on('audio', (e) => {
    audioEvents.push(e);
    say({ type: 'audio', ...e });
  });
  assist.events.on('connected', (e) => say({ type: 'connected', ...e }));
  const ended = new Promise<Record<string, unknown>>((r) => assist.events.once('ended', (e) => r(e)));

  // The operator: a wrtc peer that answers, sends a 1000 Hz tone and keeps what it receives.
  const wrtc = (await import('@roamhq/wrtc')).default;
  const op = new wrtc.RTCPeerConnection();
  const opSource = new wrtc.nonstandard.RTCAudioSource();
  const opTrack = opSource.createTrack();
  let n = 0;
  const opTone = setInterval(() => {
    const len = RATE / 100;
    const samples = Int16Array.from({ length: len }, (_, i) => Math.round(6000 * Math.sin((2 * Math.PI * 1000 * (n * len + i)) / RATE)));
    n += 1;
    opSource.onData({ samples, sampleRate: RATE });
  }, 10);
  const heard: Int16Array[] = [];
  let heardRate = 0;
  let videoFrames = 0;
  let hello = false;
  const sinks: Array<{ stop(): void }> = [];
  op.ontrack = (e) => {
    if (e.track.kind === 'audio') {
      const sink = new wrtc.nonstandard.RTCAudioSink(e.track);
      sink.ondata = (d: { samples: Int16Array; sampleRate: number }) => {
        heardRate = d.sampleRate;
        if (heard.length < 1000) heard.push(Int16Array.from(d.samples));
      };
      sinks.push(sink);
    } else {
      const sink = new wrtc.nonstandard.RTCVideoSink(e.track);
      sink.onframe = () => {
        videoFrames += 1;
      };
      sinks.push(sink);
    }
  };
  op.ondatachannel = (e) => {
    e.channel.onmessage = (m) => {
      if (JSON.parse(String(m.data)).type === 'hello') hello = true;
    };
  };
  let assistId = '';
  op.onicecandidate = (e) => {
    if (e.candidate)
      signalling.events.emit('message', {
        type: 'candidate',
        assist_id: assistId,
        candidate: { candidate: e.candidate.candidate, sdpMid: e.candidate.sdpMid, sdpMLineIndex: e.candidate.sdpMLineIndex },
      });
  };
  deliver = (m) => {
    if (m.type === 'offer') {
      assistId = m.assist_id;
      void (async () => {
        await op.setRemoteDescription({ type: 'offer', sdp: m.sdp });
        op.addTrack(opTrack);
        const answer = await op.createAnswer();
        await op.setLocalDescription(answer);
        signalling.events.emit('message', { type: 'answer', assist_id: assistId, sdp: answer.sdp });
      })();
    } else if (m.type === 'candidate' && m.candidate) {
      void op.addIceCandidate(m.candidate).catch(() => undefined);
    }
  };
  for (const m of toOperator.splice(0)) deliver(m);

  await camera.start();
  await assist.start();
  await assist.request({ nonce: 'ab'.repeat(16), failedChecks: ['quality'], reason: 'quality' });
  const wait = async (what: string, fn: () => boolean, ms = 15_000) => {
    const end = Date.now() + ms;
    while (!fn()) {
      if (Date.now() > end) {
        say({ type: 'timeout', what, audioEvents });
        process.exit(4);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const audioState = (direction: string, state: string) => () => audioEvents.some((e) => e.direction === direction && e.state === state);

  if (scenario === 'two-way') {
    await wait('both audio directions live', () => audioState('capture', 'live')() && audioState('playback', 'live')());
    await new Promise((r) => setTimeout(r, 3000));
    const pids = [devices.capture.pid, alsaSpeaker.pid];
    const writing = [process.pid, ...pids].flatMap((p) => (p ? filesOpenForWriting(p) : []));
    const kioskHeard = speaker.received();
    const opHeard = Int16Array.from(heard.slice(-150).flatMap((a) => Array.from(a)));
    say({
      type: 'measured',
      pids,
      pidsAlive: pids.map(processAlive),
      writing,
      videoFrames,
      hello,
      operatorHeardHz: dominantFrequency(opHeard, heardRate),
      operatorHeardRate: heardRate,
      kioskHeardHz: dominantFrequency(kioskHeard.subarray(-RATE), RATE),
      kioskSpeaker: speaker.stats(),
      alsaSpeaker: alsaSpeaker.stats(),
    });
    await assist.stop();
    const e = await ended;
    say({ type: 'ended', ...e, pidsAliveAfter: pids.map(processAlive), captureRunning: devices.capture.stats().running });
  } else {
    await wait('capture unavailable', audioState('capture', 'unavailable'));
    await wait('playback unavailable', audioState('playback', 'unavailable'));
    const before = videoFrames;
    await new Promise((r) => setTimeout(r, 1500));
    say({ type: 'measured', videoBefore: before, videoAfter: videoFrames, hello, connectionState: op.connectionState });
    await assist.stop();
    say({ type: 'ended', ...(await ended) });
  }
  clearInterval(opTone);
  for (const s of sinks) s.stop();
  opTrack.stop();
  op.close();
  await camera.stop();
  const logs = logLines.join('');
  say({
    type: 'logs',
    lines: logLines.length,
    hasSamples: /"samples"|(-?\d{1,5},){40}/.test(logs),
    audioLogs: logLines
      .filter((l) => l.includes('assist audio'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .map(({ msg, direction, code, reason }) => ({ msg, direction, code, reason })),
  });
  clearTimeout(hardStop);
  process.exit(0);
}

async function runTests(): Promise<void> {
  const t = (await import('tap')).default;
  const { readdirSync } = await import('node:fs');
  const { fileURLToPath } = await import('node:url');
  const { ownTempDir } = await import('../helpers/tempdir.js');

  const run = async (scenario: Scenario, cwd: string) => {
    const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), fileURLToPath(import.meta.url)], {
      cwd,
      env: { ...process.env, ASSIST_AUDIO_CHILD: scenario },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      err += d;
    });
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    const events = out
      .split('\n')
      .filter((l) => l.startsWith('EVENT '))
      .map((l) => JSON.parse(l.slice(6)) as Record<string, any>);
    return { code, events, err, of: (type: string) => events.filter((e) => e.type === type) };
  };

  t.test("two-way audio: each side hears the other's tone; the call's end stops the ffmpeg children; nothing is written", { timeout: 60_000 }, async (t) => {
    const cwd = ownTempDir(t, 'assist-audio-');
    const r = await run('two-way', cwd);
    t.equal(r.code, 0, `child exited 0 (stderr: ${r.err.slice(-500)})`);
    const m = r.of('measured')[0] ?? {};
    t.comment(
      `operator heard ${m.operatorHeardHz} Hz (sink at ${m.operatorHeardRate} Hz); kiosk speaker heard ${m.kioskHeardHz} Hz, ${m.kioskSpeaker?.frames} frames, rms ${Math.round(m.kioskSpeaker?.rms)}; video frames ${m.videoFrames}`,
    );
    t.ok(Math.abs(m.operatorHeardHz - 440) <= 5, 'the operator hears the kiosk microphone (440 Hz)');
    t.ok(Math.abs(m.kioskHeardHz - 1000) <= 5, 'the kiosk speaker gets the operator (1000 Hz)');
    t.ok(m.kioskSpeaker?.rms > 500, 'with energy');
    t.ok(m.alsaSpeaker?.frames > 100, `the ALSA speaker child was fed too (${m.alsaSpeaker?.frames} blocks)`);
    t.ok(m.videoFrames > 10 && m.hello, 'video and the data channel alongside');
    t.same(m.pidsAlive, [true, true], 'two ffmpeg children during the call');
    t.same(m.writing, [], 'no file open for writing in the agent or its ffmpeg children during the call');
    const ended = r.of('ended')[0] ?? {};
    t.same(ended.pidsAliveAfter, [false, false], 'both ffmpeg children have exited when the call has ended');
    t.same(
      r
        .of('audio')
        .map((e) => `${e.direction}:${e.state}`)
        .sort(),
      ['capture:live', 'capture:stopped', 'playback:live', 'playback:stopped'],
      'audio events: live, then stopped',
    );
    const logs = r.of('logs')[0] ?? {};
    t.equal(logs.hasSamples, false, 'no samples in the logs');
    t.same(readdirSync(cwd), [], 'nothing written to the working directory');
  });

  t.test('no capture device and no ffmpeg for the speaker: reported with codes, the video call goes on', { timeout: 60_000 }, async (t) => {
    const cwd = ownTempDir(t, 'assist-audio-');
    const r = await run('broken', cwd);
    t.equal(r.code, 0, `child exited 0 (stderr: ${r.err.slice(-500)})`);
    const audio = r.of('audio');
    t.match(
      audio.find((e) => e.direction === 'capture'),
      { state: 'unavailable', code: 'E_DEVICE', reason: 'no_device' },
      'microphone: E_DEVICE no_device',
    );
    t.match(
      audio.find((e) => e.direction === 'playback'),
      { state: 'unavailable', code: 'E_DECODER_MISSING', reason: 'ffmpeg_missing' },
      'speaker: E_DECODER_MISSING ffmpeg_missing',
    );
    t.notOk(
      audio.some((e) => e.state === 'live' || e.state === 'stopped'),
      'never live',
    );
    const m = r.of('measured')[0] ?? {};
    t.comment(`video frames at the operator: ${m.videoBefore} -> ${m.videoAfter}`);
    t.ok(m.videoAfter > m.videoBefore, 'the video keeps flowing after the audio failed');
    t.equal(m.hello, true, 'the data channel works');
    t.equal(m.connectionState, 'connected');
    t.match(r.of('ended')[0], { outcome: 'ended', reason: 'aborted' }, 'the call ended only when stopped');
    const logged = (r.of('logs')[0]?.audioLogs ?? []) as Array<Record<string, unknown>>;
    t.ok(
      logged.some((l) => l.direction === 'capture' && l.code === 'E_DEVICE' && l.reason === 'no_device'),
      'logged with the code',
    );
  });
}
