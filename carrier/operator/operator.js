// Operator side of kiosk remote assistance (plain browser JS, no build step, no CDN).
// Signalling: MQTT over WebSocket (mqtt.js browser bundle, global `mqtt`, served from vendor/).
// Decisions: compact JWS ES256 signed with the operator's WebCrypto P-256 key, sent on the data channel.
// Audio: when the kiosk offers audio, the operator's microphone is asked for and sent, and the kiosk's
// audio is played; the microphone is released when the call ends. Nothing is recorded.
const DECISION_TYP = 'kiosk-assist-decision+jwt';
const $ = (id) => document.getElementById(id);
const enc = new TextEncoder();
const b64u = (bytes) =>
  btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');

const state = {
  client: null,
  prefix: 'kiosk/v1/',
  iceServers: [],
  pc: null,
  channel: null,
  call: null,
  key: null,
  operatorId: null,
  acks: [],
  framesRendered: 0,
  log: [],
  mic: null,
  micState: 'off',
  audioCtx: null,
  analyser: null,
};

function status(text) {
  $('status').textContent = text;
  state.log.push(text);
}

/** Imports the operator's private key (JWK) as a non-extractable WebCrypto signing key. */
async function importKey(jwk, operatorId) {
  const { d, x, y } = jwk;
  state.key = await crypto.subtle.importKey('jwk', { kty: 'EC', crv: 'P-256', d, x, y }, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
  state.operatorId = operatorId;
}

/** Signs a decision for the open call (WebCrypto ECDSA output is r||s, the JWS ES256 format). */
async function signDecision(decision, note) {
  if (!state.key || !state.call) throw new Error('no key or no call');
  const header = { alg: 'ES256', typ: DECISION_TYP, kid: state.operatorId };
  const payload = {
    assist_id: state.call.assist_id,
    kiosk: state.call.kiosk,
    challenge: state.call.challenge,
    decision,
    iat: Math.floor(Date.now() / 1000),
    ...(note ? { note } : {}),
  };
  const input = `${b64u(enc.encode(JSON.stringify(header)))}.${b64u(enc.encode(JSON.stringify(payload)))}`;
  const sig = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, state.key, enc.encode(input));
  return `${input}.${b64u(sig)}`;
}

/** Sends a decision and resolves with the kiosk's ack. */
async function decide(decision, note) {
  const token = await signDecision(decision, note);
  const before = state.acks.length;
  state.channel.send(JSON.stringify({ type: 'decision', token }));
  for (let i = 0; i < 200 && state.acks.length === before; i++) await new Promise((r) => setTimeout(r, 50));
  const ack = state.acks[before];
  $('ack').textContent = ack ? JSON.stringify(ack) : 'no answer from the kiosk';
  return ack;
}

function audioState(text) {
  state.micState = text;
  $('audio-state').textContent = text;
}

/** Asks for the operator's microphone and sends it; without one the call goes on (the kiosk is still heard). */
async function openMicrophone(pc) {
  try {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
      video: false,
    });
    if (state.pc !== pc) {
      stream.getTracks().forEach((t) => t.stop());
      return;
    }
    state.mic = stream;
    for (const track of stream.getAudioTracks()) pc.addTrack(track, stream);
    $('mute').disabled = false;
    $('mute').textContent = 'Mute my microphone';
    audioState('microphone on');
  } catch (err) {
    audioState(`microphone unavailable (${err.name}): the kiosk is heard, not you`);
  }
}

/** Plays the kiosk's audio, and measures it (level and dominant frequency, for the operator and the tests). */
function playKioskAudio(track) {
  const stream = new MediaStream([track]);
  const audio = $('audio');
  audio.srcObject = stream;
  audio.play().catch(() => undefined);
  const ctx = new AudioContext();
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 8192;
  ctx.createMediaStreamSource(stream).connect(analyser);
  ctx.resume().catch(() => undefined);
  state.audioCtx = ctx;
  state.analyser = analyser;
}

/** Releases the microphone and the audio graph (end of call, new offer, hang-up). */
function endMedia() {
  if (state.mic) state.mic.getTracks().forEach((t) => t.stop());
  if (state.audioCtx) state.audioCtx.close().catch(() => undefined);
  $('audio').srcObject = null;
  state.audioCtx = state.analyser = null;
  $('mute').disabled = true;
  if (state.micState !== 'off') audioState('off');
}

