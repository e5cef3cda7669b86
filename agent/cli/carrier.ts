/** `kiosk-agent carrier ...`: the carrier-side tools (CA, CSR signing, nonces, result verification, broker policy). */
import type { Command } from 'commander';
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { KioskError } from '../errors.js';
import { packageRoot } from '../paths.js';
import { CarrierCa, type CertProfile } from '../../provisioning/ca.js';
import { dynsecConfig } from '../../provisioning/broker/policy.js';
import { SqliteNonceStore } from '../../provisioning/nonce-store.js';
import { ResultVerifier, type PlanCheck } from '../../provisioning/verifier.js';
import { EXIT, reportError } from './exit.js';

/**
 * The plan check from the session module (agent/session/plan.ts, derivePlan), loaded at run time so
 * this command works before that module exists; without it, verification needs --skip-plan-check.
 */
async function loadPlanCheck(): Promise<PlanCheck | undefined> {
  const base = join(packageRoot(), 'agent', 'session', 'plan');
  for (const ext of ['.js', '.ts']) {
    try {
      const mod = (await import(pathToFileURL(base + ext).href)) as { derivePlan?: (n: string) => unknown };
      if (typeof mod.derivePlan === 'function') return (nonce, plan) => JSON.stringify(mod.derivePlan!(nonce)) === JSON.stringify(plan);
    } catch { /* try the next extension */ }
  }
  return undefined;
}

export function register(program: Command): void {
  const carrier = program.command('carrier').description('carrier-side tools: CA, CSR signing, nonces, result verification, broker policy');
  const dirOpt = ['--dir <dir>', 'carrier state directory (ca.crt, ca.key, nonces.db)', 'carrier'] as const;

  carrier.command('ca').command('init').description('create the carrier CA (ca.key mode 0600, ca.crt)')
    .option(...dirOpt).option('--name <cn>', 'CA common name', 'Kiosk Carrier Root CA')
    .action(async (o: { dir: string; name: string }) => {
      try {
        const ca = await CarrierCa.init(resolve(o.dir), o.name);
        process.stdout.write(`${join(resolve(o.dir), 'ca.crt')}\n`);
        await ca.stop();
      } catch (err) { reportError(err); }
    });

  carrier.command('sign-csr <csr>').description('check a CSR and issue its certificate (PEM to stdout or --out)')
    .option(...dirOpt).option('--profile <p>', 'device | claim | server | service', 'device').option('--days <n>', 'validity in days', Number)
    .option('--expect-cn <cn>', 'refuse unless the CSR names this device').option('--out <file>', 'write the certificate here')
    .action(async (csrPath: string, o: { dir: string; profile: CertProfile; days?: number; expectCn?: string; out?: string }) => {
      try {
        if (!['device', 'claim', 'server', 'service'].includes(o.profile)) throw new KioskError('E_USAGE', 'unknown profile', { subject: o.profile });
        const ca = await CarrierCa.open(resolve(o.dir));
        const cert = await ca.signCsr(await readFile(csrPath, 'utf8'), { profile: o.profile, validityDays: o.days, expectedCommonName: o.expectCn });
        await ca.stop();
        if (o.out) await writeFile(o.out, cert.toString('pem'));
        else process.stdout.write(cert.toString('pem'));
      } catch (err) { reportError(err); }
    });

  carrier.command('nonce <deviceId>').description('issue a session nonce for a device (recorded in nonces.db)')
    .option(...dirOpt).option('--ttl <sec>', 'validity in seconds', Number, 86400)
    .action(async (deviceId: string, o: { dir: string; ttl: number }) => {
      const store = new SqliteNonceStore(join(resolve(o.dir), 'nonces.db'));
      try {
        process.stdout.write(`${await store.issue(deviceId, new Date(), o.ttl * 1000)}\n`);
      } catch (err) { reportError(err); } finally { await store.stop(); }
    });

  carrier.command('verify <token>').description('verify a result token (or @file); prints the outcome as JSON; exit 0 accepted/duplicate, 1 rejected')
    .option(...dirOpt).option('--skip-plan-check', 'do not check the challenge plan against the nonce').option('--max-skew <sec>', 'allowed clock skew', Number, 300)
    .action(async (tokenArg: string, o: { dir: string; skipPlanCheck?: boolean; maxSkew: number }) => {
      const nonces = new SqliteNonceStore(join(resolve(o.dir), 'nonces.db'));
      try {
        const token = tokenArg.startsWith('@') ? (await readFile(tokenArg.slice(1), 'utf8')).trim() : tokenArg;
        const ca = await CarrierCa.open(resolve(o.dir));
        await ca.stop();
        const plan = o.skipPlanCheck ? 'skip' : await loadPlanCheck();
        if (!plan) throw new KioskError('E_CONFIG_INVALID', 'no plan check available (agent/session/plan.ts missing); pass --skip-plan-check to verify without it', { subject: 'derivePlan' });
        const outcome = await new ResultVerifier({ ca: ca.certificate, nonces, checkPlan: plan, maxSkewMs: o.maxSkew * 1000 }).verify(token);
        const { claims, ...rest } = outcome as typeof outcome & { claims?: { result?: unknown } };
        process.stdout.write(`${JSON.stringify({ ...rest, ...(claims ? { result: claims.result } : {}) })}\n`);
        process.exitCode = outcome.status === 'rejected' ? EXIT.reject : EXIT.ok;
      } catch (err) { reportError(err); } finally { await nonces.stop(); }
    });

  carrier.command('broker-policy').description('print the dynamic-security JSON for mosquitto')
    .option('--device <id...>', 'device ids', []).option('--claim <cn...>', 'claim CNs', []).option('--service <cn...>', 'carrier service CNs', [])
    .action((o: { device: string[]; claim: string[]; service: string[] }) => {
      try {
        process.stdout.write(`${JSON.stringify(dynsecConfig({ devices: o.device, claims: o.claim, services: o.service }), null, 2)}\n`);
      } catch (err) { reportError(err); }
    });
}
