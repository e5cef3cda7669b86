/**
 * The signed result cannot carry biometric data, checked twice: at compile time (a result type that
 * can hold an image, a crop, a landmark list or an embedding does not type-check as an argument of
 * `ResultSigner.sign`; the `@ts-expect-error` lines below fail `npm run typecheck` if that guard
 * ever lets one through), and at run time (`assertNoBiometrics` refuses such a value even when the
 * types were bypassed).
 */
import t from 'tap';
import { createSelfSignedCertificate } from '../../base/keys/x509.js';
import { MemoryKeyStore } from '../../base/keys/memory-key-store.js';
import type { RgbImage } from '../../base/rgb-image.js';
import type { HoldsBiometric } from '../../protocol/eat.js';
import { ResultSigner } from '../../provisioning/result-signer.js';
import type { SignedSessionResult } from '../../agent/session/signed-result.js';
import type { OperatorResult } from '../../agent/assist/service.js';

// What the kiosk signs today holds nothing biometric (adding such a field to SessionResult breaks this line).
const SIGNED_RESULT_IS_CLEAN: HoldsBiometric<SignedSessionResult> extends false ? true : never = true;
const OPERATOR_RESULT_IS_CLEAN: HoldsBiometric<OperatorResult> extends false ? true : never = true;

const nonce = 'ab'.repeat(16);

async function signer(): Promise<ResultSigner> {
  const keyStore = new MemoryKeyStore();
  await keyStore.start();
  const certificate = await createSelfSignedCertificate(keyStore, 'kiosk-types', 'kiosk-device');
  return new ResultSigner({ keyStore, certificate, measurements: [] });
}

t.test('the result types the kiosk signs hold nothing biometric', async (t) => {
  t.ok(SIGNED_RESULT_IS_CLEAN && OPERATOR_RESULT_IS_CLEAN);
});

t.test('a result that could carry biometric data does not compile, and is refused at run time', async (t) => {
  const s = await signer();
  const base = { verdict: 'accept' as const, reasons: ['ok'] };
  const crop: RgbImage = { width: 1, height: 1, data: new Uint8Array(3) };
  const attempts: Array<[string, () => Promise<unknown>]> = [
    // @ts-expect-error an embedding (numeric array)
    ['embedding', () => s.sign(nonce, { ...base, scores: { probe: Array.from({ length: 128 }, () => 0.1) } })],
    // @ts-expect-error a typed array
    ['typed array', () => s.sign(nonce, { ...base, scores: { probe: new Float32Array(128) } })],
    // @ts-expect-error an image under a reserved key
    ['crop', () => s.sign(nonce, { ...base, crop })],
    // @ts-expect-error a landmark list (array of points) under a reserved key
    ['landmarks', () => s.sign(nonce, { ...base, landmarks: Array.from({ length: 68 }, () => ({ x: 1, y: 2 })) })],
  ];
  for (const [what, attempt] of attempts) await t.rejects(attempt(), { code: 'E_USAGE' }, `${what}: refused at run time`);
  const signed = await s.sign(nonce, { ...base, scores: { match: 0.7 } });
  t.match(signed.claims.result, { verdict: 'accept', scores: { match: 0.7 } }, 'a clean result signs');
});
