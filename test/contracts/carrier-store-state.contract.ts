/** The carrier store contract, part two: the enrolment registry and rollout state (see carrier-store.contract.ts). */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import type { RolloutRules } from '../../carrier/rollout/plan.js';
import { type RolloutRelease, jobIdFor } from '../../carrier/rollout/store.js';
import type { OpenStores } from './carrier-store.contract.js';

const key = () => new Uint8Array(randomBytes(91));
const rules: RolloutRules = { canary: { count: 1 }, wave: { percent: 50 }, abortFailureRate: 0.2, minFinished: 2, kioskTimeoutMs: 60_000 };
const release: RolloutRelease = { token: 'a.b.c', sha256: 'f'.repeat(64), kind: 'agent', version: 7 };
const targets = ['kiosk-003', 'kiosk-001', 'kiosk-002'];

/** The enrolment registry's cases. */
export function registryContract(name: string, open: OpenStores): void {
  t.test(`${name}: registry claims: allow-list, one-time tokens, same key again, revocation`, async (t) => {
    const { registry: reg } = await open(t);
    const [k1, k2] = [key(), key()];
    t.equal(await reg.claim('kiosk-001', k1), 'not_allowed');
    await reg.allow(['kiosk-001', 'kiosk-001']);
    await reg.allow([]);
    t.equal(await reg.claim('kiosk-001', k1), 'ok');
    t.equal(await reg.claim('kiosk-001', k1), 'ok', 'the same key again (a lost reply)');
    t.equal(await reg.claim('kiosk-001', k2), 'already_enrolled');
    const token = await reg.issueToken('kiosk-002');
    t.match(token, /^[A-Za-z0-9_-]{32}$/);
    t.equal(await reg.claim('kiosk-002', k1), 'bad_token', 'no token');
    t.equal(await reg.claim('kiosk-002', k1, `${token}x`), 'bad_token', 'a wrong token');
    t.equal(await reg.claim('kiosk-002', k1, token), 'ok');
    const t3 = await reg.issueToken('kiosk-003');
    const t3b = await reg.issueToken('kiosk-003');
    t.equal(await reg.claim('kiosk-003', k2, t3), 'bad_token', 'a replaced token is void');
    t.equal(await reg.claim('kiosk-003', k2, t3b), 'ok');
    const rec = await reg.device('kiosk-001');
    t.equal(rec?.revoked, false);
    t.match(rec?.keySha256, /^[0-9a-f]{64}$/);
    t.equal(await reg.device('kiosk-404'), undefined);
    await reg.revoke('kiosk-001');
    await reg.revoke('kiosk-004');
    t.equal(await reg.claim('kiosk-001', k1), 'revoked');
    t.equal(await reg.claim('kiosk-004', k1), 'revoked', 'revoked before it ever enrolled');
    t.equal((await reg.device('kiosk-004'))?.revoked, true);
  });

  t.test(`${name}: registry renewals, certificate history and rate limit`, async (t) => {
    const { registry: reg } = await open(t);
    const [k1, k2] = [key(), key()];
    await reg.allow(['kiosk-001']);
    t.equal(await reg.claim('kiosk-001', k1), 'ok');
    await reg.issued('kiosk-001', 'aa01', new Date(1_900_000_000_000));
    const t0 = new Date('2030-01-01T00:00:00Z');
    const hour = { minIntervalMs: 3600_000 };
    t.equal(await reg.renew('kiosk-001', k2, { currentSpki: k2, now: t0, ...hour }), 'not_current_key');
    t.equal(await reg.renew('kiosk-001', k2, { currentSpki: k1, now: t0, ...hour }), 'ok');
    await reg.issued('kiosk-001', 'aa02', new Date(1_900_000_001_000));
    await reg.issued('kiosk-001', 'aa02', new Date(1_900_000_001_000));
    t.same(await reg.serials('kiosk-001'), ['aa01', 'aa02'], 'every serial once, oldest first');
    t.same(await reg.device('kiosk-001'), {
      deviceId: 'kiosk-001',
      keySha256: (await reg.device('kiosk-001'))?.keySha256,
      serial: 'aa02',
      notAfter: 1_900_000_001_000,
      revoked: false,
    });
    t.equal(await reg.renew('kiosk-001', k2, { currentSpki: k2, now: new Date(t0.getTime() + 3599_000), ...hour }), 'rate_limited');
    t.equal(await reg.renew('kiosk-001', k2, { currentSpki: k2, now: new Date(t0.getTime() + 3600_000), ...hour }), 'ok');
    t.equal(await reg.renew('kiosk-050', k1, { now: t0 }), 'ok', 'a device enrolled offline is recorded at its first renewal');
    await reg.revoke('kiosk-001');
    t.equal(await reg.renew('kiosk-001', k2, { currentSpki: k2, now: new Date(t0.getTime() + 9e6) }), 'revoked');
  });

  t.test(`${name}: racing claims of one device spend its token once and enrol one key`, async (t) => {
    const { registry: reg } = await open(t);
    const token = await reg.issueToken('kiosk-001');
    const keys = Array.from({ length: 12 }, key);
    const checks = await Promise.all(keys.map((k) => reg.claim('kiosk-001', k, token)));
    t.equal(checks.filter((c) => c === 'ok').length, 1, 'one claim wins');
    t.equal(checks.filter((c) => c === 'already_enrolled').length, 11, 'the others find it enrolled');
    await reg.allow(['kiosk-002']);
    const renewals = await Promise.all(keys.map((k) => reg.renew('kiosk-002', k, { now: new Date(), minIntervalMs: 3600_000 })));
    t.equal(renewals.filter((c) => c === 'ok').length, 1, 'one renewal inside the interval');
  });

  t.test(`${name}: registry ids with SQL metacharacters are data`, async (t) => {
    const { registry: reg } = await open(t);
    const { NASTY_IDS } = await import('./carrier-store.contract.js');
    await reg.allow(NASTY_IDS);
    for (const id of NASTY_IDS) {
      t.equal(await reg.claim(id, key()), 'ok', JSON.stringify(id));
      await reg.issued(id, `${id}-serial`, new Date(0));
      t.same(await reg.serials(id), [`${id}-serial`]);
    }
    t.equal(await reg.claim('kiosk-001', key()), 'not_allowed', 'the allow-list did not widen');
  });
}

