/**
 * The carrier store contract: the same cases against every backend (SQLite files, PostgreSQL). Each
 * case opens a fresh, empty set of stores with `open` (the backend's test file closes it). This file
 * has the nonce store and the CA record; carrier-store-state.contract.ts the registry and rollouts.
 */
import t, { type Test } from 'tap';
import type { CarrierStores } from '../../carrier/store/types.js';
import { registryContract, rolloutContract } from './carrier-store-state.contract.js';

/** Opens a fresh, empty set of stores for one case; the caller's teardown closes it. */
export type OpenStores = (t: Test) => Promise<CarrierStores>;

/** A result arriving at `now` (ms offset from `base`) with `iat` (ms offset), skew 5 s. */
export const at = (base: Date, now: number, iat = now) => ({ now: new Date(base.getTime() + now), iat: new Date(base.getTime() + iat), skewMs: 5000 });

/** Ids full of SQL metacharacters: stored and matched as data, never as SQL. */
export const NASTY_IDS = ["kiosk-'; DROP TABLE nonces; --", 'kiosk-"x" OR 1=1', 'kiosk-\\0-%-_-$1-?-:name', 'kiosk-ünïcødé-ключ'];

/** Runs every store's contract on one backend. */
export function carrierStoreContract(name: string, open: OpenStores): void {
  nonceContract(name, open);
  revocationContract(name, open);
  registryContract(name, open);
  rolloutContract(name, open);
}

function nonceContract(name: string, open: OpenStores): void {
  t.test(`${name}: nonces are decided as the verifier needs`, async (t) => {
    const { nonces } = await open(t);
    const now = new Date('2025-01-01T00:00:00Z');
    const n = await nonces.issue('kiosk-001', now, 60_000);
    t.match(n, /^[0-9a-f]{64}$/);
    t.not(await nonces.issue('kiosk-001', now), n, 'nonces differ');
    t.equal(await nonces.consume('00'.repeat(32), 'kiosk-001', 'j1', at(now, 0)), 'unknown');
    t.equal(await nonces.consume(n, 'kiosk-002', 'j1', at(now, 0)), 'wrong_device');
    t.equal(await nonces.consume(n, 'kiosk-001', 'j1', at(now, 61_000)), 'expired');
    t.equal(await nonces.consume(n, 'kiosk-001', 'j1', at(now, 60_000)), 'ok', 'valid up to and including issue + ttl');
    const m = await nonces.issue('kiosk-001', now, 60_000);
    t.equal(await nonces.consume(m, 'kiosk-001', 'j1', at(now, 1000, -6000)), 'iat_before_issue', 'iat before the issue time minus the skew');
    t.equal(await nonces.consume(m, 'kiosk-001', 'j1', at(now, 1000, -5000)), 'ok', 'iat within the skew');
    t.equal(await nonces.consume(m, 'kiosk-001', 'j1', at(now, 0)), 'duplicate', 'same jti again');
    t.equal(await nonces.consume(m, 'kiosk-001', 'j2', at(now, 0)), 'replay', 'another jti');
    t.equal(await nonces.consume(m, 'kiosk-001', 'j2', at(now, 90_000)), 'replay', 'a used nonce is a replay even once expired');
  });

  t.test(`${name}: issueMany issues in order, each once consumable`, async (t) => {
    const { nonces } = await open(t);
    const now = new Date();
    const devices = Array.from({ length: 50 }, (_, i) => `kiosk-${String(i).padStart(3, '0')}`);
    const issued = await nonces.issueMany(devices, now, 60_000);
    t.equal(new Set(issued).size, 50);
    t.same(await nonces.issueMany([], now), []);
    const checks = await Promise.all(issued.map((n, i) => nonces.consume(n, devices[i], `j${i}`, at(now, 1))));
    t.ok(
      checks.every((c) => c === 'ok'),
      'each nonce belongs to its device',
    );
    t.equal(await nonces.consume(issued[1], devices[0], 'x', at(now, 1)), 'wrong_device');
  });

  t.test(`${name}: two consumers racing on the same nonces accept each exactly once`, async (t) => {
    const { nonces } = await open(t);
    const now = new Date();
    const list = await nonces.issueMany(Array(200).fill('kiosk-001'), now);
    const both = await Promise.all(list.flatMap((n) => [nonces.consume(n, 'kiosk-001', 'a', at(now, 1)), nonces.consume(n, 'kiosk-001', 'b', at(now, 1))]));
    t.equal(both.filter((c) => c === 'ok').length, 200, 'one accept per nonce');
    t.equal(both.filter((c) => c === 'replay').length, 200, 'the other is a replay');
  });

  t.test(`${name}: ids with SQL metacharacters are data`, async (t) => {
    const { nonces } = await open(t);
    const now = new Date();
    for (const id of NASTY_IDS) {
      const n = await nonces.issue(id, now);
      t.equal(await nonces.consume(n, 'kiosk-001', id, at(now, 1)), 'wrong_device', `device ${JSON.stringify(id)} kept exactly`);
      t.equal(await nonces.consume(n, id, id, at(now, 1)), 'ok');
      t.equal(await nonces.consume(n, id, id, at(now, 1)), 'duplicate', 'the jti is kept exactly');
      t.equal(await nonces.consume(`${n}' OR '1'='1`, id, 'x', at(now, 1)), 'unknown');
    }
    const again = await nonces.issue('kiosk-001', now);
    t.equal(await nonces.consume(again, 'kiosk-001', 'j', at(now, 1)), 'ok', 'the table is still there');
  });
}

