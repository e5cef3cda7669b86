/**
 * What `kiosk-agent provision` does (see provision.ts, which only defines the options): key stores,
 * CSRs, installing certificates, enrolment and renewal over MQTT. Loaded when the command runs, so
 * that other commands do not load x509, PKCS#11, SQLite and MQTT.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { KioskError } from '../../base/errors.js';
import { writeFileAtomic, FileKeyStore } from '../../base/keys/file-key-store.js';
import type { KeyStore } from '../../base/keys/key-store.js';
import { keyFingerprint } from '../../base/keys/key-store.js';
import { Pkcs11KeyStore } from '../../provisioning/pkcs11-key-store.js';
import { Pkcs11TlsKey } from '../../provisioning/pkcs11-tls-key.js';
import { enrolOverMqtt, renewOverMqtt } from '../../provisioning/enrol/client.js';
import { completePendingRenewal, installCertificate, installWithNewKey, renewalDue, renewalTime, STATE_FILES } from '../../provisioning/enrol/renewal.js';
import { certificateMatchesKey, commonName, createCsr, parseCertificate } from '../../base/keys/x509.js';

/** The options of `kiosk-agent provision`. */
export interface ProvisionOptions {
  state: string;
  pkcs11Module?: string;
  token?: string;
  keyLabel?: string;
  pkcs11Engine?: string;
  certificate?: string;
  enrolMqtt?: boolean;
  renewMqtt?: boolean;
  renew?: boolean;
  newKey?: boolean;
  force?: boolean;
  broker?: string;
  ca?: string;
  claimCert?: string;
  claimKey?: string;
  window: number;
  timeout: number;
}

function keyStoreFor(o: ProvisionOptions, file: string = STATE_FILES.key): KeyStore {
  if (!o.pkcs11Module) return new FileKeyStore({ path: join(resolve(o.state), file) });
  if (file !== STATE_FILES.key)
    throw new KioskError('E_USAGE', 'a new-key renewal needs the file key store; with PKCS#11 renew with the same key', { subject: 'pkcs11' });
  const pin = process.env.KIOSK_PKCS11_PIN;
  if (!o.token || !pin) throw new KioskError('E_USAGE', 'PKCS#11 needs --token and the PIN in KIOSK_PKCS11_PIN', { subject: 'pkcs11' });
  return new Pkcs11KeyStore({ modulePath: o.pkcs11Module, tokenLabel: o.token, pin, keyLabel: o.keyLabel });
}

const need = (v: string | undefined, flag: string): string => {
  if (!v) throw new KioskError('E_USAGE', `${flag} is required here`, { subject: flag });
  return v;
};
const print = (v: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(v)}\n`);

/** Installs, enrols, renews or writes a CSR, as the options say; prints one JSON line. */
export async function runProvision(deviceId: string, o: ProvisionOptions): Promise<void> {
  const state = resolve(o.state);
  await completePendingRenewal(state);
  if (o.enrolMqtt) await enrolMqtt(deviceId, o, state);
  else if (o.renewMqtt || o.renew) await renew(deviceId, o, state);
  else if (o.certificate) await install(deviceId, o, state);
  else
    await withStore(keyStoreFor(o), async (store) => {
      const csrPath = join(state, STATE_FILES.csr);
      await writeFileAtomic(csrPath, await createCsr(store, deviceId));
      print({ csr: csrPath, keyStore: store.kind, key: keyFingerprint(store) });
    });
}

async function withStore<T>(store: KeyStore, fn: (s: KeyStore) => Promise<T>): Promise<T> {
  await store.start();
  try {
    return await fn(store);
  } finally {
    await store.stop();
  }
}

async function enrolMqtt(deviceId: string, o: ProvisionOptions, state: string): Promise<void> {
  const ca = await readFile(need(o.ca, '--ca'));
  const [cert, key] = await Promise.all([readFile(need(o.claimCert, '--claim-cert')), readFile(need(o.claimKey, '--claim-key'))]);
  await withStore(keyStoreFor(o), async (store) => {
    const issued = await enrolOverMqtt({
      url: need(o.broker, '--broker'),
      ca,
      cert,
      key,
      deviceId,
      keyStore: store,
      token: process.env.KIOSK_ENROL_TOKEN,
      timeoutMs: o.timeout,
    });
    await writeFileAtomic(join(state, STATE_FILES.ca), ca);
    await installCertificate(state, issued.toString('pem'));
    print({ enrolled: deviceId, installed: join(state, STATE_FILES.cert), notAfter: issued.notAfter.toISOString(), keyStore: store.kind });
  });
}

async function renew(deviceId: string, o: ProvisionOptions, state: string): Promise<void> {
  const current = parseCertificate(await readFile(join(state, STATE_FILES.cert), 'utf8'), STATE_FILES.cert);
  if (!o.force && !renewalDue(current, new Date(), o.window)) {
    print({ renewed: false, due: renewalTime(current, o.window).toISOString(), notAfter: current.notAfter.toISOString() });
    return;
  }
  await withStore(keyStoreFor(o, o.newKey ? STATE_FILES.nextKey : STATE_FILES.key), async (store) => {
    if (o.renew) {
      const csrPath = join(state, STATE_FILES.csr);
      await writeFileAtomic(csrPath, await createCsr(store, deviceId));
      print({ csr: csrPath, newKey: Boolean(o.newKey), key: keyFingerprint(store) });
      return;
    }
    const ca = await readFile(o.ca ?? join(state, STATE_FILES.ca));
    const cert = await readFile(join(state, STATE_FILES.cert));
    // The connection authenticates with the current key: a token key through the OpenSSL pkcs11 engine
    // (the store has logged in; the engine uses that login), else the current key file (with --new-key
    // the store holds the next key, which has no certificate yet).
    const key =
      store instanceof Pkcs11KeyStore ? new Pkcs11TlsKey({ keyStore: store, enginePath: o.pkcs11Engine }) : await readFile(join(state, STATE_FILES.key));
    const issued = await renewOverMqtt({ url: need(o.broker, '--broker'), ca, cert, key, deviceId, keyStore: store, timeoutMs: o.timeout });
    if (o.newKey) await installWithNewKey(state, issued.toString('pem'));
    else await installCertificate(state, issued.toString('pem'));
    print({ renewed: true, newKey: Boolean(o.newKey), notAfter: issued.notAfter.toISOString(), serial: issued.serialNumber });
  });
}

async function install(deviceId: string, o: ProvisionOptions, state: string): Promise<void> {
  const file = o.certificate!;
  const cert = parseCertificate(await readFile(file, 'utf8'), file);
  if (commonName(cert) !== deviceId)
    throw new KioskError('E_CERTIFICATE', `certificate is for ${String(commonName(cert))}, not ${deviceId}`, { subject: file });
  // The certificate completes a new-key renewal when it is for the pending key.
  const pending =
    !o.pkcs11Module &&
    (await withStore(new FileKeyStore({ path: join(state, STATE_FILES.nextKey), create: false }), async (s) => certificateMatchesKey(cert, s)).catch(
      () => false,
    ));
  if (pending) {
    await installWithNewKey(state, cert.toString('pem'));
  } else {
    await withStore(keyStoreFor(o), async (store) => {
      if (!certificateMatchesKey(cert, store)) throw new KioskError('E_CERTIFICATE', 'certificate is not for this device key', { subject: file });
    });
    await installCertificate(state, cert.toString('pem'));
  }
  print({ installed: join(state, STATE_FILES.cert), notAfter: cert.notAfter.toISOString(), newKey: pending });
}
