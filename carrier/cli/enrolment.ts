/** Carrier CLI: enrolment tokens, the enrolment service and the broker policy. */
import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { CarrierCa } from '../ca.js';
import type { EnrolmentService } from '../enrol/service.js';
import { reportError, untilStopped } from '../../base/cli.js';
import { registerBrokerPolicy } from './broker-policy.js';
import { CRL_FILE, DIR_OPTION as dirOpt, STORE_OPTION as storeOpt } from './options.js';
import type { CarrierStores } from '../store/types.js';

/** Registers the enrolment-token, enrolment-service and broker-policy commands on `carrier`. */
export function registerEnrolment(carrier: Command): void {
  carrier
    .command('enrol-token <deviceId>')
    .description('issue a one-time enrolment token for a device (only its hash is kept, in enrolment.db or the --store database)')
    .option(...dirOpt)
    .option(...storeOpt)
    .action(async (deviceId: string, o: { dir: string; store?: string }) => {
      let stores: CarrierStores | undefined;
      try {
        stores = await (await import('../store/open.js')).openStoresOption(resolve(o.dir), o.store);
        process.stdout.write(`${await stores.registry.issueToken(deviceId)}\n`);
      } catch (err) {
        reportError(err);
      } finally {
        await stores?.close();
      }
    });

  carrier
    .command('enrol-service')
    .description('answer enrolment (claim) and renewal requests over MQTT 5 until SIGTERM; one JSON line per decision')
    .option(...dirOpt)
    .option(...storeOpt)
    .requiredOption('--broker <url>', 'broker URL')
    .requiredOption('--cert <file>', 'service certificate (OU=service)')
    .requiredOption('--key <file>', 'service key')
    .option('--client-id <id>', 'MQTT client id', 'carrier-enrol')
    .option('--allow <id...>', 'device ids that may enrol without a token (kept in enrolment.db)', [])
    .option('--days <n>', 'validity of issued device certificates, days', Number, 365)
    .option('--min-renewal-interval <sec>', 'least time between two renewals of one device, seconds (0: no limit)', Number, 3600)
    .option('--register-with-broker', 'add each enrolled device to the broker policy through $CONTROL (needs the dynsec-admin role)')
    .action(
      async (o: {
        dir: string;
        store?: string;
        broker: string;
        cert: string;
        key: string;
        clientId: string;
        allow: string[];
        days: number;
        minRenewalInterval: number;
        registerWithBroker?: boolean;
      }) => {
        const dir = resolve(o.dir);
        let stores: CarrierStores | undefined;
        let ca: CarrierCa | undefined;
        let service: EnrolmentService | undefined;
        try {
          const [{ CarrierCa }, { EnrolmentAuthority }, { EnrolmentService }, { createLogger }] = await Promise.all([
            import('../ca.js'),
            import('../enrol/authority.js'),
            import('../enrol/service.js'),
            import('../../base/log.js'),
          ]);
          stores = await (await import('../store/open.js')).openStoresOption(dir, o.store);
          const { registry } = stores;
          ca = await CarrierCa.open(dir, stores.revocations);
          await registry.allow(o.allow);
          const [cert, key] = await Promise.all([readFile(o.cert), readFile(o.key)]);
          service = new EnrolmentService({
            options: { url: o.broker, ca: ca.pem, cert, key, clientId: o.clientId, registerWithBroker: o.registerWithBroker },
            // A renewal revokes the superseded certificates and rewrites <dir>/crl.pem (reload the broker to apply it).
            authority: new EnrolmentAuthority({
              ca,
              registry,
              validityDays: o.days,
              minRenewalIntervalMs: o.minRenewalInterval * 1000,
              crlPath: join(dir, CRL_FILE),
            }),
            logger: createLogger().child({ component: 'enrol-service' }),
          });
          service.events.on('decision', (d) => process.stdout.write(`${JSON.stringify(d)}\n`));
          await service.start();
          process.stdout.write(`${JSON.stringify({ ready: true, broker: o.broker })}\n`);
          await untilStopped();
        } catch (err) {
          reportError(err);
        } finally {
          await service?.stop();
          await ca?.stop();
          await stores?.close();
        }
      },
    );

  registerBrokerPolicy(carrier);
}
