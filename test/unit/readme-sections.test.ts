import t from 'tap';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';
// @ts-expect-error plain .mjs script without types
import { render, sectionBody } from '../../scripts/readme-sections.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

t.test('README carries docs/*.md verbatim (node scripts/readme-sections.mjs to refresh)', async (t) => {
  const readme = readFileSync(resolve(root, 'README.md'), 'utf8');
  t.equal(render(readme, root), readme);
});

t.test('a leading H1 is demoted outside code fences and links are rewritten', async (t) => {
  const body = sectionBody('# Title\n\n## Sub\n\n```sh\n# a comment\n```\n\n![x](screen/a.png) see [d](device.md)\n');
  t.equal(body, '## Title\n\n### Sub\n\n```sh\n# a comment\n```\n\n![x](docs/screen/a.png) see [d](#kiosk-device-guide)');
});
