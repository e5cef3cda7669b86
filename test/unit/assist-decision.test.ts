import t from 'tap';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { DecisionVerifier, DECISION_TYP } from '../../agent/assist/decision.js';
import { rgbToI420, scaledSize } from '../../agent/assist/i420.js';

const ctx = { assistId: 'a-1', kioskId: 'kiosk-001', challenge: 'c0ffee' };
const now = 1_750_000_000_000;
const op = await generateKeyPair('ES256', { extractable: true });
const other = await generateKeyPair('ES256', { extractable: true });
const verifier = new DecisionVerifier({ operators: [{ id: 'carrier-op-alice', publicKey: await exportJWK(op.publicKey) }], clock: () => now, maxAgeSec: 120 });
await verifier.start();

const sign = (claims: Record<string, unknown>, o: { key?: typeof op.privateKey; kid?: string; typ?: string } = {}) =>
  new SignJWT({ assist_id: 'a-1', kiosk: 'kiosk-001', challenge: 'c0ffee', decision: 'approve', iat: Math.floor(now / 1000), ...claims })
    .setProtectedHeader({ alg: 'ES256', typ: o.typ ?? DECISION_TYP, kid: o.kid ?? 'carrier-op-alice' })
    .sign(o.key ?? op.privateKey);
const reason = (p: Promise<unknown>) =>
  p.then(
    () => 'accepted',
    (e: { details?: { reason?: string } }) => e.details?.reason ?? 'error',
  );

t.test('a decision signed by the configured operator for this call is accepted', async (t) => {
  const d = await verifier.verify(await sign({ note: 'ok' }), ctx);
  t.equal(d.decision, 'approve');
  t.equal(d.operatorId, 'carrier-op-alice');
  t.match(d.keyThumbprint, /^[A-Za-z0-9_-]{43}$/);
  t.equal(d.note, 'ok');
  t.equal((await verifier.verify(await sign({ decision: 'reject' }), ctx)).decision, 'reject');
});

t.test('unsigned, forged, foreign, stale, misdirected or odd decisions are refused with a reason', async (t) => {
  const [h, p] = (await sign({})).split('.');
  const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: DECISION_TYP, kid: 'carrier-op-alice' })).toString('base64url')}.${p}.`;
  t.equal(await reason(verifier.verify(none, ctx)), 'unsigned', 'alg none');
  t.equal(await reason(verifier.verify({ decision: 'approve' }, ctx)), 'unsigned', 'a plain object');
  t.equal(await reason(verifier.verify(`${h}.${p}`, ctx)), 'malformed', 'two parts');
  t.equal(await reason(verifier.verify(await sign({}, { key: other.privateKey }), ctx)), 'bad_signature', 'right kid, wrong key');
  t.equal(await reason(verifier.verify(await sign({}, { kid: 'carrier-op-mallory' }), ctx)), 'unknown_operator');
  t.equal(await reason(verifier.verify(await sign({}, { typ: 'JWT' }), ctx)), 'malformed', 'wrong typ');
  t.equal(await reason(verifier.verify(await sign({ iat: Math.floor(now / 1000) - 121 }), ctx)), 'stale', 'older than 120 s');
  t.equal(await reason(verifier.verify(await sign({ iat: Math.floor(now / 1000) + 60 }), ctx)), 'stale', 'from the future');
  t.equal(await reason(verifier.verify(await sign({ iat: undefined }), ctx)), 'stale', 'no iat');
  t.equal(await reason(verifier.verify(await sign({ challenge: 'beef' }), ctx)), 'wrong_call', 'another challenge (replay from another call)');
  t.equal(await reason(verifier.verify(await sign({ kiosk: 'kiosk-002' }), ctx)), 'wrong_call', 'another kiosk');
  t.equal(await reason(verifier.verify(await sign({ decision: 'maybe' }), ctx)), 'bad_decision');
  t.equal(await reason(verifier.verify(await sign({ note: 'x'.repeat(900) }), ctx)), 'malformed', 'too long to carry in a result');
});

t.test('operator configuration is checked at start', async (t) => {
  const pub = await exportJWK(op.publicKey);
  const priv = await exportJWK(op.privateKey);
  await t.rejects(new DecisionVerifier({ operators: [{ id: 'kiosk-001', publicKey: pub }] }).start(), { code: 'E_CONFIG_INVALID' }, 'a device-like id');
  await t.rejects(new DecisionVerifier({ operators: [{ id: 'carrier-op-a', publicKey: priv }] }).start(), { code: 'E_CONFIG_INVALID' }, 'a private key');
  await t.rejects(
    new DecisionVerifier({ operators: [{ id: 'carrier-op-a', publicKey: { kty: 'RSA', n: 'x', e: 'AQAB' } as JWK }] }).start(),
    { code: 'E_CONFIG_INVALID' },
    'not P-256',
  );
});

t.test('RGB to I420: scaled, even, BT.601 limited range', async (t) => {
  t.same(scaledSize(640, 480, 320), { width: 320, height: 240 });
  t.same(scaledSize(1280, 721, 641), { width: 640, height: 360 });
  t.same(scaledSize(100, 50, 640), { width: 100, height: 50 }, 'never scaled up');
  const w = 4,
    h = 2;
  const rgb = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) rgb.set(i % 2 ? [255, 255, 255] : [0, 0, 0], i * 3);
  const f = rgbToI420({ width: w, height: h, data: rgb }, 640);
  t.equal(f.data.length, w * h * 1.5);
  t.same([...f.data.slice(0, 4)], [16, 235, 16, 235], 'black and white luma');
  t.same([...f.data.slice(8)], [128, 128, 128, 128], 'no colour in grey pixels');
  const red = rgbToI420({ width: 2, height: 2, data: new Uint8Array(12).map((_, i) => (i % 3 === 0 ? 255 : 0)) }, 640);
  t.same([...red.data], [82, 82, 82, 82, 90, 240], 'pure red: Y 82, U 90, V 240');
});
