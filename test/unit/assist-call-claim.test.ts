/**
 * One call records one operator decision: the decision is claimed before its signature is verified
 * (agent/assist/call.ts), so a second decision arriving while the first is still being verified is
 * refused (`already_decided`) instead of being recorded too. A refused decision (bad signature)
 * releases the claim: the operator can then send a good one. A fake wrtc, a real DecisionVerifier
 * made slow by a gate the test opens.
 */
import t, { type Test } from 'tap';
import { pino } from 'pino';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { AssistCall, DEFAULT_ASSIST_OPTIONS } from '../../agent/assist/call.js';
import { type DecisionContext, DecisionVerifier, DECISION_TYP, type OperatorDecision } from '../../agent/assist/decision.js';
import type { DataChannelLike, WrtcLike } from '../../agent/assist/wrtc.js';
import { FakeFrameSource } from '../../device/camera/fake-source.js';

const logger = pino({ level: 'silent' });
const op = await generateKeyPair('ES256', { extractable: true });
const other = await generateKeyPair('ES256', { extractable: true });
const CALL = { assistId: 'a-claim', kioskId: 'kiosk-001', challenge: 'c0ffee' };

/** The real verifier, held at a gate until the test opens it (a slow signature check). */
class SlowVerifier extends DecisionVerifier {
  private gates: Array<() => void> = [];
  started = 0;
  override async verify(token: unknown, ctx: DecisionContext): Promise<OperatorDecision> {
    this.started += 1;
    await new Promise<void>((ok) => this.gates.push(ok));
    return super.verify(token, ctx);
  }
  open(): void {
    for (const g of this.gates.splice(0)) g();
  }
}

const sign = (decision: string, key = op.privateKey) =>
  new SignJWT({ assist_id: CALL.assistId, kiosk: CALL.kioskId, challenge: CALL.challenge, decision, iat: Math.floor(Date.now() / 1000) })
    .setProtectedHeader({ alg: 'ES256', typ: DECISION_TYP, kid: 'carrier-op-alice' })
    .sign(key);

/** A wrtc stand-in: a peer that never connects, whose data channel the test writes into. */
function fakeWrtc() {
  const sent: Array<Record<string, unknown>> = [];
  const box: { channel?: DataChannelLike } = {};
  const wrtc = {
    RTCPeerConnection: class {
      connectionState = 'new';
      onicecandidate = null;
      onconnectionstatechange = null;
      ontrack = null;
      createDataChannel() {
        box.channel = {
          readyState: 'open',
          onopen: null,
          onclose: null,
          onmessage: null,
          send: (d: string) => sent.push(JSON.parse(d) as Record<string, unknown>),
          close: () => undefined,
        };
        return box.channel;
      }
      addTrack() {}
      async createOffer() {
        return { type: 'offer' as const, sdp: 'v=0' };
      }
      async setLocalDescription() {}
      async setRemoteDescription() {}
      async addIceCandidate() {}
      close() {}
    },
    nonstandard: {
      RTCVideoSource: class {
        createTrack() {
          return { stop: () => undefined };
        }
        onFrame() {}
      },
    },
  } as unknown as WrtcLike;
  return { wrtc, sent, box };
}

async function startCall(t: Test) {
  const verifier = new SlowVerifier({ operators: [{ id: 'carrier-op-alice', publicKey: await exportJWK(op.publicKey) }] });
  await verifier.start();
  const f = fakeWrtc();
  const recorded: OperatorDecision[] = [];
  const call = new AssistCall({
    wrtc: f.wrtc,
    camera: new FakeFrameSource({ width: 64, height: 48, fps: 0, allowVirtual: true }),
    send: async () => {},
    decisions: verifier,
    ...CALL,
    failedChecks: ['liveness'],
    onDecision: async (d) => {
      recorded.push(d);
      return { jti: `jti-${recorded.length}` };
    },
    options: DEFAULT_ASSIST_OPTIONS,
    logger,
  });
  const abort = new AbortController();
  const outcome = call.run(abort.signal);
  t.teardown(async () => {
    abort.abort();
    await outcome;
  });
  const channel = f.box.channel!;
  const say = (token: string) => channel.onmessage?.({ data: JSON.stringify({ type: 'decision', token }) });
  const acks = () => f.sent.filter((m) => m.type === 'ack');
  const settle = async (n: number) => {
    for (let i = 0; i < 200 && acks().length < n; i++) await new Promise((r) => setTimeout(r, 5));
  };
  return { verifier, recorded, say, acks, settle, outcome };
}

t.test('two decisions arriving while the first is verified: exactly one is recorded', async (t) => {
  const c = await startCall(t);
  const [approve, reject] = await Promise.all([sign('approve'), sign('reject')]);
  c.say(approve);
  c.say(reject);
  await new Promise((r) => setTimeout(r, 20));
  c.verifier.open();
  await c.settle(2);
  t.equal(c.recorded.length, 1, 'one decision recorded');
  t.equal(c.recorded[0]?.decision, 'approve', 'the first one');
  t.equal(c.verifier.started, 1, 'the second was refused before its signature was even checked');
  t.same(
    c.acks().map((a) => [a.ok, a.reason ?? a.decision]),
    [
      [false, 'already_decided'],
      [true, 'approve'],
    ],
  );
  const outcome = await c.outcome;
  t.match(outcome, { kind: 'decided', decision: { decision: 'approve' } }, 'the call ends decided, with the first decision');
});

t.test('a refused decision releases the claim: a good one after it is recorded', async (t) => {
  const c = await startCall(t);
  c.say(await sign('approve', other.privateKey));
  c.say(await sign('reject'));
  c.verifier.open();
  await c.settle(2);
  t.same(
    c.acks().map((a) => [a.ok, a.reason]),
    [
      [false, 'already_decided'],
      [false, 'bad_signature'],
    ],
    'a decision that arrives while a forged one is verified is refused too (the operator may send it again)',
  );
  t.equal(c.recorded.length, 0);
  c.say(await sign('reject'));
  await new Promise((r) => setTimeout(r, 10));
  c.verifier.open();
  await c.settle(3);
  t.equal(c.recorded.length, 1, 'the good decision after the refusal is recorded');
  t.match(c.acks()[2], { ok: true, decision: 'reject' });
});
