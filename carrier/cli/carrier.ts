/** The carrier-side tools (CA, CSR signing, nonces, result verification, broker policy, enrolment, revocation, commands): `npm run carrier -- <command>`. */
import type { Command } from 'commander';
import { registerEnrolment } from './enrolment.js';
import { registerMetrics } from './metrics.js';
import { registerPki } from './pki.js';
import { registerRelease } from './release.js';
import { registerRollout } from './rollout.js';
import { registerVerifierService } from './verifier-service.js';
import { registerVerify } from './verify.js';

/** Registers the carrier commands on `carrier` (the `kiosk-carrier` program). */
export function register(carrier: Command): void {
  registerPki(carrier);
  registerVerify(carrier);
  registerVerifierService(carrier);
  registerEnrolment(carrier);
  // `release ... --version <n>` is the release's version; the program's own --version only before a command.
  carrier.enablePositionalOptions();
  registerRelease(carrier);
  registerRollout(carrier);
  registerMetrics(carrier);
}
