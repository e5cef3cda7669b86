import t from 'tap';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';
import { CONFIG_DOC_FILES, withConfigTable } from '../../scripts/dev/config-docs.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

t.test('docs/daemon.md and the README carry the generated config table (npx tsx scripts/dev/config-docs.ts to refresh)', async (t) => {
  for (const name of CONFIG_DOC_FILES) {
    const text = readFileSync(resolve(root, name), 'utf8');
    t.equal(withConfigTable(text), text, name);
  }
});

t.test('only the block between the markers is replaced', async (t) => {
  const doc = 'before\n<!-- generated:config-keys -->\nold table\n<!-- /generated:config-keys -->\nafter\n';
  const out = withConfigTable(doc);
  t.match(out, /^before\n<!-- generated:config-keys -->\n\n\| key \| type \| default \| unit \| description \|\n/);
  t.match(out, /\| `session\.turnYawDeg` \| number \| `20` \| degrees \| yaw to reach for turn_left \/ turn_right \|\n/);
  t.match(out, /\n\n<!-- \/generated:config-keys -->\nafter\n$/);
  t.notMatch(out, /old table/);
  t.throws(() => withConfigTable('no markers'), /markers/);
});