/** The rollout state's cases. */
export function rolloutContract(name: string, open: OpenStores): void {
  t.test(`${name}: rollouts resume: stored targets and rules win, jobs are sent once, the first abort stays`, async (t) => {
    const { rollouts: s } = await open(t);
    const r = await s.begin('r-1', release, targets, rules, 100);
    t.same(r, { id: 'r-1', release, targets, rules, createdAt: 100 });
    t.ok(await s.markSent('r-1', 'kiosk-003', 0, 200));
    t.notOk(await s.markSent('r-1', 'kiosk-003', 0, 300), 'a second send of the same job is refused');
    t.notOk(await s.markSent('r-1', 'kiosk-404', 0, 300), 'not a target');
    t.equal(await s.report('r-1', jobIdFor('r-1', 'kiosk-003'), 'committed', undefined, 400), 'applied');
    await s.abort('r-1', 'first', 1);
    await s.abort('r-1', 'second', 2);
    const again = await s.begin('r-1', release, ['kiosk-009'], { ...rules, minFinished: 99 }, 500);
    t.same(again.targets, targets, 'the stored targets win');
    t.equal(again.rules.minFinished, 2, 'the stored rules win');
    t.same(again.aborted, { reason: 'first', wave: 1 });
    const k = await s.kiosks('r-1');
    t.same(k.get('kiosk-003'), { state: 'committed', wave: 0, sentAt: 200, updatedAt: 400 });
    t.same(k.get('kiosk-001'), { state: 'pending' });
    await t.rejects(s.begin('r-1', { ...release, sha256: '0'.repeat(64) }, targets, rules, 700), { code: 'E_USAGE' }, 'same id, another release');
    t.equal(await s.get('r-404'), undefined);
    t.same(await s.kiosks('r-404'), new Map());
  });

  t.test(`${name}: rollout reports move forward only; a carrier timeout yields to the kiosk's final report`, async (t) => {
    const { rollouts: s } = await open(t);
    await s.begin('r-2', release, targets, rules, 0);
    const job = jobIdFor('r-2', 'kiosk-001');
    await s.markSent('r-2', 'kiosk-001', 0, 10);
    t.equal(await s.report('r-2', job, 'downloading', undefined, 20), 'applied');
    t.equal(await s.report('r-2', job, 'queued', undefined, 21), 'ignored', 'out of order');
    t.equal(await s.report('r-2', job, 'trial', undefined, 22), 'applied');
    t.equal(await s.report('r-2', job, 'trial', undefined, 23), 'ignored', 'a duplicate');
    t.equal(await s.report('r-2', jobIdFor('r-1', 'kiosk-001'), 'committed', undefined, 30), 'unknown_job');
    t.equal(await s.jobKiosk('r-2', job), 'kiosk-001');
    t.equal(await s.jobKiosk('r-2', "x' OR '1'='1"), undefined);
    await s.markTimedOut('r-2', ['kiosk-001', 'kiosk-002'], 100);
    await s.markTimedOut('r-2', [], 100);
    t.same((await s.kiosks('r-2')).get('kiosk-001'), { state: 'failed', wave: 0, sentAt: 10, updatedAt: 100, reason: 'timeout' });
    t.same((await s.kiosks('r-2')).get('kiosk-002'), { state: 'pending' }, 'a pending kiosk does not time out');
    t.equal(await s.report('r-2', job, 'trial', undefined, 110), 'ignored');
    t.equal(await s.report('r-2', job, 'rolled_back', 'self_test', 120), 'applied');
    t.equal(await s.report('r-2', job, 'committed', undefined, 130), 'ignored', "the kiosk's own final report is final");
    await s.markSent('r-2', 'kiosk-003', 0, 10);
    await s.unmarkSent('r-2', 'kiosk-003');
    t.same((await s.kiosks('r-2')).get('kiosk-003'), { state: 'pending' });
    t.equal(await s.report('r-2', jobIdFor('r-2', 'kiosk-002'), 'trial', undefined, 140), 'applied', 'a report for an unsent job');
    t.same((await s.kiosks('r-2')).get('kiosk-002'), { state: 'trial', sentAt: 140, updatedAt: 140 }, 'its timeout runs from now');
  });

  t.test(`${name}: racing runners send each job once and record one of two racing final reports`, async (t) => {
    const { rollouts: s } = await open(t);
    const many = Array.from({ length: 300 }, (_, i) => `kiosk-${String(i).padStart(3, '0')}`);
    const [a, b] = await Promise.all([s.begin('r-9', release, many, rules, 1), s.begin('r-9', release, many, rules, 2)]);
    t.same(a, b, 'two runners starting the same rollout see one');
    const sends = await Promise.all(many.flatMap((k) => [s.markSent('r-9', k, 0, 5), s.markSent('r-9', k, 1, 6)]));
    t.equal(sends.filter(Boolean).length, 300, 'one send per kiosk');
    const job = jobIdFor('r-9', 'kiosk-007');
    const finals = await Promise.all([s.report('r-9', job, 'committed', undefined, 9), s.report('r-9', job, 'rolled_back', 'x', 9)]);
    t.same([...finals].sort(), ['applied', 'ignored'], 'the first final report wins');
  });
}
