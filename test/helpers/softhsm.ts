import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Where Debian's softhsm2 installs its PKCS#11 module. */
export const SOFTHSM_MODULE =
  ['/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so', '/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so', '/usr/lib/softhsm/libsofthsm2.so'].find((p) => {
    try {
      execFileSync('test', ['-f', p]);
      return true;
    } catch {
      return false;
    }
  }) ?? '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so';

export interface SoftHsmToken {
  modulePath: string;
  tokenLabel: string;
  pin: string;
  soPin: string;
  /** The SOFTHSM2_CONF file of this token's private directory. */
  conf: string;
  cleanup(): void;
}

/**
 * Creates a fresh SoftHSM2 token in a private temp directory and points SOFTHSM2_CONF at it (the
 * module reads the variable at C_Initialize, so this is process-wide: one token directory per test file).
 * `pin`: a distinctive user PIN lets a test prove that it appears in no output.
 */
export function createSoftHsmToken(label = 'kiosk-test', pin = '123456'): SoftHsmToken {
  const dir = mkdtempSync(join(tmpdir(), 'softhsm-'));
  mkdirSync(join(dir, 'tokens'));
  const conf = join(dir, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  process.env.SOFTHSM2_CONF = conf;
  const soPin = '87654321';
  execFileSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--pin', pin, '--so-pin', soPin], {
    env: { ...process.env, SOFTHSM2_CONF: conf },
    stdio: 'pipe',
  });
  return { modulePath: SOFTHSM_MODULE, tokenLabel: label, pin, soPin, conf, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
