/** Carrier CLI: nonces, result verification and the verifier policy. */
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { KioskError } from '../../base/errors.js';
import { DEFAULT_RESULT_AUDIENCE } from '../../protocol/eat.js';
import type { PlanCheck } from '../verifier.js';
import type { VerifierPolicy } from '../verifier-policy.js';
import { EXIT, reportError } from '../../base/cli.js';
import { DIR_OPTION as dirOpt, STORE_OPTION as storeOpt } from './options.js';

/** The plan check: the plan in a result must be the one the nonce derives (protocol/plan.ts). */
export async function loadPlanCheck(): Promise<PlanCheck> {
  const { derivePlan } = await import('../../protocol/plan.js');
  return (nonce, plan) => JSON.stringify(derivePlan(nonce)) === JSON.stringify(plan);
}

/** The default policy file in the carrier state directory (written by `policy init`, read by `verify`). */
const POLICY_FILE = 'verifier-policy.json';

/** The policy `verify` applies: --policy, else <dir>/verifier-policy.json; none only with --skip-policy-check. */
export async function loadPolicy(o: { dir: string; policy?: string; skipPolicyCheck?: boolean }): Promise<VerifierPolicy | 'skip'> {
  if (o.skipPolicyCheck) {
    if (o.policy) throw new KioskError('E_USAGE', '--policy and --skip-policy-check exclude each other', { subject: '--policy' });
    return 'skip';
  }
  const { loadVerifierPolicy } = await import('../verifier-policy.js');
  const path = o.policy ?? join(resolve(o.dir), POLICY_FILE);
  if (!o.policy && !existsSync(path))
    throw new KioskError('E_USAGE', `no verifier policy: write one with \`carrier policy init\`, pass --policy <file>, or --skip-policy-check`, {
      subject: path,
    });
  return loadVerifierPolicy(path);
}

