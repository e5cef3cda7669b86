import t from 'tap';
import { pino } from 'pino';
import { runFleet } from '../../sim/fleet.js';
import { hasPostgres, noPostgresReason, startPostgres } from '../helpers/postgres.js';
import { ownTempDir } from '../helpers/tempdir.js';

// Verifiers on many hosts: three verifier processes (each its own certificate and client id) on the
// shared subscription, sharing one real PostgreSQL; one host is SIGKILLed mid-run and started again,
// and a replayer hands captured results to several hosts at once (the bench runs the same at 2000).
t.test(
  'fleet on PostgreSQL: 3 hosts, one SIGKILLed and restarted, 200 replays to several hosts at once',
  { skip: hasPostgres ? false : noPostgresReason },
  async (t) => {
    const dir = ownTempDir(t, 'fleet-pg-');
    const pg = await startPostgres(`${dir}/pg`);
    t.teardown(() => pg.stop());
    const r = await runFleet({
      devices: 50,
      results: 10,
      verifiers: 3,
      dir,
      store: { kind: 'postgres', url: pg.url },
      killAt: 0.3,
      restartAfterMs: 1000,
      replays: 200,
      stallMs: 15_000,
      logger: pino({ level: 'silent' }),
    });
    const rp = r.replays!;
    t.comment(
      `connected=${r.connected} verified=${r.verified}/${r.results} lost=${r.lost} duplicates=${r.duplicates} redelivered=${r.redelivered} perHost=${r.perVerifier.join('/')} runMs=${r.runMs}`,
    );
    t.comment(`kill: ${JSON.stringify(r.kill)}; replays: ${JSON.stringify(rp)}; audit: ${JSON.stringify(r.audit)}`);
    t.equal(r.store, 'postgres');
    t.equal(r.connected, 50, 'every kiosk connected with its own certificate');
    t.equal(r.lost, 0, 'no result lost, the SIGKILL included');
    t.equal(r.verified, 500);
    t.equal(r.duplicates, 0, 'no result accepted twice, by any host on any path');
    t.same(r.rejectReasons, [], 'no genuine result rejected');
    t.equal(r.audit.consumed, 500, "the store: every nonce consumed by its own result's jti");
    t.equal(r.audit.notConsumed, 0);
    t.same(r.audit.other, {});
    t.ok(r.kill && r.kill.verifiedBefore < 500, 'a host was SIGKILLed before the run was over');
    t.ok(r.kill && r.kill.acceptedAfterRestart > 0, `the restarted host took results again (${r.kill?.acceptedAfterRestart})`);
    t.equal(rp.tokens, 200, '200 captured results replayed');
    t.equal(rp.copies, 600, 'three copies of each, handed over at once (to three hosts while all are up)');
    t.equal(rp.accepted, 0, 'replays accepted: 0');
    t.ok(rp.inFlight > 0, `some captured before they were verified (${rp.inFlight}): their copies raced at the store`);
    // Every copy is accounted for: an in-flight result may be accepted once through a copy, never more.
    const outcomes = rp.outcomes;
    t.equal(
      Object.values(outcomes).reduce((a, b) => a + b, 0),
      600,
    );
    t.ok((outcomes.accepted ?? 0) <= rp.inFlight, 'at most one acceptance per in-flight result');
    t.equal(rp.firstAcceptedByCopy, outcomes.accepted ?? 0);
    t.ok((outcomes.duplicate ?? 0) > 0, 'the others were found consumed by the store');
  },
);

// The measure can fail: the same run with host 2 on its own copy of the SQLite store (as separate
// hosts with their own files were) accepts replayed results the shared store refuses.
t.test('fail-before: a host with its own SQLite store accepts replays', async (t) => {
  const dir = ownTempDir(t, 'fleet-split-');
  const r = await runFleet({
    devices: 10,
    results: 10,
    verifiers: 2,
    dir,
    replays: 50,
    separateStoreFor: 1,
    stallMs: 10_000,
    logger: pino({ level: 'silent' }),
  });
  t.comment(`replays: ${JSON.stringify(r.replays)}; duplicates=${r.duplicates}`);
  t.ok(r.replays!.accepted > 0, `replays accepted with a separate store: ${r.replays!.accepted}`);
  t.ok(r.duplicates > 0, `results accepted twice: ${r.duplicates}`);
});
