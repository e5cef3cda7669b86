import t from 'tap';
import { pino } from 'pino';
import { runFleet } from '../../sim/fleet.js';
import { ownTempDir } from '../helpers/tempdir.js';

// The short fleet: 20 kiosks with their own certificates, 5 results each, two verifier processes
// on the shared subscription, all against a real mosquitto (the benchmark runs the same with 500).
t.test('fleet: 20 kiosks x 5 results over mTLS, two verifiers share the load, nothing lost or duplicated, an attacker fails', async (t) => {
  // Not t.testdir(): removed as the test ends, when runFleet has SIGKILLed its verifier processes but not
  // waited for them; this one is removed by the last teardown, with retries (see helpers/tempdir.ts).
  const dir = ownTempDir(t, 'fleet-sim-');
  const r = await runFleet({ devices: 20, results: 5, verifiers: 2, dir, stallMs: 10_000, logger: pino({ level: 'silent' }), attacker: true });
  t.comment(
    `fleet: connected=${r.connected}/${r.devices} verified=${r.verified}/${r.results} lost=${r.lost} duplicates=${r.duplicates} perVerifier=${r.perVerifier.join('/')} runMs=${r.runMs}`,
  );
  t.equal(r.connected, 20, 'every kiosk connected with its own certificate');
  t.equal(r.lost, 0, 'no result lost');
  t.equal(r.verified, 100);
  t.equal(r.duplicates, 0, 'no result verified twice');
  t.same(r.rejectReasons, [], 'nothing rejected');
  t.ok(
    r.perVerifier.every((n) => n > 0),
    `both verifiers took a share (${r.perVerifier.join('/')})`,
  );
  t.equal(
    r.perVerifier.reduce((a, b) => a + b, 0),
    100,
    'shares add up: each result went to one verifier',
  );
  t.ok(r.cpuSeconds.verifiers.length === 2 && r.cpuSeconds.simulator > 0, 'CPU time is measured');
  // One stolen kiosk certificate tried every broker-level attack during the run (sim/attacker.ts).
  const a = r.attacks!;
  t.comment(`attacks succeeded/tried: ${JSON.stringify(a.succeeded)} / ${JSON.stringify(a.tried)}`);
  t.ok(
    Object.values(a.tried).every((n) => n >= 1),
    'every attack was tried',
  );
  t.same(Object.values(a.succeeded), [0, 0, 0, 0, 0], 'none succeeded');
  t.equal(r.kioskDrops, 0, 'no kiosk lost its connection (its client id was never taken over)');
});
