/**
 * AssistService.reconnect() (after a certificate renewal): the signalling connection is remade at
 * once when no call is open, and only after the call's last message (its `bye`) when one is. A
 * stand-in signalling that records what happens and a stand-in wrtc (no media: nothing here needs it;
 * the real call is tested in test/integration/assist-webrtc.test.ts).
 */
import t from 'tap';
import { EventEmitter, once } from 'node:events';
import { pino } from 'pino';
import { AssistService } from '../../agent/assist/service.js';
import type { AssistSignalling, SignalMessage } from '../../agent/assist/signalling.js';
import type { WrtcLike } from '../../agent/assist/wrtc.js';
import { waitFor } from '../helpers/wait.js';

/** Signalling that writes down its starts, stops and sends, in order. */
class RecordingSignalling implements AssistSignalling {
  readonly events = new EventEmitter<{ message: [SignalMessage] }>();
  readonly log: string[] = [];
  async start(): Promise<void> {
    this.log.push('start');
  }
  async stop(): Promise<void> {
    this.log.push('stop');
  }
  async send(m: SignalMessage): Promise<void> {
    this.log.push(`send ${m.type}`);
  }
}

const track = { stop: () => {} };
/** A peer connection that offers and accepts an answer, and never connects. */
const wrtc = {
  RTCPeerConnection: class {
    connectionState = 'new';
    onicecandidate = null;
    onconnectionstatechange = null;
    ontrack = null;
    async createOffer() {
      return { type: 'offer' as const, sdp: 'v=0' };
    }
    async setLocalDescription() {}
    async setRemoteDescription() {}
    async addIceCandidate() {}
    addTrack() {}
    createDataChannel() {
      return { readyState: 'connecting', onopen: null, onclose: null, onmessage: null, send: () => {}, close: () => {} };
    }
    close() {}
  },
  nonstandard: {
    RTCVideoSource: class {
      createTrack() {
        return track;
      }
      onFrame() {}
    },
  },
} as unknown as WrtcLike;

/** A camera that gives no frames until the call lets go of it. */
const camera = {
  async *frames(signal: AbortSignal) {
    await new Promise((r) => signal.addEventListener('abort', r, { once: true }));
  },
} as never;

function serviceWith(signalling: RecordingSignalling): AssistService {
  return new AssistService({
    kioskId: 'kiosk-001',
    camera,
    signalling,
    operators: [],
    logger: pino({ level: 'silent' }),
    loadWrtc: async () => wrtc,
    signer: { sign: async () => ({ token: 'x', jti: 'x' }) },
    outbox: { put: async () => undefined },
    resultTopic: 'r',
  });
}

t.test('no call open: the signalling connection is remade at once', async (t) => {
  const signalling = new RecordingSignalling();
  const service = serviceWith(signalling);
  await service.start();
  await service.reconnect();
  t.same(signalling.log, ['start', 'stop', 'start']);
  await service.stop();
  t.same(signalling.log.slice(3), ['stop'], 'stop() stops it once');
});

t.test('a call open: the call keeps its connection; it is remade once the call has said bye', async (t) => {
  const signalling = new RecordingSignalling();
  const service = serviceWith(signalling);
  await service.start();
  const { assistId } = await service.request({ nonce: 'ab'.repeat(16) });
  await waitFor('the offer', () => signalling.log.includes('send offer'), 5000);
  await service.reconnect();
  t.same(signalling.log, ['start', 'send offer'], 'not during the call');
  t.match(await service.assistStart({ nonce: 'cd'.repeat(16) } as never), { ok: false, reason: 'busy' });

  const ended = once(service.events, 'ended');
  signalling.events.emit('message', { type: 'answer', assist_id: assistId, sdp: 'v=0' });
  signalling.events.emit('message', { type: 'bye', assist_id: assistId });
  t.match((await ended)[0], { assistId, outcome: 'ended', reason: 'hangup' });
  await waitFor('the reconnection', () => signalling.log.length === 5, 5000);
  t.same(signalling.log, ['start', 'send offer', 'send bye', 'stop', 'start'], 'the bye on the old connection, then the new one');

  await service.reconnect();
  t.same(signalling.log.slice(5), ['stop', 'start'], 'later renewals reconnect at once again');
  await service.stop();
});

t.test('stop() waits for a reconnection in progress; none after stop', async (t) => {
  const signalling = new RecordingSignalling();
  let release!: () => void;
  const service = serviceWith(signalling);
  await service.start();
  const slowStart = signalling.start.bind(signalling);
  signalling.start = async () => {
    await new Promise<void>((r) => {
      release = r;
    });
    await slowStart();
  };
  const reconnecting = service.reconnect();
  await waitFor('the reconnection under way', () => signalling.log.length === 2, 5000);
  await t.rejects(service.request({ nonce: 'ab'.repeat(16) }), { code: 'E_ASSIST', details: { reason: 'busy' } }, 'no call while the connection is remade');
  const stopping = service.stop();
  release();
  await reconnecting;
  await stopping;
  t.same(signalling.log, ['start', 'stop', 'start', 'stop'], 'stopped after the reconnection, not during it');
  await service.reconnect();
  t.same(signalling.log.length, 4, 'nothing once stopped');
});
