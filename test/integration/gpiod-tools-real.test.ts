/** The real libgpiod v1 tools (Debian package gpiod) accept the flags the driver passes. */
import { execFileSync } from 'node:child_process';
import t from 'tap';

const help = (tool: string) => {
  try {
    return execFileSync(`/usr/bin/${tool}`, ['--help'], { encoding: 'utf8' });
  } catch {
    return undefined;
  }
};
t.test(
  "the flags we pass are in the real v1 tools' --help",
  { skip: help('gpioset') === undefined ? 'Debian package gpiod not installed (apt-get install gpiod)' : false },
  async (t) => {
    t.match(help('gpioset'), /-m, --mode=\[exit\|wait\|time\|signal\]/);
    t.match(help('gpioset'), /signal:\s+set values and wait for SIGINT or SIGTERM/);
    t.match(help('gpiomon'), /-b, --line-buffered/);
    t.match(help('gpiomon'), /-F, --format=FMT/);
    for (const spec of ['%o', '%e', '%s', '%n']) t.match(help('gpiomon'), new RegExp(`${spec}:`));
    t.match(help('gpioget'), /Usage: \S*gpioget \[OPTIONS\] <chip name\/number> <offset 1>/);
    t.match(execFileSync('/usr/bin/gpioset', ['--version'], { encoding: 'utf8' }), /^gpioset \(libgpiod\) v1\./);
  },
);
