import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root (package.json, models/), whether running from source (tsx) or from dist/. */
export function packageRoot(): string {
  const here = resolve(dirname(fileURLToPath(import.meta.url)), '..'); // agent/.. or dist/agent/..
  return here.endsWith('/dist') ? resolve(here, '..') : here;
}

let cachedVersion: string | undefined;

/** The agent's version from package.json (recorded in results as swversion). */
export function agentVersion(): string {
  cachedVersion ??= (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  return cachedVersion;
}