function topicOf(kiosk, dir) {
  return `${state.prefix}${kiosk}/assist/signal/${dir}`;
}

async function send(kiosk, msg) {
  await state.client.publishAsync(topicOf(kiosk, 'operator'), JSON.stringify(msg), { qos: 1 });
}

async function onOffer(m) {
  if (state.pc) {
    state.pc.close();
  }
  endMedia();
  const kiosk = m.kiosk;
  state.call = { assist_id: m.assist_id, kiosk, challenge: null, failed_checks: m.failed_checks || [] };
  $('checks').textContent = (m.failed_checks || []).join(', ') || 'none';
  const pc = new RTCPeerConnection({ iceServers: state.iceServers });
  state.pc = pc;
  pc.ontrack = (e) => {
    if (e.track.kind === 'audio') {
      playKioskAudio(e.track);
      return;
    }
    const video = $('video');
    video.srcObject = e.streams[0] || new MediaStream([e.track]);
    video.play().catch(() => undefined);
    const count = () => {
      state.framesRendered += 1;
      video.requestVideoFrameCallback(count);
    };
    if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(count);
  };
  pc.ondatachannel = (e) => {
    state.channel = e.channel;
    e.channel.onmessage = (ev) => {
      const msg = JSON.parse(ev.data);
      if (msg.type === 'hello' && msg.assist_id === state.call.assist_id) {
        state.call.challenge = msg.challenge;
        $('approve').disabled = $('reject').disabled = false;
        status(`in call with ${msg.kiosk}`);
      } else if (msg.type === 'ack') {
        state.acks.push(msg);
      }
    };
  };
  pc.onicecandidate = (e) => {
    send(kiosk, { type: 'candidate', assist_id: m.assist_id, candidate: e.candidate ? e.candidate.toJSON() : null }).catch(() => undefined);
  };
  pc.onconnectionstatechange = () => {
    status(`connection ${pc.connectionState}`);
    if (pc.connectionState === 'failed' || pc.connectionState === 'closed') endMedia();
  };
  await pc.setRemoteDescription({ type: 'offer', sdp: m.sdp });
  if (/^m=audio /m.test(m.sdp)) await openMicrophone(pc);
  const answer = await pc.createAnswer();
  await pc.setLocalDescription(answer);
  await send(kiosk, { type: 'answer', assist_id: m.assist_id, sdp: answer.sdp });
}

async function onSignal(_topic, payload) {
  let m;
  try {
    m = JSON.parse(payload.toString());
  } catch {
    return;
  }
  if (m.type === 'offer') return onOffer(m);
  if (!state.call || m.assist_id !== state.call.assist_id || !state.pc) return;
  if (m.type === 'candidate' && m.candidate) await state.pc.addIceCandidate(m.candidate).catch(() => undefined);
  if (m.type === 'bye') {
    status('call ended by the kiosk');
    $('approve').disabled = $('reject').disabled = true;
    endMedia();
  }
}

/** Connects to the broker and waits for offers of the kiosks this operator is assigned (`kiosk`: ids, comma-separated). */
async function connect({ url, username, password, kiosk = '', prefix = 'kiosk/v1/', iceServers = [] }) {
  state.prefix = prefix;
  state.iceServers = iceServers;
  const client = await mqtt.connectAsync(url, {
    protocolVersion: 5,
    username,
    password,
    clientId: `${username}-${Math.random().toString(16).slice(2, 10)}`,
    reconnectPeriod: 0,
    connectTimeout: 10000,
  });
  state.client = client;
  client.on('message', (t, p) => {
    onSignal(t, p).catch((err) => status(`error: ${err.message}`));
  });
  const kiosks = kiosk
    .split(',')
    .map((k) => k.trim())
    .filter(Boolean);
  if (kiosks.length === 0) throw new Error('name the kiosks you are assigned');
  // The broker lets an operator reach only the kiosks it is assigned: one subscription each.
  const granted = await client.subscribeAsync(
    kiosks.map((k) => topicOf(k, 'kiosk')),
    { qos: 1 },
  );
  const refused = granted.filter((g) => g.qos > 2);
  if (refused.length > 0) throw new Error(`the broker refused ${refused.map((g) => g.topic).join(', ')}: not assigned to this operator`);
  status(`connected as ${username}, waiting for a kiosk`);
}

