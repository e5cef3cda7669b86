/**
 * The pure parts of mutual TLS with a PKCS#11 key: the key URI, the engine path per architecture,
 * the TLS options of PEM and engine keys, the refusal before login, the PIN source and the config
 * checks. The engine itself, SoftHSM2 and mosquitto are exercised by
 * test/integration/pkcs11-mtls.test.ts.
 */
import t from 'tap';
import { join } from 'node:path';
import { validateConfig } from '../../agent/config/load.js';
import { readPin } from '../../agent/daemon/device-key.js';
import { isKioskError } from '../../base/errors.js';
import { tlsIdentity } from '../../protocol/endpoint.js';
import { assertEngineInstalled, defaultEnginePath, Pkcs11TlsKey, type Pkcs11KeyRef } from '../../provisioning/pkcs11-tls-key.js';

const ref = (loggedIn: boolean, tokenLabel = 'kiosk', keyLabel = 'kiosk-device'): Pkcs11KeyRef => ({
  reference: { modulePath: '/usr/lib/softhsm/libsofthsm2.so', tokenLabel, keyLabel },
  loggedIn: () => loggedIn,
});

function codeOf(fn: () => unknown): { code?: string; message: string } {
  try {
    fn();
    return { message: 'no error' };
  } catch (err) {
    return { code: isKioskError(err) ? err.code : undefined, message: (err as Error).message };
  }
}

t.test('the engine path follows Debian multiarch', async (t) => {
  t.equal(defaultEnginePath('x64'), '/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so');
  t.equal(defaultEnginePath('arm64'), '/usr/lib/aarch64-linux-gnu/engines-3/pkcs11.so');
  t.equal(defaultEnginePath('arm'), '/usr/lib/arm-linux-gnueabihf/engines-3/pkcs11.so');
});

t.test('the key URI names token and key, percent-encoded, and carries no PIN', async (t) => {
  t.equal(new Pkcs11TlsKey({ keyStore: ref(true) }).uri, 'pkcs11:token=kiosk;object=kiosk-device;type=private');
  const odd = new Pkcs11TlsKey({ keyStore: ref(true, 'my token;1', 'key?a=b') }).uri;
  t.equal(odd, 'pkcs11:token=my%20token%3B1;object=key%3Fa%3Db;type=private');
  t.notMatch(odd, /pin-/);
});

t.test('no engine options before the key store has logged in (the engine would ask for a PIN on a terminal)', async (t) => {
  const e = codeOf(() => new Pkcs11TlsKey({ keyStore: ref(false), enginePath: '/nonexistent/pkcs11.so' }).tlsOptions());
  t.equal(e.code, 'E_KEY_STORE');
  t.match(e.message, /logged in.*\(kiosk\)/);
});

t.test('a missing engine or a wrongly named one: E_TLS_ENGINE naming the path and the package', async (t) => {
  const missing = codeOf(() => assertEngineInstalled('/nonexistent/engines-3/pkcs11.so'));
  t.equal(missing.code, 'E_TLS_ENGINE');
  t.match(missing.message, /libengine-pkcs11-openssl.*\/nonexistent\/engines-3\/pkcs11\.so/);
  const dir = t.testdir({ 'libp11-engine.so': '' });
  const named = codeOf(() => assertEngineInstalled(join(dir, 'libp11-engine.so')));
  t.equal(named.code, 'E_TLS_ENGINE');
  t.match(named.message, /pkcs11\.so/);
});

t.test('tlsIdentity: a PEM key as `key`, an engine key as engine options', async (t) => {
  t.same(tlsIdentity({ ca: 'CA', cert: 'CERT', key: Buffer.from('KEY') }), { ca: 'CA', cert: 'CERT', key: Buffer.from('KEY') });
  const engine = { tlsOptions: () => ({ privateKeyEngine: 'pkcs11', privateKeyIdentifier: 'pkcs11:token=k' }) };
  t.same(tlsIdentity({ ca: 'CA', cert: 'CERT', key: engine }), { ca: 'CA', cert: 'CERT', privateKeyEngine: 'pkcs11', privateKeyIdentifier: 'pkcs11:token=k' });
});

t.test('the PIN source: env:NAME or file:/path; refusals name the source, never a PIN', async (t) => {
  process.env.KIOSK_UNIT_PIN = 'pin-Z8v1-unit';
  t.teardown(() => {
    delete process.env.KIOSK_UNIT_PIN;
  });
  t.equal(await readPin('env:KIOSK_UNIT_PIN'), 'pin-Z8v1-unit');
  const dir = t.testdir({ pin: 'pin-Z8v1-file\n', empty: '' });
  t.equal(await readPin(`file:${join(dir, 'pin')}`), 'pin-Z8v1-file', 'one trailing newline dropped');
  for (const source of ['env:KIOSK_UNIT_PIN_UNSET', `file:${join(dir, 'absent')}`, `file:${join(dir, 'empty')}`, 'pin-Z8v1-unit']) {
    const err = await readPin(source).then(
      () => undefined,
      (e: unknown) => e,
    );
    t.ok(isKioskError(err, 'E_CONFIG_INVALID') && err.subject === 'keyStore.pinSource', `${source}: E_CONFIG_INVALID (keyStore.pinSource)`);
    t.notMatch((err as Error).message, /pin-Z8v1/, 'no PIN in the message');
  }
});

t.test('config: keyStore defaults to the file; pkcs11 needs a module and a token', async (t) => {
  t.match(validateConfig({}).keyStore, { kind: 'file', keyLabel: 'kiosk-device', pinSource: 'env:KIOSK_PKCS11_PIN', engine: '' });
  const code = (keyStore: Record<string, unknown>) => codeOf(() => validateConfig({ keyStore }));
  t.match(code({ kind: 'pkcs11', token: 'kiosk' }), { code: 'E_CONFIG_INVALID', message: /keyStore\.pkcs11Module/ });
  t.match(code({ kind: 'pkcs11', pkcs11Module: '/m.so' }), { code: 'E_CONFIG_INVALID', message: /keyStore\.token/ });
  t.match(code({ kind: 'pkcs11', pkcs11Module: '/m.so', token: 'kiosk', pinSource: '123456' }), { code: 'E_CONFIG_INVALID', message: /keyStore\.pinSource/ });
  t.match(code({ kind: 'pkcs11', pkcs11Module: '/m.so', token: 'kiosk' }), { message: 'no error' });
});
