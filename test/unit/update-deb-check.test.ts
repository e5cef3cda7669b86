import t from 'tap';
import { type DebEntry, parseTarListing, unsafeEntry } from '../../provisioning/update/deb-check.js';

const f = (path: string): DebEntry => ({ type: '-', path });
const d = (path: string): DebEntry => ({ type: 'd', path });
const l = (path: string, target: string): DebEntry => ({ type: 'l', path, target });

t.test('tar -tv --quoting-style=c lines are parsed, quotes and escapes undone', async (t) => {
  const text = [
    'drwxr-xr-x 0/0               0 2026-12-07 05:53 "./"',
    '-rw-r--r-- 0/0               2 2026-12-07 05:53 "./usr/a \\"b\\"\\303\\251.txt"',
    'lrwxrwxrwx 0/0               0 2026-12-07 05:53 "./usr/x" -> "a -> b"',
    'hrw-r--r-- 0/0               0 2026-12-07 05:53 "./usr/h" link to "./usr/x"',
    '',
  ].join('\n');
  t.same(parseTarListing(text, 'p.deb'), [
    { type: 'd', path: './', target: undefined },
    { type: '-', path: './usr/a "b"\u00c3\u00a9.txt', target: undefined },
    { type: 'l', path: './usr/x', target: 'a -> b' },
    { type: 'h', path: './usr/h', target: './usr/x' },
  ]);
  t.throws(() => parseTarListing('-rw-r--r-- 0/0 2 2026-12-07 05:53 ./unquoted\n', 'p.deb'), { code: 'E_UPDATE_MANIFEST' }, 'an unreadable line is an error');
});

t.test('a tree that stays inside its directory passes', async (t) => {
  t.equal(
    unsafeEntry([d('./'), d('./usr/'), f('./usr/lib/a'), l('./usr/lib/b', 'a'), l('./usr/lib/c', '../lib/a'), l('./usr/lib/n', '/usr/bin/node')]),
    undefined,
  );
});

t.test('members that would land outside are named with a reason', async (t) => {
  t.same(unsafeEntry([f('./../etc/passwd')]), { path: './../etc/passwd', reason: 'path_outside' });
  t.same(unsafeEntry([f('/etc/passwd')]), { path: '/etc/passwd', reason: 'path_outside' });
  t.same(unsafeEntry([f('./usr/../../x')]), { path: './usr/../../x', reason: 'path_outside' });
  t.same(unsafeEntry([l('./usr/up', '../../../etc')]), { path: './usr/up', reason: 'link_outside' });
  t.same(unsafeEntry([l('./usr/etc', '/etc'), f('./usr/etc/cron.d/x')]), { path: './usr/etc/cron.d/x', reason: 'through_symlink' });
  t.same(unsafeEntry([{ type: 'h', path: './h', target: '../../etc/shadow' }]), { path: './h', reason: 'link_outside' });
  t.same(unsafeEntry([{ type: 'c', path: './dev/null' }]), { path: './dev/null', reason: 'special_file' });
  t.same(unsafeEntry([{ type: 'l', path: './x', target: '' }]), { path: './x', reason: 'bad_link' });
});
