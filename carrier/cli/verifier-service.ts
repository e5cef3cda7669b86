/**
 * Carrier CLI: `verifier-service`, the result verifier as a long-running MQTT 5 consumer. Run one per
 * host, each with its own service certificate (verifier role) and client id: the broker spreads the
 * kiosks' results over every instance on `$share/verifiers/<prefix>+/result`, and all instances share
 * one nonce and revocation store (`--store postgres://...`), so a result is accepted once whichever
 * host gets it, and a replay sent to two hosts at once is accepted by neither a second time.
 */
import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { reportError, untilStopped } from '../../base/cli.js';
import { KioskError } from '../../base/errors.js';
import { DEFAULT_RESULT_AUDIENCE } from '../../protocol/eat.js';
import type { CarrierStores } from '../store/types.js';
import type { VerifierService } from '../verifier-service.js';
import { DIR_OPTION as dirOpt, STORE_OPTION as storeOpt } from './options.js';
import { loadPlanCheck, loadPolicy } from './verify.js';

interface Options {
  dir: string;
  store?: string;
  broker: string;
  cert: string;
  key: string;
  ca?: string;
  clientId: string;
  policy?: string;
  skipPolicyCheck?: boolean;
  skipPlanCheck?: boolean;
  audience: string;
  maxSkew: number;
}

/** Registers `verifier-service` on `carrier`. */
export function registerVerifierService(carrier: Command): void {
  carrier
    .command('verifier-service')
    .description('verify the kiosks’ results from the shared subscription until SIGTERM; one JSON line per outcome (no biometric data exists in a result)')
    .option(...dirOpt)
    .option(...storeOpt)
    .requiredOption('--broker <url>', 'broker URL')
    .requiredOption('--cert <file>', 'service certificate with the verifier role')
    .requiredOption('--key <file>', 'service key')
    .option('--ca <file>', 'the carrier CA certificate (default <dir>/ca.crt; no CA key is needed)')
    .requiredOption('--client-id <id>', 'MQTT client id, unique per instance (its persistent session keeps unacknowledged results)')
    .option('--policy <file>', 'verifier policy (default <dir>/verifier-policy.json)')
    .option('--skip-policy-check', 'apply no verifier policy')
    .option('--skip-plan-check', 'do not check the challenge plan against the nonce')
    .option('--audience <aud>', "the aud every result must carry (the kiosks' transport.audience)", DEFAULT_RESULT_AUDIENCE)
    .option('--max-skew <sec>', 'allowed clock skew', Number, 300)
    .action(async (o: Options) => {
      const dir = resolve(o.dir);
      let stores: CarrierStores | undefined;
      let service: VerifierService | undefined;
      try {
        const [{ openStoresOption }, { parseCertificate }, { ResultVerifier }, { VerifierService }, { revocationCheckOf }, { createLogger }] =
          await Promise.all([
            import('../store/open.js'),
            import('../../base/keys/x509.js'),
            import('../verifier.js'),
            import('../verifier-service.js'),
            import('../revocation.js'),
            import('../../base/log.js'),
          ]);
        stores = await openStoresOption(dir, o.store);
        // The CA certificate only: a verifier host holds no CA key.
        const caPath = o.ca ?? join(dir, 'ca.crt');
        const caPem = await readFile(caPath, 'utf8').catch((err: unknown) => {
          throw new KioskError('E_CERTIFICATE', 'no CA certificate: copy the carrier CA certificate here or pass --ca', { subject: caPath, cause: err });
        });
        const caCert = parseCertificate(caPem, caPath);
        const verifier = new ResultVerifier({
          ca: caCert,
          nonces: stores.nonces,
          checkPlan: o.skipPlanCheck ? 'skip' : await loadPlanCheck(),
          policy: await loadPolicy(o),
          audience: o.audience,
          maxSkewMs: o.maxSkew * 1000,
          isRevoked: revocationCheckOf(stores.revocations).isRevoked,
        });
        const [cert, key] = await Promise.all([readFile(o.cert), readFile(o.key)]);
        service = new VerifierService({
          options: { url: o.broker, ca: caPem, cert, key, clientId: o.clientId },
          verifier,
          logger: createLogger().child({ component: 'verifier-service', instance: o.clientId }),
        });
        // Written before the broker gets its PUBACK (VerifierService acknowledges after the listener returns).
        service.events.on('outcome', (outcome) => {
          const { claims, ...rest } = outcome as typeof outcome & { claims?: { result?: unknown } };
          process.stdout.write(`${JSON.stringify({ ...rest, ...(claims ? { result: claims.result } : {}) })}\n`);
        });
        await service.start();
        process.stdout.write(`${JSON.stringify({ ready: true, broker: o.broker, instance: o.clientId })}\n`);
        await untilStopped();
      } catch (err) {
        reportError(err);
      } finally {
        await service?.stop();
        await stores?.close();
      }
    });
}
