import t from 'tap';
import { Debouncer } from '../../device/gpio/debounce.js';
import { FakeClock } from '../helpers/fake-clock.js';

function setup(activeMs: number, inactiveMs: number) {
  const clock = new FakeClock(1000);
  const changes: Array<[boolean, number, number]> = [];
  const d = new Debouncer({ clock, times: { activeMs, inactiveMs }, initial: false, onChange: (v, since) => changes.push([v, since, clock.now()]) });
  return { clock, changes, d };
}

t.test('bounces shorter than the hold time are ignored; a held level is reported once with the time it began', async (t) => {
  const { clock, changes, d } = setup(20, 20);
  d.sample(true);
  clock.advance(5);
  d.sample(false);
  clock.advance(5);
  d.sample(true); // settles from t=1010
  clock.advance(19);
  t.same(changes, [], 'not yet');
  clock.advance(1);
  t.same(changes, [[true, 1010, 1030]]);
  d.sample(true);
  clock.advance(100);
  t.equal(changes.length, 1, 'repeated samples of the same level change nothing');
  t.equal(d.value, true);
});

t.test('asymmetric hold times: immediate one way, delayed the other', async (t) => {
  const { clock, changes, d } = setup(0, 500);
  d.sample(true);
  t.same(
    changes.map((c) => c[0]),
    [true],
    'active at once',
  );
  d.sample(false);
  clock.advance(300);
  d.sample(true); // back before 500 ms: still active, nothing reported
  clock.advance(1000);
  t.same(
    changes.map((c) => c[0]),
    [true],
  );
  d.sample(false);
  clock.advance(500);
  t.same(
    changes.map((c) => c[0]),
    [true, false],
  );
});

t.test('stop() clears the pending timer', async (t) => {
  const { clock, changes, d } = setup(50, 50);
  d.sample(true);
  t.equal(clock.pending, 1);
  d.stop();
  t.equal(clock.pending, 0);
  clock.advance(100);
  t.same(changes, []);
});
