/**
 * Writes the config key table (`kiosk-agent config schema`: every key of agent/config/schema.ts, the
 * session and abuse keys from their tables in agent/session) between the `generated:config-keys`
 * markers of docs/daemon.md and of README.md, which carries docs/daemon.md verbatim
 * (scripts/readme-sections.mjs). Only the block between the markers is touched.
 *
 *   npx tsx scripts/dev/config-docs.ts          update both files
 *   npx tsx scripts/dev/config-docs.ts --check  exit 1 if either is stale (test/unit/config-docs.test.ts checks the same)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { schemaMarkdown } from '../../agent/config/format.js';
import { configSchema } from '../../agent/config/schema.js';

const OPEN = '<!-- generated:config-keys -->';
const CLOSE = '<!-- /generated:config-keys -->';

/** The files carrying the table, relative to the repository root. */
export const CONFIG_DOC_FILES = ['docs/daemon.md', 'README.md'];

/** `text` with the current table between its markers (throws when the markers are missing). */
export function withConfigTable(text: string): string {
  const a = text.indexOf(OPEN);
  const b = text.indexOf(CLOSE);
  if (a < 0 || b < a) throw new Error(`no ${OPEN} ... ${CLOSE} markers`);
  return `${text.slice(0, a + OPEN.length)}\n\n${schemaMarkdown(configSchema())}\n${text.slice(b)}`;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
  const check = process.argv.includes('--check');
  let stale = false;
  for (const name of CONFIG_DOC_FILES) {
    const file = join(root, name);
    const before = readFileSync(file, 'utf8');
    const after = withConfigTable(before);
    if (after === before) continue;
    stale = true;
    if (check) console.error(`${name}: the config key table is out of date: run npx tsx scripts/dev/config-docs.ts`);
    else {
      writeFileSync(file, after);
      console.error(`${name}: config key table updated`);
    }
  }
  if (check && stale) process.exit(1);
}
