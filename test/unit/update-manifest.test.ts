import t from 'tap';
import { generateKeyPairSync } from 'node:crypto';
import type { JWK } from 'jose';
import { RELEASE_TYP, ReleaseVerifier, assertVerified, releaseManifestProblem } from '../../provisioning/update/manifest.js';
import { rejectsWithCode } from '../helpers/errors.js';
import { bytes, manifestFor, releaseKey, releaseVerifier, signRelease } from '../helpers/release-fixtures.js';

const files = { 'detector/model.onnx': bytes(100), 'embedding/model.json': bytes(20, 2) };

t.test('a release signed by a configured key verifies, frozen, with its total size', async (t) => {
  const key = await releaseKey();
  const v = await releaseVerifier(key);
  const token = await signRelease(key, manifestFor(7, files));
  const r = await v.verify(`${token}\n`, 'models');
  t.equal(r.manifest.version, 7);
  t.equal(r.kid, key.kid);
  t.equal(r.totalBytes, 120);
  t.ok(Object.isFrozen(r.manifest.files[0]), 'the manifest cannot be changed after verification');
  t.doesNotThrow(() => assertVerified(r));
  t.throws(() => assertVerified({ ...r }), { code: 'E_UPDATE_SIGNATURE' }, 'a copy is not a verified release');
});

t.test('signature, key and typ are checked before the content', async (t) => {
  const key = await releaseKey('rel-a');
  const other = await releaseKey('rel-a'); // same kid, another key: a forger who knows the kid
  const stranger = await releaseKey('rel-x');
  const v = await releaseVerifier(key);
  const good = await signRelease(key, manifestFor(3, files));
  const reason = (r: string) => ({ code: 'E_UPDATE_SIGNATURE', details: { reason: r } });

  await t.rejects(v.verify(await signRelease(other, manifestFor(3, files))), reason('bad_signature'), 'signed by another key under the same kid');
  await t.rejects(v.verify(await signRelease(stranger, manifestFor(3, files))), reason('unknown_key'), 'unknown kid');
  await t.rejects(v.verify(await signRelease(key, manifestFor(3, files), { kid: undefined })), reason('unknown_key'), 'no kid');
  await t.rejects(v.verify(await signRelease(key, manifestFor(3, files), { typ: 'kiosk-cmd+jwt' })), reason('typ'), 'a command token is not a release');
  await t.rejects(v.verify('not a token'), reason('malformed'));

  // Tampered: the payload of a higher version with the good signature of version 3.
  const [h, , s] = good.split('.');
  const forged = Buffer.from(JSON.stringify(manifestFor(99, files))).toString('base64url');
  await t.rejects(v.verify(`${h}.${forged}.${s}`), reason('bad_signature'), 'tampered manifest');
  // Tampered: one file's hash swapped.
  const swapped = manifestFor(3, files);
  swapped.files[0].sha256 = 'f'.repeat(64);
  await t.rejects(v.verify(`${h}.${Buffer.from(JSON.stringify(swapped)).toString('base64url')}.${s}`), reason('bad_signature'));
  await t.rejects(v.verify(good, 'agent'), reason('kind'), 'a models release offered as the agent');
  t.equal(RELEASE_TYP, 'kiosk-release+jwt');
});

t.test('a signed but malformed manifest is refused with E_UPDATE_MANIFEST naming the field', async (t) => {
  const key = await releaseKey();
  const v = await releaseVerifier(key);
  const base = manifestFor(4, files);
  const f0 = base.files[0];
  const cases: [string, object, RegExp][] = [
    ['parent segment', { ...base, files: [{ ...f0, path: 'a/../../etc/passwd' }] }, /files\[0\]\.path/],
    ['absolute path', { ...base, files: [{ ...f0, path: '/etc/passwd' }] }, /must be relative/],
    ['dot segment', { ...base, files: [{ ...f0, path: './a' }] }, /files\[0\]\.path/],
    ['backslash', { ...base, files: [{ ...f0, path: 'a\\..\\b' }] }, /segments may hold/],
    ['empty segment', { ...base, files: [{ ...f0, path: 'a//b' }] }, /files\[0\]\.path/],
    ['duplicate', { ...base, files: [f0, { ...f0 }] }, /listed twice/],
    [
      'file and folder',
      {
        ...base,
        files: [
          { ...f0, path: 'a' },
          { ...f0, path: 'a/b' },
        ],
      },
      /below the file a/,
    ],
    ['version not an integer', { ...base, version: 4.5 }, /version/],
    ['version as text', { ...base, version: '5' }, /version/],
    ['version zero', { ...base, version: 0 }, /version/],
    ['unknown field', { ...base, run: 'rm -rf /' }, /fields must be exactly/],
    ['missing field', { kind: base.kind, version: 4, name: base.name, files: base.files }, /fields must be exactly/],
    ['file field extra', { ...base, files: [{ ...f0, mode: 0o4755 }] }, /files\[0\] fields/],
    ['negative size', { ...base, files: [{ ...f0, size: -1 }] }, /size/],
    ['huge size', { ...base, files: [{ ...f0, size: 3 * 1024 ** 3 }] }, /size/],
    ['uppercase hash', { ...base, files: [{ ...f0, sha256: f0.sha256.toUpperCase() }] }, /sha256/],
    ['no files', { ...base, files: [] }, /files must list/],
    ['bad kind', { ...base, kind: 'kernel' }, /kind/],
    ['bad time', { ...base, createdAt: 'yesterday' }, /createdAt/],
  ];
  for (const [name, payload, message] of cases) {
    t.comment(name);
    await rejectsWithCode(t, v.verify(await signRelease(key, payload)), 'E_UPDATE_MANIFEST', message);
  }
  const big = { ...base, files: [0, 1, 2].map((i) => ({ ...f0, path: `f${i}`, size: 2 * 1024 ** 3 })) };
  t.match(releaseManifestProblem(big), /total/, 'the total size is bounded');
  const few = new ReleaseVerifier({ keys: [{ kid: key.kid, publicKey: key.publicKey }], limits: { maxFiles: 1 } });
  await few.start();
  await rejectsWithCode(t, few.verify(await signRelease(key, base)), 'E_UPDATE_MANIFEST', /1 to 1 files/);
});

t.test('a configured key must be a public P-256 JWK', async (t) => {
  const priv = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }) as JWK;
  await rejectsWithCode(t, new ReleaseVerifier({ keys: [{ kid: 'k', publicKey: priv }] }).start(), 'E_CONFIG_INVALID', 'k');
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' }) as JWK;
  await rejectsWithCode(t, new ReleaseVerifier({ keys: [{ kid: 'r', publicKey: rsa }] }).start(), 'E_CONFIG_INVALID');
  await rejectsWithCode(t, new ReleaseVerifier({ keys: [] }).verify('a.b.c'), 'E_USAGE');
});
