import t from 'tap';
import { FleetTally } from '../../sim/fleet-tally.js';

t.test('a result accepted once over MQTT, then redelivered after a SIGKILL: verified once, one redelivery, nothing twice', async (t) => {
  const tally = new FleetTally(new Set(['a', 'b']));
  tally.accept('a', 'mqtt', 0);
  tally.duplicate('a', 'mqtt');
  t.equal(tally.handledCount, 1);
  t.notOk(tally.isHandled('b'));
  t.same(tally.counts(), { verified: 1, acceptedTwice: 0, replaysAccepted: 0, redelivered: 1, preempted: 0, firstAcceptedByReplay: 0 });
  t.equal(tally.acceptedBy(0), 1);
  t.equal(tally.acceptedBy(1), 0);
});

t.test('a result only ever seen as a duplicate (its host died between the store and the report) counts as verified', async (t) => {
  const tally = new FleetTally(new Set(['a']));
  tally.duplicate('a', 'mqtt');
  t.equal(tally.counts().verified, 1);
});

t.test('an in-flight capture accepted first by a copy: the kiosk delivery is preempted, no replay accepted', async (t) => {
  const tally = new FleetTally(new Set(['a']));
  tally.replay('a');
  tally.accept('a', 'replay');
  tally.duplicate('a', 'replay');
  tally.duplicate('a', 'mqtt');
  const c = tally.counts();
  t.equal(c.replaysAccepted, 0);
  t.equal(c.acceptedTwice, 0);
  t.equal(c.preempted, 1);
  t.equal(c.redelivered, 0);
  t.equal(c.firstAcceptedByReplay, 1);
  t.equal(c.verified, 1);
});

t.test('a replayed result accepted again (a host with its own store) is a replay accepted and a result accepted twice', async (t) => {
  const tally = new FleetTally(new Set(['a', 'b']));
  tally.accept('a', 'mqtt', 0);
  tally.replay('a');
  tally.accept('a', 'replay');
  tally.accept('a', 'replay');
  tally.accept('b', 'mqtt', 1);
  tally.accept('b', 'mqtt', 1);
  const c = tally.counts();
  t.equal(c.replaysAccepted, 2, 'two acceptances beyond the first, both counted against the replay');
  t.equal(c.acceptedTwice, 2, 'a and b were each accepted more than once');
});

t.test('outcomes of tokens the fleet never sent are not verified results', async (t) => {
  const tally = new FleetTally(new Set(['a']));
  tally.accept('x', 'mqtt', 0);
  t.equal(tally.counts().verified, 0);
});
