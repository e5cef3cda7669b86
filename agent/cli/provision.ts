/** `kiosk-agent provision`: create (or open) the device key, write a CSR with CN = device id, install the certificate. */
import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { KioskError } from '../errors.js';
import { FileKeyStore, writeFileAtomic } from '../../provisioning/file-key-store.js';
import type { KeyStore } from '../../provisioning/key-store.js';
import { keyFingerprint } from '../../provisioning/key-store.js';
import { Pkcs11KeyStore } from '../../provisioning/pkcs11-key-store.js';
import { certificateMatchesKey, commonName, createCsr, parseCertificate } from '../../provisioning/x509.js';
import { reportError } from './exit.js';

interface ProvisionOptions { state: string; pkcs11Module?: string; token?: string; keyLabel?: string; certificate?: string }

function keyStoreFor(o: ProvisionOptions): KeyStore {
  if (!o.pkcs11Module) return new FileKeyStore({ path: join(resolve(o.state), 'device.key') });
  const pin = process.env.KIOSK_PKCS11_PIN;
  if (!o.token || !pin) throw new KioskError('E_USAGE', 'PKCS#11 needs --token and the PIN in KIOSK_PKCS11_PIN', { subject: 'pkcs11' });
  return new Pkcs11KeyStore({ modulePath: o.pkcs11Module, tokenLabel: o.token, pin, keyLabel: o.keyLabel });
}

export function register(program: Command): void {
  program.command('provision <deviceId>')
    .description('create the device key and a CSR (CN = device id); with --certificate, install the issued certificate after checking it matches the key')
    .option('--state <dir>', 'agent state directory (device.key, device.csr, device.crt)', 'state')
    .option('--pkcs11-module <path>', 'keep the key in a PKCS#11 token (e.g. libsofthsm2.so, libtpm2_pkcs11.so); PIN from KIOSK_PKCS11_PIN')
    .option('--token <label>', 'PKCS#11 token label').option('--key-label <label>', 'PKCS#11 key label', 'kiosk-device')
    .option('--certificate <file>', 'install this certificate (from `carrier sign-csr`)')
    .action(async (deviceId: string, o: ProvisionOptions) => {
      const store = (() => { try { return keyStoreFor(o); } catch (err) { reportError(err); return undefined; } })();
      if (!store) return;
      try {
        await store.start();
        const state = resolve(o.state);
        if (o.certificate) {
          const cert = parseCertificate(await readFile(o.certificate, 'utf8'), o.certificate);
          if (commonName(cert) !== deviceId) throw new KioskError('E_CERTIFICATE', `certificate is for ${String(commonName(cert))}, not ${deviceId}`, { subject: o.certificate });
          if (!certificateMatchesKey(cert, store)) throw new KioskError('E_CERTIFICATE', 'certificate is not for this device key', { subject: o.certificate });
          await writeFileAtomic(join(state, 'device.crt'), cert.toString('pem'));
          process.stdout.write(`${JSON.stringify({ installed: join(state, 'device.crt'), notAfter: cert.notAfter.toISOString() })}\n`);
        } else {
          const csrPath = join(state, 'device.csr');
          await writeFileAtomic(csrPath, await createCsr(store, deviceId));
          process.stdout.write(`${JSON.stringify({ csr: csrPath, keyStore: store.kind, key: keyFingerprint(store) })}\n`);
        }
      } catch (err) { reportError(err); } finally { await store.stop(); }
    });
}
