/**
 * `kiosk-agent provision`: create (or open) the device key, write a CSR with CN = device id, install
 * the certificate; or enrol over MQTT with a claim certificate; or renew (offline CSR, or over MQTT
 * with the current certificate), with the same key or a new one.
 */
import type { Command } from 'commander';
import { reportError } from '../../base/cli.js';
import type { ProvisionOptions } from './provision-run.js';

export function register(program: Command): void {
  program
    .command('provision <deviceId>')
    .description('create the device key and a CSR (CN = device id); install an issued certificate; enrol over MQTT by claim; renew')
    .option('--state <dir>', 'agent state directory (device.key, device.csr, device.crt, ca.crt)', 'state')
    .option('--pkcs11-module <path>', 'keep the key in a PKCS#11 token (e.g. libsofthsm2.so, libtpm2_pkcs11.so); PIN from KIOSK_PKCS11_PIN')
    .option('--token <label>', 'PKCS#11 token label')
    .option('--key-label <label>', 'PKCS#11 key label', 'kiosk-device')
    .option(
      '--pkcs11-engine <path>',
      'OpenSSL pkcs11 engine for --renew-mqtt with a PKCS#11 key (Debian libengine-pkcs11-openssl; default /usr/lib/<multiarch>/engines-3/pkcs11.so)',
    )
    .option('--certificate <file>', 'install this certificate (from `carrier sign-csr`); a renewal with --new-key is completed by it')
    .option('--enrol-mqtt', 'enrol over MQTT with the claim certificate (--broker, --ca, --claim-cert, --claim-key; token in KIOSK_ENROL_TOKEN)')
    .option('--renew-mqtt', 'renew over MQTT with the current device certificate when due (see --window, --force)')
    .option('--renew', 'write a renewal CSR (state/device.csr) for `carrier sign-csr`, then install with --certificate')
    .option('--new-key', 'renew with a new key (state/device.key.next until the certificate is installed)')
    .option('--force', 'renew even when not due yet')
    .option('--window <fraction>', 'renew when less than this fraction of the validity remains', Number, 0.2)
    .option('--broker <url>', 'broker URL, e.g. mqtts://broker.example:8883')
    .option('--ca <file>', 'carrier CA certificate (copied to state/ca.crt)')
    .option('--claim-cert <file>', 'claim certificate (OU=claim)')
    .option('--claim-key <file>', 'claim key (PEM)')
    .option('--timeout <ms>', 'wait this long for the carrier', Number, 15_000)
    .action(async (deviceId: string, o: ProvisionOptions) => {
      try {
        const { runProvision } = await import('./provision-run.js');
        await runProvision(deviceId, o);
      } catch (err) {
        reportError(err);
      }
    });
}
