import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { assertDebContained } from '../../provisioning/update/deb-check.js';
import { rejectsWithCode } from '../helpers/errors.js';
import { craftDeb } from '../helpers/apt-repo.js';
import { ownTempDir } from '../helpers/tempdir.js';

const run = promisify(execFile);
const exists = (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  );

t.test('a package whose members stay inside passes', async (t) => {
  const dir = ownTempDir(t, 'deb-check-');
  const { path: deb } = await craftDeb(join(dir, 'good.deb'), [
    ['./usr/lib/kiosk-agent/a', '-', 'a'],
    ['./usr/lib/kiosk-agent/b', 'l', 'a'],
  ]);
  await assertDebContained(deb);
  t.pass('accepted');
});

t.test('a member path going up is refused, and dpkg-deb -x does not write it outside either', async (t) => {
  const dir = ownTempDir(t, 'deb-check-');
  const { path: deb } = await craftDeb(join(dir, 'dotdot.deb'), [
    ['./usr/a', '-', 'a'],
    ['./../escaped', '-', 'pwned'],
  ]);
  await rejectsWithCode(t, assertDebContained(deb), 'E_UPDATE_MANIFEST', 'path_outside');
  const target = join(dir, 'x');
  await mkdir(target);
  await run('dpkg-deb', ['-x', deb, target]).catch(() => undefined);
  t.notOk(await exists(join(dir, 'escaped')), 'dpkg-deb (GNU tar) did not write outside its directory');
});

t.test('a member written through a symlink to outside is refused, and dpkg-deb -x does not follow it', async (t) => {
  const dir = ownTempDir(t, 'deb-check-');
  const outside = join(dir, 'outside');
  await mkdir(outside);
  const { path: deb } = await craftDeb(join(dir, 'through-link.deb'), [
    ['./usr/etc', 'l', outside],
    ['./usr/etc/pwned', '-', 'pwned'],
  ]);
  await rejectsWithCode(t, assertDebContained(deb), 'E_UPDATE_MANIFEST', 'through_symlink');
  const target = join(dir, 'x');
  await mkdir(target);
  await run('dpkg-deb', ['-x', deb, target]).catch(() => undefined);
  t.same(await readdir(outside), [], 'nothing was written through the link');
});

t.test('a relative symlink pointing above the tree is refused', async (t) => {
  const dir = ownTempDir(t, 'deb-check-');
  const { path: deb } = await craftDeb(join(dir, 'link-up.deb'), [['./usr/up', 'l', '../../../etc']]);
  await rejectsWithCode(t, assertDebContained(deb), 'E_UPDATE_MANIFEST', 'link_outside');
});
