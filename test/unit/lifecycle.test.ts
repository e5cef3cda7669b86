/**
 * The daemon's lifecycle: components start in order and stop in reverse, each stop within its time
 * limit and whatever the others do; a component that fails to start stops those already started.
 */
import t from 'tap';
import { pino } from 'pino';
import { Lifecycle, type Component } from '../../agent/daemon/lifecycle.js';
import { deadline } from '../../base/clock.js';
import { FakeClock } from '../helpers/fake-clock.js';

function recorder() {
  const calls: string[] = [];
  const lines: Array<{ msg: string; component?: string }> = [];
  const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l)) });
  const part = (name: string, over: Partial<Component> = {}): Component => ({
    name,
    start: () => void calls.push(`start ${name}`),
    stop: () => void calls.push(`stop ${name}`),
    ...over,
  });
  return { calls, lines, logger, part };
}

t.test('start in order, stop in reverse', async (t) => {
  const { calls, logger, part } = recorder();
  const life = new Lifecycle([part('a'), part('b'), part('c')], { logger, stopTimeoutMs: 1000 });
  await life.start();
  const outcomes = await life.stop();
  t.same(calls, ['start a', 'start b', 'start c', 'stop c', 'stop b', 'stop a']);
  t.same(
    outcomes.map((o) => o.outcome),
    ['stopped', 'stopped', 'stopped'],
  );
  t.same(await life.stop(), [], 'a second stop has nothing left to stop');
});

t.test('a failing or hanging stop does not keep the others from stopping, and is logged', async (t) => {
  const { calls, lines, logger, part } = recorder();
  const clock = new FakeClock();
  const life = new Lifecycle(
    [
      part('ledger'),
      part('broken', {
        stop: () => {
          throw new Error('disk gone');
        },
      }),
      part('hung', { stop: () => new Promise<void>(() => {}) }),
      part('screen'),
    ],
    { logger, stopTimeoutMs: 500, clock },
  );
  await life.start();
  let done = false;
  const stopping = life.stop().finally(() => {
    done = true;
  });
  for (let i = 0; i < 50 && !done; i++) await clock.advanceAsync(100, 100);
  const outcomes = await stopping;
  t.same(
    outcomes.map((o) => [o.name, o.outcome]),
    [
      ['screen', 'stopped'],
      ['hung', 'timed_out'],
      ['broken', 'failed'],
      ['ledger', 'stopped'],
    ],
  );
  t.ok(calls.includes('stop ledger'), 'the component below the failures stopped');
  t.match(outcomes[2], { error: 'disk gone' });
  t.same(
    lines.filter((l) => l.msg.startsWith('component')).map((l) => [l.component, l.msg]),
    [
      ['hung', 'component did not stop in time; stopping the others'],
      ['broken', 'component failed to stop; stopping the others'],
    ],
  );
});

t.test('a component that fails to start stops those already started, then the error is thrown', async (t) => {
  const { calls, logger, part } = recorder();
  const boom = Object.assign(new Error('no camera'), { code: 'E_CAMERA' });
  const life = new Lifecycle(
    [
      part('a'),
      part('camera', {
        start: () => {
          throw boom;
        },
      }),
      part('c'),
    ],
    { logger, stopTimeoutMs: 1000 },
  );
  await t.rejects(life.start(), boom);
  t.same(calls, ['start a', 'stop a'], 'c never started; camera never counted as started');
});

t.test('deadline: the value in time, E_TIMEOUT naming the call after the limit', async (t) => {
  const clock = new FakeClock();
  t.equal(await deadline(Promise.resolve(3), 100, 'x', clock), 3);
  const late = deadline(new Promise<number>(() => {}), 100, 'engine.decide', clock);
  clock.advance(100);
  await t.rejects(late, { code: 'E_TIMEOUT', message: 'engine.decide took longer than 100 ms' });
  t.equal(clock.pending, 0, 'no timer left behind');
  await t.rejects(deadline(Promise.reject(new Error('boom')), 100, 'x', clock), { message: 'boom' }, 'a rejection passes through');
});
