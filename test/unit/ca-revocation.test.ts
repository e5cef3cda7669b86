import t from 'tap';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CarrierCa } from '../../carrier/ca.js';
import { EnrolmentRegistry } from '../../carrier/enrol/registry.js';
import { normalizeSerial, revocationCheck } from '../../carrier/revocation.js';
import { MemoryKeyStore } from '../../base/keys/memory-key-store.js';
import { x509 } from '../../base/keys/x509.js';

const key = async () => {
  const k = new MemoryKeyStore();
  await k.start();
  return k;
};

t.test('the CA records what it issued and revoked, durably, and signs a numbered CRL OpenSSL accepts', async (t) => {
  const dir = t.testdir({});
  const ca = await CarrierCa.init(dir);
  const a = await ca.issue((await key()).publicKeySpki(), 'kiosk-001', { profile: 'device' });
  const b = await ca.issue((await key()).publicKeySpki(), 'kiosk-001', { profile: 'device' });
  const c = await ca.issue((await key()).publicKeySpki(), 'kiosk-002', { profile: 'device' });
  const empty = new x509.X509Crl(await ca.crl());
  t.equal(empty.entries.length, 0, 'an empty CRL before any revocation');
  t.same(
    (await ca.revokeSubject('kiosk-001', 'keyCompromise')).sort(),
    [a, b].map((x) => normalizeSerial(x.serialNumber)).sort(),
    'every certificate of the CN',
  );
  t.same(await ca.revokeSubject('kiosk-001', 'keyCompromise'), [], 'revoking again changes nothing');
  t.notOk(await ca.isRevoked(c));
  await ca.stop();

  const reopened = await CarrierCa.open(dir);
  t.ok((await reopened.isRevoked(a)) && (await reopened.isRevoked(b)), 'revocations survive a reopen');
  const check = revocationCheck(dir);
  t.ok((await check.isRevoked(a)) && !(await check.isRevoked(c)), 'the verifier check reads the same record');
  await check.stop();
  const pem = await reopened.crl({ days: 2 });
  t.match(pem, /^-----BEGIN X509 CRL-----/);
  const crl = new x509.X509Crl(pem);
  t.equal(crl.entries.length, 2);
  t.equal(crl.findRevoked(a)?.reason, x509.X509CrlReason.keyCompromise);
  t.ok(await crl.verify({ publicKey: reopened.certificate.publicKey }), 'signed by the CA');
  t.ok(crl.nextUpdate && crl.nextUpdate.getTime() - Date.now() > 1.9 * 86_400_000, 'nextUpdate = now + days');
  writeFileSync(join(dir, 'crl.pem'), pem);
  const text = execFileSync('openssl', ['crl', '-in', join(dir, 'crl.pem'), '-noout', '-text', '-CAfile', join(dir, 'ca.crt')], {
    encoding: 'utf8',
    stdio: 'pipe',
  });
  t.match(text, /CRL Number: \s*2\n/, 'numbered in issue order, across a reopen (the empty one was 1)');
  t.match(text, new RegExp(a.serialNumber, 'i'));
  await reopened.stop();
});

t.test('registry: per-device serial history, current key and rate limit on renewal', async (t) => {
  const reg = new EnrolmentRegistry(':memory:');
  const k1 = (await key()).publicKeySpki();
  const k2 = (await key()).publicKeySpki();
  await reg.allow(['kiosk-001']);
  t.equal(await reg.claim('kiosk-001', k1), 'ok');
  await reg.issued('kiosk-001', 'aa01', new Date(Date.now() + 1000));
  const t0 = new Date('2030-01-01T00:00:00Z');
  t.equal(
    await reg.renew('kiosk-001', k2, { currentSpki: k2, now: t0, minIntervalMs: 3600_000 }),
    'not_current_key',
    'a proof by a key that is not the recorded one',
  );
  t.equal(await reg.renew('kiosk-001', k2, { currentSpki: k1, now: t0, minIntervalMs: 3600_000 }), 'ok');
  await reg.issued('kiosk-001', 'aa02', new Date(Date.now() + 1000));
  t.same(await reg.serials('kiosk-001'), ['aa01', 'aa02'], 'every serial, not only the last');
  t.equal(await reg.renew('kiosk-001', k2, { currentSpki: k2, now: new Date(t0.getTime() + 3599_000), minIntervalMs: 3600_000 }), 'rate_limited');
  t.equal(await reg.renew('kiosk-001', k2, { currentSpki: k2, now: new Date(t0.getTime() + 3600_000), minIntervalMs: 3600_000 }), 'ok', 'after the interval');
  await reg.revoke('kiosk-001');
  t.equal(await reg.renew('kiosk-001', k2, { currentSpki: k2, now: new Date(t0.getTime() + 9e6) }), 'revoked');
  await reg.stop();
});