/** Video figures for the operator (and the browser test). */
async function stats() {
  const video = $('video');
  const out = {
    width: video.videoWidth,
    height: video.videoHeight,
    framesRendered: state.framesRendered,
    framesDecoded: 0,
    dtlsState: null,
    srtpCipher: null,
    connectionState: state.pc ? state.pc.connectionState : null,
  };
  if (state.pc) {
    const report = await state.pc.getStats();
    report.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') {
        out.framesDecoded = s.framesDecoded || 0;
        out.frameWidth = s.frameWidth;
        out.frameHeight = s.frameHeight;
      }
      if (s.type === 'transport') {
        out.dtlsState = s.dtlsState;
        out.srtpCipher = s.srtpCipher;
      }
    });
  }
  return out;
}

/** Audio figures: the microphone, what arrives from the kiosk (level, dominant frequency) and what is sent. */
async function audioStats() {
  const out = {
    micState: state.micState,
    micTracks: state.mic ? state.mic.getAudioTracks().map((t) => t.readyState) : [],
    contextState: state.audioCtx ? state.audioCtx.state : null,
    dominantHz: null,
    peakDb: null,
    inbound: null,
    outbound: null,
  };
  const an = state.analyser;
  if (an && state.audioCtx) {
    const bins = new Float32Array(an.frequencyBinCount);
    an.getFloatFrequencyData(bins);
    const hzPerBin = state.audioCtx.sampleRate / an.fftSize;
    let best = -1;
    for (let i = Math.ceil(60 / hzPerBin); i < Math.min(bins.length - 1, 4000 / hzPerBin); i++) if (best < 0 || bins[i] > bins[best]) best = i;
    if (best > 0 && Number.isFinite(bins[best])) {
      // Parabolic interpolation between the neighbouring bins.
      const [a, b, c] = [bins[best - 1], bins[best], bins[best + 1]];
      const shift = a - 2 * b + c === 0 ? 0 : (0.5 * (a - c)) / (a - 2 * b + c);
      out.dominantHz = (best + shift) * hzPerBin;
      out.peakDb = b;
    }
  }
  if (state.pc) {
    const report = await state.pc.getStats();
    report.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'audio')
        out.inbound = { packetsReceived: s.packetsReceived, totalSamplesReceived: s.totalSamplesReceived, audioLevel: s.audioLevel };
      if (s.type === 'outbound-rtp' && s.kind === 'audio') out.outbound = { packetsSent: s.packetsSent, bytesSent: s.bytesSent };
    });
  }
  return out;
}

async function hangup() {
  if (state.call && state.client) await send(state.call.kiosk, { type: 'bye', assist_id: state.call.assist_id }).catch(() => undefined);
  endMedia();
  if (state.pc) state.pc.close();
  if (state.client) await state.client.endAsync();
}

window.assistOperator = { connect, importKey, decide, stats, audioStats, hangup, state };

$('connect').onclick = async () => {
  try {
    const file = $('keyfile').files[0];
    if (file) await importKey(JSON.parse(await file.text()), $('username').value);
    await connect({ url: $('url').value, username: $('username').value, password: $('password').value, kiosk: $('kiosk').value || '*' });
  } catch (err) {
    status(`error: ${err.message}`);
  }
};
$('mute').onclick = () => {
  const tracks = state.mic ? state.mic.getAudioTracks() : [];
  const muted = tracks.some((t) => t.enabled);
  tracks.forEach((t) => {
    t.enabled = !muted;
  });
  $('mute').textContent = muted ? 'Unmute my microphone' : 'Mute my microphone';
  audioState(muted ? 'microphone muted' : 'microphone on');
};
$('approve').onclick = () => decide('approve', $('note').value).catch((err) => status(`error: ${err.message}`));
$('reject').onclick = () => decide('reject', $('note').value).catch((err) => status(`error: ${err.message}`));
