/**
 * The libgpiod v1 tools' syntax, against literal strings from their --help (gpiod 1.6.3) and from
 * libgpiod's own tool tests (tools/gpio-tools-test.bats, v1.6); when the real tools are installed,
 * their --help is checked for every flag we pass.
 */
import t from 'tap';
import {
  gpiogetArgs,
  gpiomonArgs,
  gpiosetArgs,
  MONITOR_FORMAT,
  parseDetectOutput,
  parseFindOutput,
  parseGetOutput,
  parseInfoOutput,
  parseMonitorLine,
  parseToolVersion,
  toolsMissing,
} from '../../device/gpio/gpiod-tools.js';

t.test('version: v1 and v2 banners', async (t) => {
  t.same(parseToolVersion('gpioset (libgpiod) v1.6.3\nCopyright (C) 2017-2018 Bartosz Golaszewski\n'), { major: 1, minor: 6 });
  t.same(parseToolVersion('gpioset (libgpiod) v2.1\n'), { major: 2, minor: 1 });
  t.equal(parseToolVersion('gpioset: unrecognized option'), undefined);
});

t.test('v1 arguments', async (t) => {
  t.same(gpiosetArgs({ chip: 'gpiochip2', offset: 7 }, true), ['--mode=signal', 'gpiochip2', '7=1'], 'as "gpioset --mode=signal CHIP 7=1" in the tool tests');
  t.same(gpiosetArgs({ chip: 'gpiochip2', offset: 0 }, false), ['--mode=signal', 'gpiochip2', '0=0']);
  t.same(gpiogetArgs('gpiochip1', [0, 1, 4, 6]), ['gpiochip1', '0', '1', '4', '6']);
  t.same(gpiomonArgs('gpiochip1', [4, 17]), ['--line-buffered', '--format=%e %o %s %n', 'gpiochip1', '4', '17']);
  t.equal(MONITOR_FORMAT, '%e %o %s %n', '%e event type (0 falling, 1 rising), %o offset, %s seconds, %n nanoseconds');
});

t.test('gpiomon lines in our format; anything else ignored', async (t) => {
  t.same(parseMonitorLine('1 4 1234 567890123'), { rising: true, offset: 4, timestampNs: 1234567890123n });
  t.same(parseMonitorLine('0 17 0 5\n'), { rising: false, offset: 17, timestampNs: 5n });
  t.equal(parseMonitorLine('event:  RISING EDGE offset: 4 timestamp: [    1234.567890123]'), undefined, 'the default format is not ours');
  t.equal(parseMonitorLine('1 4'), undefined, '"--format=%e %o" output lacks the timestamp');
  t.equal(parseMonitorLine(''), undefined);
});

t.test('gpioget, gpiodetect, gpiofind, gpioinfo output', async (t) => {
  t.same(parseGetOutput('0 0 1 1 0 1 0 1\n', 8), [false, false, true, true, false, true, false, true]);
  t.throws(() => parseGetOutput('0 1', 3), { code: 'E_GPIO', subject: 'gpioget' });
  t.same(parseDetectOutput('gpiochip0 [gpio-mockup-A] (4 lines)\ngpiochip1 [gpio-mockup-B] (8 lines)\n'), [
    { name: 'gpiochip0', label: 'gpio-mockup-A', lines: 4 },
    { name: 'gpiochip1', label: 'gpio-mockup-B', lines: 8 },
  ]);
  t.same(parseFindOutput('gpiochip1 7\n'), { chip: 'gpiochip1', offset: 7 });
  t.equal(parseFindOutput(''), undefined);
  const info =
    'gpiochip1 - 8 lines:\n\tline   0:      unnamed       unused   input  active-high \n\tline   7:      unnamed  "gpioset"  output  active-low [used]\n\tline  17:     "GPIO17"    "gpiomon"  input  active-high [used]\n';
  t.same(parseInfoOutput(info), [
    { offset: 0, name: null, consumer: null, direction: 'input' },
    { offset: 7, name: null, consumer: 'gpioset', direction: 'output' },
    { offset: 17, name: 'GPIO17', consumer: 'gpiomon', direction: 'input' },
  ]);
});

t.test('a missing tool names the Debian package', async (t) => {
  const err = toolsMissing('gpiomon', Object.assign(new Error('spawn gpiomon ENOENT'), { code: 'ENOENT' }));
  t.match(err, { code: 'E_GPIO', subject: 'gpiod', message: /gpiomon not found.*Debian package gpiod/, details: { package: 'gpiod', tool: 'gpiomon' } });
});
