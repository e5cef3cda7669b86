import t from 'tap';
import { execFile } from 'node:child_process';
import { chmod, mkdir, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { packDeb } from '../../scripts/release/pack-deb.js';
import { ownTempDir } from '../helpers/tempdir.js';

const run = promisify(execFile);
const EPOCH = 1_796_600_000;

/** The same app tree, written in the given file order with mtimes and modes that differ by `seed`. */
async function tree(dir: string, order: string[], seed: number): Promise<string> {
  const files: Record<string, string> = {
    'bin/kiosk-agent': '#!/bin/sh\nexec node "$(dirname "$0")/../dist/agent/cli/main.js" "$@"\n',
    'dist/agent/cli/main.js': 'console.log("hi");\n',
    'node_modules/x/index.js': 'export default 1;\n',
    'package.json': '{"name":"kiosk-agent","version":"0.1.0"}\n',
  };
  for (const p of order) {
    await mkdir(join(dir, p, '..'), { recursive: true });
    await writeFile(join(dir, p), files[p]);
    await chmod(join(dir, p), p.startsWith('bin/') ? [0o700, 0o755][seed - 1] : [0o600, 0o664][seed - 1]);
    await utimes(join(dir, p), 1_000_000 * seed, 1_000_000 * seed);
  }
  await mkdir(join(dir, 'node_modules', '.bin'), { recursive: true });
  await symlink('../x/index.js', join(dir, 'node_modules', '.bin', 'x'));
  return dir;
}

t.test('the same tree packs to the same bytes whatever its mtimes, modes and creation order', async (t) => {
  const dir = ownTempDir(t, 'pack-deb-');
  const names = ['bin/kiosk-agent', 'dist/agent/cli/main.js', 'node_modules/x/index.js', 'package.json'];
  const a = await tree(join(dir, 'a'), names, 1);
  const b = await tree(join(dir, 'b'), [...names].reverse(), 2);
  const units = join(dir, 'units');
  await mkdir(units);
  await writeFile(join(units, 'kiosk-agent.service'), '[Service]\nExecStart=/usr/lib/kiosk-agent/bin/kiosk-agent run\n');
  await writeFile(join(units, 'README.md'), 'not a unit\n');
  const one = await packDeb({ app: a, version: 12, out: join(dir, 'out-a'), arch: 'arm64', units, sourceDateEpoch: EPOCH });
  const two = await packDeb({ app: b, version: 12, out: join(dir, 'out-b'), arch: 'arm64', units, sourceDateEpoch: EPOCH });
  t.equal(one.sha256, two.sha256, 'same sha256');
  t.equal(one.size, two.size);
  t.match(one.path, /kiosk-agent_12_arm64\.deb$/);
  const later = await packDeb({ app: a, version: 12, out: join(dir, 'out-c'), arch: 'arm64', units, sourceDateEpoch: EPOCH + 1 });
  t.not(later.sha256, one.sha256, 'SOURCE_DATE_EPOCH is what the mtimes come from');

  const listing = (await run('dpkg-deb', ['-c', one.path])).stdout;
  const entries = listing
    .trim()
    .split('\n')
    .map((l) => l.split(/\s+/));
  t.ok(
    entries.every((e) => e[1] === 'root/root'),
    'every entry is owned by root',
  );
  t.ok(
    entries.every((e) => `${e[3]} ${e[4]}` === new Date(EPOCH * 1000).toISOString().slice(0, 16).replace('T', ' ')),
    'every mtime is SOURCE_DATE_EPOCH',
  );
  const byPath = new Map(entries.map((e) => [e[5], e]));
  t.equal(byPath.get('./usr/lib/kiosk-agent/bin/kiosk-agent')?.[0], '-rwxr-xr-x', 'the launcher stays executable');
  t.equal(byPath.get('./usr/lib/kiosk-agent/package.json')?.[0], '-rw-r--r--', 'other files are 0644');
  t.same(
    byPath.get('./usr/lib/kiosk-agent/node_modules/.bin/x')?.slice(5),
    ['./usr/lib/kiosk-agent/node_modules/.bin/x', '->', '../x/index.js'],
    'a symlink stays a symlink',
  );
  t.ok(byPath.has('./lib/systemd/system/kiosk-agent.service'), 'the units go to /lib/systemd/system');
  t.notOk(byPath.has('./lib/systemd/system/README.md'), 'only *.service files are units');

  const fields = (await run('dpkg-deb', ['-f', one.path])).stdout;
  t.match(fields, /^Package: kiosk-agent$/m);
  t.match(fields, /^Version: 12$/m);
  t.match(fields, /^Architecture: arm64$/m);
  t.match(fields, /^Depends: nodejs \(>= 20\)/m);
  const scripts = (await run('dpkg-deb', ['-I', one.path])).stdout;
  t.match(scripts, /postinst/);
  t.match(scripts, /prerm/);
});

t.test('a version that is not a positive integer is refused', async (t) => {
  const dir = ownTempDir(t, 'pack-deb-bad-');
  await t.rejects(packDeb({ app: dir, version: 1.5, out: dir }), /positive integer/);
});
