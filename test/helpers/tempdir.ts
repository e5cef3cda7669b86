import { chmodSync, mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';

/**
 * A fresh folder under `os.tmpdir()` for a test whose brokers or child processes write into it,
 * removed by a teardown registered here, at the call.
 *
 * Call it BEFORE starting any broker, service or child process of the test (before registering
 * their teardowns): tap runs `t.teardown` functions last-registered-first, so this removal, registered
 * first, runs last, after the teardowns that stop those writers.
 *
 * Why not `t.testdir()`: tap (`@tapjs/fixture`) does not remove a testdir with a teardown, it wraps the
 * test's end-of-test hook, and when the testdir is made before the first `t.teardown` (the usual
 * order: folder first, then the broker in it) that removal runs BEFORE all the teardowns, i.e. while
 * mosquitto is still writing its persistence and log and children their state. rimraf then fails with
 * ENOTEMPTY (a file appeared between its readdir and rmdir). `maxRetries` covers the same race with
 * anything that was killed but not waited for.
 *
 * The folder is chmod 0755 (mkdtemp makes it 0700): when the tests run as root, the broker runs as the
 * unprivileged `mosquitto` user and must traverse it (see carrier/broker/local-broker.ts).
 */
export function ownTempDir(t: Pick<Test, 'teardown'>, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  t.teardown(() => rm(dir, { recursive: true, force: true, maxRetries: 3 }));
  return dir;
}
