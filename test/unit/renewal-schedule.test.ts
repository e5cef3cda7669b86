import t from 'tap';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { EnrolmentAuthority } from '../../carrier/enrol/authority.js';
import { EnrolmentRegistry } from '../../carrier/enrol/registry.js';
import { completePendingRenewal, RenewalScheduler, renewalDue, renewalTime } from '../../provisioning/enrol/renewal.js';
import { CarrierCa } from '../../carrier/ca.js';
import { renewalProof } from '../../provisioning/enrol/client.js';
import { MemoryKeyStore } from '../../base/keys/memory-key-store.js';
import { createCsr, type x509 } from '../../base/keys/x509.js';
import { FakeClock } from '../helpers/fake-clock.js';

const logger = pino({ level: 'silent' });
const ca = await CarrierCa.init(join(t.testdir({}), 'ca'));
t.teardown(() => ca.stop());
const key = new MemoryKeyStore();
await key.start();
const issue = (days: number, now?: Date) => ca.issue(key.publicKeySpki(), 'kiosk-001', { profile: 'device', validityDays: days, now });

t.test('renewal is due when less than the window of the validity remains', async (t) => {
  const cert = await issue(10);
  const life = cert.notAfter.getTime() - cert.notBefore.getTime();
  t.equal(renewalTime(cert).getTime(), cert.notAfter.getTime() - life * 0.2);
  t.notOk(renewalDue(cert, new Date(cert.notBefore.getTime() + life * 0.79)));
  t.ok(renewalDue(cert, new Date(cert.notBefore.getTime() + life * 0.81)));
  t.ok(renewalDue(cert, new Date(cert.notBefore.getTime() + life * 0.51), 0.5), 'window configurable');
  t.throws(() => renewalTime(cert, 1.5), { code: 'E_CONFIG_INVALID' });
});

t.test('a failed renewal is retried with jittered backoff; success schedules the next check', async (t) => {
  let current: x509.X509Certificate = await issue(1);
  const life = current.notAfter.getTime() - current.notBefore.getTime();
  const clock = new FakeClock(current.notBefore.getTime() + life * 0.9);
  let calls = 0;
  const scheduler = new RenewalScheduler({
    certificate: () => current,
    renew: async () => {
      calls++;
      if (calls < 3) throw new Error('broker unreachable');
      current = await issue(30, new Date(clock.now()));
      return current;
    },
    clock,
    logger,
    random: () => 0.5,
    options: { retry: { baseMs: 1000, capMs: 4000 } },
  });
  const failures: number[] = [];
  scheduler.events.on('failed', (f) => failures.push(f.retryInMs));
  let renewed = 0;
  scheduler.events.on('renewed', () => {
    renewed++;
  });
  await scheduler.start();
  await new Promise((r) => setImmediate(r));
  t.equal(calls, 1, 'due at start: tried at once');
  t.same(failures, [500], 'retry after half of the first backoff ceiling (random = 0.5)');
  clock.advance(499);
  t.equal(calls, 1, 'not before the delay');
  clock.advance(1);
  await new Promise((r) => setImmediate(r));
  t.same(failures, [500, 1000]);
  // The third attempt issues a real certificate (async WebCrypto): wait for its event, not for one tick.
  const renewedOnce = new Promise<void>((r) => scheduler.events.once('renewed', () => r()));
  clock.advance(1000);
  await Promise.race([renewedOnce, new Promise((r) => setTimeout(r, 10_000).unref())]);
  t.equal(calls, 3);
  t.equal(renewed, 1, 'third attempt renews');
  clock.advance(3600_000);
  t.equal(calls, 3, 'not due again for a long while');
  await scheduler.stop();
});

t.test('a renewal that leaves the certificate still due is a failure, not a busy loop', async (t) => {
  const cert = await issue(1);
  const clock = new FakeClock(cert.notAfter.getTime() - 1000);
  let calls = 0;
  const s = new RenewalScheduler({
    certificate: () => cert,
    renew: async () => {
      calls++;
      return cert;
    },
    clock,
    logger,
    random: () => 0,
  });
  const failed = new Promise((r) => s.events.once('failed', r));
  await s.start();
  await failed;
  t.equal(calls, 1);
  await s.stop();
});

t.test('a new-key installation interrupted between the renames is completed at the next start', async (t) => {
  const dir = t.testdir({ 'device.key': 'old key', 'device.crt': 'old cert' });
  t.equal(await completePendingRenewal(dir), false, 'nothing pending');
  writeFileSync(join(dir, 'device.key.next'), 'new key');
  t.equal(await completePendingRenewal(dir), false, 'a new key without its certificate is a renewal in flight: left alone');
  t.equal(readFileSync(join(dir, 'device.key'), 'utf8'), 'old key');
  writeFileSync(join(dir, 'device.crt.next'), 'new cert');
  renameSync(join(dir, 'device.key.next'), join(dir, 'device.key')); // the crash came after the first rename
  t.equal(await completePendingRenewal(dir), true);
  t.equal(readFileSync(join(dir, 'device.key'), 'utf8'), 'new key');
  t.equal(readFileSync(join(dir, 'device.crt'), 'utf8'), 'new cert');
  t.notOk(existsSync(join(dir, 'device.crt.next')));
});

t.test('the authority checks the CSR against the device it is for', async (t) => {
  const registry = new EnrolmentRegistry(':memory:');
  t.teardown(() => registry.stop());
  const authority = new EnrolmentAuthority({ ca, registry });
  const other = await authority.renew('kiosk-002', { v: 1, csr: await createCsr(key, 'kiosk-001') });
  t.match(other.reply, { ok: false, reason: 'device_mismatch' }, "kiosk-002 cannot renew kiosk-001's name");
  t.match((await authority.renew('kiosk-001', { v: 1, csr: 'garbage' })).reply, { ok: false, reason: 'bad_csr' });
  // A renewal carries a proof of possession by the current key (attacks-renewal-pop covers its refusals).
  const current = await ca.issue(key.publicKeySpki(), 'kiosk-001', { profile: 'device' });
  const csr = await createCsr(key, 'kiosk-001');
  const pop = await renewalProof({ url: '', ca: ca.pem, cert: current.toString('pem'), key: '', deviceId: 'kiosk-001', keyStore: key }, csr);
  const ok = await authority.renew('kiosk-001', { v: 1, csr, pop });
  t.match(ok.reply, { ok: true, certificate: /BEGIN CERTIFICATE/ });
  const thief = new MemoryKeyStore();
  await thief.start();
  await registry.allow(['kiosk-001']);
  t.match(
    (await authority.enrol({ v: 1, device_id: 'kiosk-001', csr: await createCsr(thief, 'kiosk-001') })).reply,
    { ok: false, reason: 'already_enrolled' },
    'a claim cannot take over an enrolled id with another key',
  );
});