/** Registers the nonce, verify and policy commands on `carrier`. */
export function registerVerify(carrier: Command): void {
  carrier
    .command('nonce <deviceId>')
    .description('issue a session nonce for a device (recorded in nonces.db, or the --store database)')
    .option(...dirOpt)
    .option(...storeOpt)
    .option('--ttl <sec>', 'validity in seconds', Number, 86400)
    .action(async (deviceId: string, o: { dir: string; store?: string; ttl: number }) => {
      const { openStoresOption } = await import('../store/open.js');
      let stores: Awaited<ReturnType<typeof openStoresOption>> | undefined;
      try {
        stores = await openStoresOption(resolve(o.dir), o.store);
        process.stdout.write(`${await stores.nonces.issue(deviceId, new Date(), o.ttl * 1000)}\n`);
      } catch (err) {
        reportError(err);
      } finally {
        await stores?.close();
      }
    });

  carrier
    .command('verify <token>')
    .description('verify a result token (or @file); prints the outcome as JSON; exit 0 accepted/duplicate, 1 rejected')
    .option(...dirOpt)
    .option(...storeOpt)
    .option('--skip-plan-check', 'do not check the challenge plan against the nonce')
    .option('--policy <file>', `verifier policy: allowed model sets, agent versions, debug status, operators (default <dir>/${POLICY_FILE})`)
    .option('--skip-policy-check', 'apply no verifier policy')
    .option('--audience <aud>', "the aud every result must carry (the kiosks' transport.audience)", DEFAULT_RESULT_AUDIENCE)
    .option('--max-skew <sec>', 'allowed clock skew', Number, 300)
    .action(
      async (
        tokenArg: string,
        o: { dir: string; store?: string; skipPlanCheck?: boolean; policy?: string; skipPolicyCheck?: boolean; audience: string; maxSkew: number },
      ) => {
        const { openStoresOption } = await import('../store/open.js');
        let stores: Awaited<ReturnType<typeof openStoresOption>> | undefined;
        try {
          stores = await openStoresOption(resolve(o.dir), o.store);
          const [{ CarrierCa }, { ResultVerifier }] = await Promise.all([import('../ca.js'), import('../verifier.js')]);
          const token = tokenArg.startsWith('@') ? (await readFile(tokenArg.slice(1), 'utf8')).trim() : tokenArg;
          const ca = await CarrierCa.open(resolve(o.dir));
          await ca.stop();
          const plan = o.skipPlanCheck ? 'skip' : await loadPlanCheck();
          const policy = await loadPolicy(o);
          // Revoked certificates (carrier revoke, superseded by a renewal) from the CA's record (--dir or --store).
          const check = (await import('../revocation.js')).revocationCheckOf(stores.revocations);
          const verifier = new ResultVerifier({
            ca: ca.certificate,
            nonces: stores.nonces,
            checkPlan: plan,
            policy,
            audience: o.audience,
            maxSkewMs: o.maxSkew * 1000,
            isRevoked: check.isRevoked,
          });
          const outcome = await verifier.verify(token);
          const { claims, ...rest } = outcome as typeof outcome & { claims?: { result?: unknown } };
          process.stdout.write(`${JSON.stringify({ ...rest, ...(claims ? { result: claims.result } : {}) })}\n`);
          process.exitCode = outcome.status === 'rejected' ? EXIT.reject : EXIT.ok;
        } catch (err) {
          reportError(err);
        } finally {
          await stores?.close();
        }
      },
    );

  interface PolicyInitOptions {
    dir: string;
    out?: string;
    manifest?: string;
    operator: string[];
    allowDebug?: boolean;
    requireChip?: boolean;
    requireChipAuth?: boolean;
    acceptReaderSam?: boolean;
    force?: boolean;
  }
  carrier
    .command('policy')
    .command('init')
    .description(`write a verifier policy for the models this checkout ships (models/manifest.json) and this agent version (default <dir>/${POLICY_FILE})`)
    .option(...dirOpt)
    .option('--out <file>', 'write the policy here')
    .option('--manifest <file>', "model manifest (default: the package's models/manifest.json)")
    .option('--operator <id...>', 'operators (carrier-op-<name>) who may decide results after a remote-assistance call', [])
    .option('--allow-debug', 'accept results from agents running with debugging enabled')
    .option('--require-chip', "accept only sessions whose reference portrait was read from the document's chip and passed passive authentication")
    .option('--require-chip-auth', 'with --require-chip: the chip must also prove its key (chip or active authentication)')
    .option('--accept-reader-sam', "with --require-chip: count a reader security module's check (China's resident ID) as passive authentication")
    .option('--force', 'overwrite an existing policy file')
    .action(async (o: PolicyInitOptions) => {
      try {
        const [{ buildPolicy, manifestModels }, { agentVersion, packageRoot }, { mkdir }] = await Promise.all([
          import('../verifier-policy.js'),
          import('../../base/paths.js'),
          import('node:fs/promises'),
        ]);
        const manifestPath = o.manifest ?? join(packageRoot(), 'models', 'manifest.json');
        const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as unknown;
        const version = agentVersion();
        const policy = buildPolicy({
          name: `kiosk-agent ${version}`,
          models: manifestModels(manifest),
          swversion: version,
          operators: o.operator,
          refuseDebug: !o.allowDebug,
          ...(o.requireChip
            ? {
                reference: {
                  requireSource: 'chip',
                  requirePassiveAuth: true,
                  acceptReaderSam: o.acceptReaderSam === true,
                  requireChipAuth: o.requireChipAuth === true,
                },
              }
            : {}),
        });
        const out = o.out ?? join(resolve(o.dir), POLICY_FILE);
        if (!o.out) await mkdir(resolve(o.dir), { recursive: true, mode: 0o700 });
        await writeFile(out, `${JSON.stringify(policy, null, 2)}\n`, { flag: o.force ? 'w' : 'wx' }).catch((err: NodeJS.ErrnoException) => {
          throw err.code === 'EEXIST' ? new KioskError('E_USAGE', 'the policy file exists (--force to overwrite)', { subject: out }) : err;
        });
        process.stdout.write(`${out}\n`);
      } catch (err) {
        reportError(err);
      }
    });
}
