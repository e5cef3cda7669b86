import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** ../shared/data beside the project root; tests that need it skip with this message when absent. */
export const DATA_DIR = process.env.KIOSK_TEST_DATA ?? resolve(fileURLToPath(import.meta.url), '../../../../shared/data');
export const hasData = existsSync(join(DATA_DIR, 'labels'));
export const NO_DATA = `../shared/data is absent (looked in ${DATA_DIR}): skipping tests on real face data`;

export function dataPath(rel: string): string {
  return join(DATA_DIR, rel);
}