function revocationContract(name: string, open: OpenStores): void {
  t.test(`${name}: the CA record keeps issued and revoked certificates and numbers CRLs`, async (t) => {
    const { revocations: r } = await open(t);
    const cert = (serial: string) => ({ serialNumber: serial, notAfter: new Date('2030-01-01T00:00:00Z') });
    await r.recordIssued(cert('00AB01'), 'kiosk-001', 'device', new Date(1000));
    await r.recordIssued(cert('AB02'), 'kiosk-001', 'device', new Date(2000));
    await r.recordIssued(cert('AB02'), 'kiosk-009', 'device', new Date(3000));
    await r.recordIssued(cert('cd03'), 'kiosk-002', 'device', new Date(1500));
    t.same(await r.serialsOf('kiosk-001'), ['ab01', 'ab02'], 'normalized serials, oldest first; a second record of a serial changes nothing');
    t.same(await r.serialsOf('kiosk-404'), []);
    t.equal(await r.isRevoked('ab01'), false);
    t.equal(await r.revoke('AB01', 'keyCompromise', new Date(5000)), true);
    t.equal(await r.revoke('0ab01', 'superseded', new Date(6000)), false, 'revoking again changes nothing');
    t.equal(await r.reasonOf('ab01'), 'keyCompromise', 'the first reason is kept');
    t.equal(await r.reasonOf('cd03'), undefined);
    t.equal(await r.isRevoked('000AB01'), true, 'serials compare case- and leading-zero-insensitively');
    await r.revoke('cd03', 'superseded', new Date(4000));
    t.same(
      (await r.revoked()).map((e) => [e.serial, e.revokedAt.getTime(), e.reason]),
      [
        ['cd03', 4000, 'superseded'],
        ['ab01', 5000, 'keyCompromise'],
      ],
      'oldest revocation first',
    );
    t.same([await r.nextCrlNumber(), await r.nextCrlNumber()], [1, 2]);
    const many = await Promise.all(Array.from({ length: 20 }, () => r.nextCrlNumber()));
    t.same(
      [...many].sort((a, b) => a - b),
      Array.from({ length: 20 }, (_, i) => i + 3),
      'concurrent CRLs get distinct numbers',
    );
    await r.recordIssued(cert(NASTY_IDS[0]), NASTY_IDS[1], 'device', new Date(7000));
    t.same(await r.serialsOf(NASTY_IDS[1]), [NASTY_IDS[0].toLowerCase()], 'metacharacters are data');
  });
}
