/**
 * SupervisedTool (one long-running gpiod tool) with stand-in processes: a restart still waiting for
 * its process to hold the line when a write stops and starts the tool again is stale, and must not
 * stop the write's new process (it did: a gpioset started by a write "exited before it held").
 */
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import type { ChildProcess } from 'node:child_process';
import t from 'tap';
import type { KioskError } from '../../base/errors.js';
import { SupervisedTool } from '../../device/gpio/gpiod-child.js';
import { FakeClock, flush } from '../helpers/fake-clock.js';

class StandIn extends EventEmitter {
  static next = 100;
  readonly pid = StandIn.next++;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  constructor() {
    super();
    setImmediate(() => this.emit('spawn'));
  }
  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    if (this.exitCode !== null || this.signalCode !== null) return false;
    this.signalCode = signal;
    setImmediate(() => {
      this.emit('exit', null, signal);
      this.emit('close', null, signal);
    });
    return true;
  }
}

/**
 * A ready() per process that the test settles by hand. Like GpiodGpioPort.held, which polls
 * gpioinfo, it notices an exit only at its next poll (`poll()`), not at once.
 */
function setup() {
  const clock = new FakeClock();
  const children: StandIn[] = [];
  const readiness = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  const errors: KioskError[] = [];
  const gone: Array<() => void> = [];
  const poll = () => {
    for (const g of gone.splice(0)) g();
  };
  const tool = new SupervisedTool({
    tool: 'gpioset',
    args: () => ['gpiochip0', '22=1'],
    subject: 'gpiochip0:22',
    details: {},
    clock,
    spawn: () => {
      const c = new StandIn();
      children.push(c);
      return c as unknown as ChildProcess;
    },
    ready: (child, exited) =>
      new Promise<void>((resolve, reject) => {
        readiness.set(child.pid!, { resolve, reject });
        void exited.then(() => gone.push(() => reject(new Error(`pid ${child.pid} exited before it held the line`))));
      }),
    onError: (e) => errors.push(e),
  });
  const waitForChildren = async (n: number) => {
    for (let i = 0; i < 100 && children.length < n; i++) await flush();
    if (children.length < n) throw new Error(`expected ${n} processes, have ${children.length}`);
  };
  return { clock, children, readiness, errors, tool, waitForChildren, poll };
}

t.test('a write during a restart keeps its own process; the stale restart gives up quietly', async (t) => {
  const { clock, children, readiness, errors, tool, waitForChildren, poll } = setup();
  const started = tool.start();
  await waitForChildren(1);
  readiness.get(children[0].pid)!.resolve();
  await started;

  children[0].kill('SIGKILL'); // dies on its own: reported, restarted after 500 ms
  for (let i = 0; i < 10 && errors.length === 0; i++) await flush();
  t.equal(errors.length, 1, 'the unexpected exit is reported');
  clock.advance(500);
  await waitForChildren(2); // the restart's process, not yet holding its line

  // A write: stop, then start with the new level (GpiodGpioPort.drive).
  await tool.stop();
  t.equal(children[1].signalCode, 'SIGTERM', "stop() ends the restart's process");
  const write = tool.start();
  await waitForChildren(3);
  poll(); // the stale restart's wait notices its process is gone
  for (let i = 0; i < 10; i++) await flush();
  t.equal(children[2].signalCode, null, "the write's process is left alone");
  readiness.get(children[2].pid)!.resolve();
  await write;
  t.equal(tool.pid, children[2].pid, "the tool supervises the write's process");
  t.equal(errors.length, 1, 'the stale restart reports nothing more');
  t.equal(clock.pending, 0, 'and schedules no other restart');
  await tool.stop();
});
