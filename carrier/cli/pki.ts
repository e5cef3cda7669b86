/** Carrier CLI: the CA, certificates, revocation and the command key. */
import type { Command } from 'commander';
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { KioskError } from '../../base/errors.js';
import type { CarrierCa } from '../ca.js';
import type { CertProfile } from '../../protocol/names.js';
import { reportError } from '../../base/cli.js';
import { CRL_FILE, DIR_OPTION as dirOpt, STORE_OPTION as storeOpt } from './options.js';
import type { CarrierStores } from '../store/types.js';

/** The carrier's stores of a command (--store, $KIOSK_CARRIER_STORE, else SQLite in --dir). */
async function storesOf(o: { dir: string; store?: string }): Promise<CarrierStores> {
  return (await import('../store/open.js')).openStoresOption(resolve(o.dir), o.store);
}

/** Registers the CA, certificate, revocation and command-key commands on `carrier`. */
export function registerPki(carrier: Command): void {
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
    .option(...storeOpt)
    .action(async (csrPath: string, o: { dir: string; store?: string; profile: CertProfile; days?: number; expectCn?: string; out?: string }) => {
      let stores: CarrierStores | undefined;
      try {
        if (!['device', 'claim', 'server', 'service'].includes(o.profile)) throw new KioskError('E_USAGE', 'unknown profile', { subject: o.profile });
        const { CarrierCa } = await import('../ca.js');
        stores = await storesOf(o);
        const ca = await CarrierCa.open(resolve(o.dir), stores.revocations);
        const cert = await ca.signCsr(await readFile(csrPath, 'utf8'), { profile: o.profile, validityDays: o.days, expectedCommonName: o.expectCn });
        await ca.stop();
        if (o.out) await writeFile(o.out, cert.toString('pem'));
        else process.stdout.write(cert.toString('pem'));
      } catch (err) {
        reportError(err);
      } finally {
        await stores?.close();
      }
    });

  carrier
    .command('revoke <deviceId>')
    .description(`revoke a device: no more enrolment or renewal, every certificate the CA issued to it revoked; writes <dir>/${CRL_FILE}`)
    .option(...dirOpt)
    .option('--reason <r>', 'keyCompromise | cessationOfOperation | affiliationChanged | superseded | unspecified', 'keyCompromise')
    .option('--crl-days <n>', 'validity of the CRL written (nextUpdate), days', Number, 7)
    .option(...storeOpt)
    .action(async (deviceId: string, o: { dir: string; store?: string; reason: string; crlDays: number }) => {
      const dir = resolve(o.dir);
      const [{ CarrierCa }, { REVOCATION_REASONS }, { writeFileAtomic }] = await Promise.all([
        import('../ca.js'),
        import('../revocation.js'),
        import('../../base/keys/file-key-store.js'),
      ]);
      let stores: CarrierStores | undefined;
      let ca: CarrierCa | undefined;
      try {
        const reason = REVOCATION_REASONS.find((r) => r === o.reason);
        if (!reason) throw new KioskError('E_USAGE', `unknown revocation reason ${o.reason}`, { subject: '--reason' });
        stores = await storesOf(o);
        const { registry } = stores;
        ca = await CarrierCa.open(dir, stores.revocations);
        await registry.revoke(deviceId);
        const serials = [...new Set([...(await registry.serials(deviceId)), ...(await ca.records.serialsOf(deviceId))])];
        const revoked: string[] = [];
        for (const s of serials) if (await ca.revoke(s, reason)) revoked.push(s);
        await writeFileAtomic(join(dir, CRL_FILE), await ca.crl({ days: o.crlDays }));
        process.stdout.write(`${JSON.stringify({ revoked: deviceId, certificates: serials.length, newlyRevoked: revoked, crl: join(dir, CRL_FILE) })}\n`);
      } catch (err) {
        reportError(err);
      } finally {
        await ca?.stop();
        await stores?.close();
      }
    });

  carrier
    .command('crl')
    .description(`write the CA's current CRL (PEM) to --out (default <dir>/${CRL_FILE}); give it to the broker (crlfile) and reload it`)
    .option(...dirOpt)
    .option('--out <file>', 'write the CRL here')
    .option('--days <n>', 'validity (nextUpdate), days: publish a fresh one before then', Number, 7)
    .option(...storeOpt)
    .action(async (o: { dir: string; store?: string; out?: string; days: number }) => {
      let stores: CarrierStores | undefined;
      let ca: CarrierCa | undefined;
      try {
        const [{ CarrierCa }, { writeFileAtomic }] = await Promise.all([import('../ca.js'), import('../../base/keys/file-key-store.js')]);
        stores = await storesOf(o);
        ca = await CarrierCa.open(resolve(o.dir), stores.revocations);
        const out = o.out ?? join(resolve(o.dir), CRL_FILE);
        await writeFileAtomic(out, await ca.crl({ days: o.days }));
        process.stdout.write(`${out}\n`);
      } catch (err) {
        reportError(err);
      } finally {
        await ca?.stop();
        await stores?.close();
      }
    });

  const commandKey = carrier.command('command-key').description("the carrier's command key (signs commands to kiosks)");
  commandKey
    .command('init')
    .description('create the command key (command.key, mode 0600) and print the commands.keys entry for kiosk configs')
    .option(...dirOpt)
    .action(async (o: { dir: string }) => {
      try {
        const { CommandSigner } = await import('../commands/signer.js');
        const signer = await CommandSigner.create(join(resolve(o.dir), 'command.key'));
        process.stdout.write(`${JSON.stringify(signer.entry)}\n`);
      } catch (err) {
        reportError(err);
      }
    });

  carrier
    .command('sign-command <deviceId> <name>')
    .description('print a signed command token for a kiosk (the payload to publish on <prefix><deviceId>/cmd/<name>)')
    .option(...dirOpt)
    .option('--args <json>', 'the command arguments, a JSON object', '{}')
    .option('--ttl <sec>', 'validity in seconds', Number, 60)
    .action(async (deviceId: string, name: string, o: { dir: string; args: string; ttl: number }) => {
      try {
        const { CommandSigner } = await import('../commands/signer.js');
        let args: unknown;
        try {
          args = JSON.parse(o.args);
        } catch {
          throw new KioskError('E_USAGE', '--args is not JSON', { subject: '--args' });
        }
        if (typeof args !== 'object' || args === null || Array.isArray(args))
          throw new KioskError('E_USAGE', '--args must be a JSON object', { subject: '--args' });
        const signer = await CommandSigner.open(join(resolve(o.dir), 'command.key'));
        process.stdout.write(`${await signer.sign(deviceId, name, args as Record<string, unknown>, { lifetimeSec: o.ttl })}\n`);
      } catch (err) {
        reportError(err);
      }
    });
}
