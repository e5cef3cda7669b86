import t from 'tap';
import { randomInt } from 'node:crypto';
import { ResultSigner } from '../../provisioning/result-signer.js';
import { MemoryNonceStore } from '../../carrier/nonce-store.js';
import { ResultVerifier } from '../../carrier/verifier.js';
import { TestPki, stubPlan, stubPlanCheck } from '../helpers/pki.js';

/** Mutations of a compact JWS: text-level and decoded-byte-level, then re-encoded. */
const B64U = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
function mutate(token: string): string {
  const parts = token.split('.');
  const kind = randomInt(8);
  const p = randomInt(3);
  switch (kind) {
    case 0: {
      // replace one character anywhere
      const i = randomInt(token.length);
      return token.slice(0, i) + B64U[randomInt(B64U.length)] + token.slice(i + 1);
    }
    case 1: {
      // flip one bit of one decoded byte in one part
      const buf = Buffer.from(parts[p], 'base64url');
      buf[randomInt(buf.length)] ^= 1 << randomInt(8);
      parts[p] = buf.toString('base64url');
      return parts.join('.');
    }
    case 2: // truncate
      return token.slice(0, randomInt(token.length));
    case 3: {
      // insert or delete a character
      const i = randomInt(token.length);
      return randomInt(2) ? token.slice(0, i) + B64U[randomInt(64)] + token.slice(i) : token.slice(0, i) + token.slice(i + 1);
    }
    case 4: {
      // change one JSON value in header or payload
      const q = randomInt(2);
      const obj = JSON.parse(Buffer.from(parts[q], 'base64url').toString()) as Record<string, unknown>;
      const keys = Object.keys(obj);
      const k = keys[randomInt(keys.length)];
      const v = obj[k];
      obj[k] = typeof v === 'number' ? v + (randomInt(2) ? 1 : -1) : typeof v === 'string' ? v.slice(0, -1) + (v.endsWith('a') ? 'b' : 'a') : null;
      parts[q] = Buffer.from(JSON.stringify(obj)).toString('base64url');
      return parts.join('.');
    }
    case 5: {
      // swap parts or duplicate one
      const i = randomInt(3);
      const j = (i + 1 + randomInt(2)) % 3;
      [parts[i], parts[j]] = [parts[j], parts[i]];
      return parts.join('.');
    }
    case 6: {
      // add a claim or header field
      const q = randomInt(2);
      const obj = JSON.parse(Buffer.from(parts[q], 'base64url').toString()) as Record<string, unknown>;
      obj[['crit', 'sub', 'jti', 'x', 'result'][randomInt(5)]] = ['kiosk-002'][0];
      parts[q] = Buffer.from(JSON.stringify(obj)).toString('base64url');
      return parts.join('.');
    }
    default: {
      // change several random bytes in the signature
      const buf = Buffer.from(parts[2], 'base64url');
      for (let n = 1 + randomInt(4); n > 0; n--) buf[randomInt(buf.length)] = randomInt(256);
      parts[2] = buf.toString('base64url');
      return parts.join('.');
    }
  }
}

t.test('thousands of mutated tokens: none is accepted, the original still is', async (t) => {
  const pki = await TestPki.create(t.testdir({}));
  t.teardown(() => pki.ca.stop());
  const dev = await pki.issue('kiosk-001');
  await pki.issue('kiosk-002');
  const nonces = new MemoryNonceStore();
  const verifier = new ResultVerifier({ ca: pki.ca.certificate, nonces, checkPlan: stubPlanCheck, policy: 'skip' });
  const nonce = await nonces.issue('kiosk-001', new Date());
  const signer = new ResultSigner({ keyStore: dev.keyStore, certificate: dev.certificate, measurements: [{ id: 'agent' }] });
  const { token } = await signer.sign(nonce, { verdict: 'accept', reasons: [], scores: { liveness: 0.9 }, plan: stubPlan(nonce) });

  const N = 3000;
  const reasons = new Map<string, number>();
  let accepted = 0;
  let tried = 0;
  for (let i = 0; i < N; i++) {
    const m = mutate(token);
    if (m === token) continue;
    tried++;
    const o = await verifier.verify(m);
    if (o.status !== 'rejected') {
      accepted++;
      t.fail(`mutation accepted (${o.status}): ${m}`);
    } else reasons.set(o.reason, (reasons.get(o.reason) ?? 0) + 1);
  }
  t.equal(accepted, 0, `${tried} distinct mutations, none accepted`);
  t.ok(tried > N * 0.9, 'almost every mutation differed from the original');
  t.comment(`rejections by reason: ${JSON.stringify(Object.fromEntries(reasons))}`);
  t.match(await verifier.verify(token), { status: 'accepted' }, 'the untouched token is accepted (the nonce was not burnt)');
});
