/** The carrier-side tools (CA, CSR signing, nonces, result verification, broker policy, enrolment): `npm run carrier -- <command>`. */
import type { Command } from 'commander';
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { KioskError } from '../../base/errors.js';
import type { CarrierCa } from '../ca.js';
import type { CertProfile } from '../../protocol/names.js';
import type { PlanCheck } from '../verifier.js';
import type { EnrolmentService } from '../enrol/service.js';
import { EXIT, reportError } from '../../base/cli.js';

/** The plan check: the plan in a result must be the one the nonce derives (protocol/plan.ts). */
async function loadPlanCheck(): Promise<PlanCheck> {
  const { derivePlan } = await import('../../protocol/plan.js');
  return (nonce, plan) => JSON.stringify(derivePlan(nonce)) === JSON.stringify(plan);
}

/** Registers the carrier commands on `carrier` (the `kiosk-carrier` program). */
export function register(carrier: Command): void {
  const dirOpt = ['--dir <dir>', 'carrier state directory (ca.crt, ca.key, nonces.db)', 'carrier'] as const;

  carrier
    .command('ca')
    .command('init')
    .description('create the carrier CA (ca.key mode 0600, ca.crt)')
    .option(...dirOpt)
    .option('--name <cn>', 'CA common name', 'Kiosk Carrier Root CA')
    .action(async (o: { dir: string; name: string }) => {
      try {
        const { CarrierCa } = await import('../ca.js');
        const ca = await CarrierCa.init(resolve(o.dir), o.name);
        process.stdout.write(`${join(resolve(o.dir), 'ca.crt')}\n`);
        await ca.stop();
      } catch (err) {
        reportError(err);
      }
    });

  carrier
    .command('sign-csr <csr>')
    .description('check a CSR and issue its certificate (PEM to stdout or --out)')
    .option(...dirOpt)
    .option('--profile <p>', 'device | claim | server | service', 'device')
    .option('--days <n>', 'validity in days', Number)
    .option('--expect-cn <cn>', 'refuse unless the CSR names this device')
    .option('--out <file>', 'write the certificate here')
    .action(async (csrPath: string, o: { dir: string; profile: CertProfile; days?: number; expectCn?: string; out?: string }) => {
      try {
        if (!['device', 'claim', 'server', 'service'].includes(o.profile)) throw new KioskError('E_USAGE', 'unknown profile', { subject: o.profile });
        const { CarrierCa } = await import('../ca.js');
        const ca = await CarrierCa.open(resolve(o.dir));
        const cert = await ca.signCsr(await readFile(csrPath, 'utf8'), { profile: o.profile, validityDays: o.days, expectedCommonName: o.expectCn });
        await ca.stop();
        if (o.out) await writeFile(o.out, cert.toString('pem'));
        else process.stdout.write(cert.toString('pem'));
      } catch (err) {
        reportError(err);
      }
    });

  carrier
    .command('nonce <deviceId>')
    .description('issue a session nonce for a device (recorded in nonces.db)')
    .option(...dirOpt)
    .option('--ttl <sec>', 'validity in seconds', Number, 86400)
    .action(async (deviceId: string, o: { dir: string; ttl: number }) => {
      const { SqliteNonceStore } = await import('../nonce-store.js');
      const store = new SqliteNonceStore(join(resolve(o.dir), 'nonces.db'));
      try {
        process.stdout.write(`${await store.issue(deviceId, new Date(), o.ttl * 1000)}\n`);
      } catch (err) {
        reportError(err);
      } finally {
        await store.stop();
      }
    });

  carrier
    .command('verify <token>')
    .description('verify a result token (or @file); prints the outcome as JSON; exit 0 accepted/duplicate, 1 rejected')
    .option(...dirOpt)
    .option('--skip-plan-check', 'do not check the challenge plan against the nonce')
    .option('--max-skew <sec>', 'allowed clock skew', Number, 300)
    .action(async (tokenArg: string, o: { dir: string; skipPlanCheck?: boolean; maxSkew: number }) => {
      const { SqliteNonceStore } = await import('../nonce-store.js');
      const nonces = new SqliteNonceStore(join(resolve(o.dir), 'nonces.db'));
      try {
        const [{ CarrierCa }, { ResultVerifier }] = await Promise.all([import('../ca.js'), import('../verifier.js')]);
        const token = tokenArg.startsWith('@') ? (await readFile(tokenArg.slice(1), 'utf8')).trim() : tokenArg;
        const ca = await CarrierCa.open(resolve(o.dir));
        await ca.stop();
        const plan = o.skipPlanCheck ? 'skip' : await loadPlanCheck();
        const outcome = await new ResultVerifier({ ca: ca.certificate, nonces, checkPlan: plan, maxSkewMs: o.maxSkew * 1000 }).verify(token);
        const { claims, ...rest } = outcome as typeof outcome & { claims?: { result?: unknown } };
        process.stdout.write(`${JSON.stringify({ ...rest, ...(claims ? { result: claims.result } : {}) })}\n`);
        process.exitCode = outcome.status === 'rejected' ? EXIT.reject : EXIT.ok;
      } catch (err) {
        reportError(err);
      } finally {
        await nonces.stop();
      }
    });

  carrier
    .command('enrol-token <deviceId>')
    .description('issue a one-time enrolment token for a device (only its hash is kept, in enrolment.db)')
    .option(...dirOpt)
    .action(async (deviceId: string, o: { dir: string }) => {
      const { EnrolmentRegistry } = await import('../enrol/registry.js');
      const registry = new EnrolmentRegistry(join(resolve(o.dir), 'enrolment.db'));
      try {
        process.stdout.write(`${await registry.issueToken(deviceId)}\n`);
      } catch (err) {
        reportError(err);
      } finally {
        await registry.stop();
      }
    });

  carrier
    .command('enrol-service')
    .description('answer enrolment (claim) and renewal requests over MQTT 5 until SIGTERM; one JSON line per decision')
    .option(...dirOpt)
    .requiredOption('--broker <url>', 'broker URL')
    .requiredOption('--cert <file>', 'service certificate (OU=service)')
    .requiredOption('--key <file>', 'service key')
    .option('--client-id <id>', 'MQTT client id', 'carrier-enrol')
    .option('--allow <id...>', 'device ids that may enrol without a token (kept in enrolment.db)', [])
    .option('--days <n>', 'validity of issued device certificates, days', Number, 365)
    .option('--register-with-broker', 'add each enrolled device to the broker policy through $CONTROL (needs the dynsec-admin role)')
    .action(
      async (o: { dir: string; broker: string; cert: string; key: string; clientId: string; allow: string[]; days: number; registerWithBroker?: boolean }) => {
        const dir = resolve(o.dir);
        const { EnrolmentRegistry } = await import('../enrol/registry.js');
        const registry = new EnrolmentRegistry(join(dir, 'enrolment.db'));
        let ca: CarrierCa | undefined;
        let service: EnrolmentService | undefined;
        try {
          const [{ CarrierCa }, { EnrolmentAuthority }, { EnrolmentService }, { createLogger }] = await Promise.all([
            import('../ca.js'),
            import('../enrol/authority.js'),
            import('../enrol/service.js'),
            import('../../base/log.js'),
          ]);
          ca = await CarrierCa.open(dir);
          await registry.allow(o.allow);
          const [cert, key] = await Promise.all([readFile(o.cert), readFile(o.key)]);
          service = new EnrolmentService({
            options: { url: o.broker, ca: ca.pem, cert, key, clientId: o.clientId, registerWithBroker: o.registerWithBroker },
            authority: new EnrolmentAuthority({ ca, registry, validityDays: o.days }),
            logger: createLogger().child({ component: 'enrol-service' }),
          });
          service.events.on('decision', (d) => process.stdout.write(`${JSON.stringify(d)}\n`));
          await service.start();
          process.stdout.write(`${JSON.stringify({ ready: true, broker: o.broker })}\n`);
          await new Promise<void>((done) => {
            process.once('SIGTERM', done);
            process.once('SIGINT', done);
          });
        } catch (err) {
          reportError(err);
        } finally {
          await service?.stop();
          await ca?.stop();
          await registry.stop();
        }
      },
    );

  carrier
    .command('broker-policy')
    .description('print the dynamic-security JSON for mosquitto')
    .option('--device <id...>', 'device ids', [])
    .option('--claim <cn...>', 'claim CNs', [])
    .option('--service <cn...>', 'carrier service CNs', [])
    .option('--admin <cn...>', 'services that may add enrolled devices at run time ($CONTROL/dynamic-security)', [])
    .action(async (o: { device: string[]; claim: string[]; service: string[]; admin: string[] }) => {
      try {
        const { dynsecConfig } = await import('../broker/policy.js');
        process.stdout.write(`${JSON.stringify(dynsecConfig({ devices: o.device, claims: o.claim, services: o.service, admins: o.admin }), null, 2)}\n`);
      } catch (err) {
        reportError(err);
      }
    });
}
