import t from 'tap';
import { verify as nodeVerify } from 'node:crypto';
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { FileKeyStore } from '../../base/keys/file-key-store.js';
import { publicKeyObject, type KeyStore } from '../../base/keys/key-store.js';
import { Pkcs11KeyStore } from '../../provisioning/pkcs11-key-store.js';
import { createCsr, x509 } from '../../base/keys/x509.js';
import { rejectsWithCode } from '../helpers/errors.js';
import { createSoftHsmToken } from '../helpers/softhsm.js';

const pkcs11js = createRequire(import.meta.url)('pkcs11js') as typeof import('pkcs11js');

/** Every KeyStore implementation must pass this suite. `open` returns a new instance on the same key. */
function keyStoreContract(name: string, open: () => KeyStore): void {
  t.test(`${name}: KeyStore contract`, async (t) => {
    const store = open();
    await store.start();
    t.teardown(() => store.stop());
    const data = Buffer.from('{"verdict":"accept"}');
    const sig = await store.sign(data);
    t.equal(sig.length, 64, 'raw r||s signature');
    const pub = publicKeyObject(store);
    t.ok(nodeVerify('sha256', data, { key: pub, dsaEncoding: 'ieee-p1363' }, sig), 'signature verifies with the public key');
    t.notOk(nodeVerify('sha256', Buffer.from('{"verdict":"reject"}'), { key: pub, dsaEncoding: 'ieee-p1363' }, sig), 'other data does not verify');

    const again = open();
    await again.start();
    t.same(Buffer.from(again.publicKeySpki()), Buffer.from(store.publicKeySpki()), 'reopening finds the same key');
    const sig2 = await again.sign(data);
    t.ok(nodeVerify('sha256', data, { key: pub, dsaEncoding: 'ieee-p1363' }, sig2), 'the reopened key signs for the same public key');
    await again.stop();

    const csr = new x509.Pkcs10CertificateRequest(await createCsr(store, 'kiosk-001'));
    t.ok(await csr.verify(), 'a CSR signed through the store verifies');
    t.equal(csr.subject, 'CN=kiosk-001');
    t.same(Buffer.from(csr.publicKey.rawData), Buffer.from(store.publicKeySpki()), 'the CSR carries the store key');
  });
}

/**
 * `destroy()` (tamper): the key is gone where it was kept (a new store on the same place, told not to
 * create one, finds none), and the destroyed store refuses to sign or start again. `open(create)`
 * returns a new store on one key that no other test uses.
 */
function keyStoreDestroyContract(name: string, open: (create: boolean) => KeyStore): void {
  t.test(`${name}: KeyStore destroy contract`, async (t) => {
    const store = open(true);
    await store.start();
    t.teardown(() => store.stop());
    await store.sign(Buffer.from('before'));
    const where = await store.destroy();
    t.ok(where.length > 0, `destroy names where the key was (${where})`);
    await rejectsWithCode(t, store.sign(Buffer.from('after')), 'E_KEY_STORE', /destroyed/);
    await rejectsWithCode(t, store.start(), 'E_KEY_STORE', /destroyed/);
    await rejectsWithCode(t, open(false).start(), 'E_KEY_STORE');
    t.equal(await store.destroy(), where, 'a second destroy is harmless');
    await store.stop();
  });
}

const dir = t.testdir({});
keyStoreContract('file', () => new FileKeyStore({ path: join(dir, 'state', 'device.key') }));
keyStoreDestroyContract('file', (create) => new FileKeyStore({ path: join(dir, 'state', 'destroyed.key'), create }));

const token = createSoftHsmToken('contract');
t.teardown(() => token.cleanup());
keyStoreContract('pkcs11 (SoftHSM2)', () => new Pkcs11KeyStore({ modulePath: token.modulePath, tokenLabel: token.tokenLabel, pin: token.pin }));
keyStoreDestroyContract(
  'pkcs11 (SoftHSM2)',
  (create) => new Pkcs11KeyStore({ modulePath: token.modulePath, tokenLabel: token.tokenLabel, pin: token.pin, keyLabel: 'destroy-test', create }),
);

t.test('file key: mode 0600, no temp file left, too-open file and garbage refused', async (t) => {
  const d = t.testdir({});
  const path = join(d, 'k', 'device.key');
  const store = new FileKeyStore({ path });
  await store.start();
  t.equal((await stat(path)).mode & 0o777, 0o600);
  t.match(await readFile(path, 'utf8'), /BEGIN PRIVATE KEY/);
  const { readdir } = await import('node:fs/promises');
  t.same(await readdir(join(d, 'k')), ['device.key'], 'only the key file, no temp file');
  await chmod(path, 0o644);
  await rejectsWithCode(t, new FileKeyStore({ path }).start(), 'E_KEY_STORE', /0600/);
  await writeFile(join(d, 'bad.key'), 'not a key', { mode: 0o600 });
  await rejectsWithCode(t, new FileKeyStore({ path: join(d, 'bad.key') }).start(), 'E_KEY_STORE', 'bad.key');
  await rejectsWithCode(t, new FileKeyStore({ path: join(d, 'none.key'), create: false }).start(), 'E_KEY_STORE', 'none.key');
  await rejectsWithCode(
    t,
    store
      .sign(Buffer.alloc(1))
      .then(() => store.stop())
      .then(() => store.sign(Buffer.alloc(1))),
    'E_KEY_STORE',
  );
});

t.test('pkcs11: the private key is sensitive and not extractable; wrong PIN or token refused', async (t) => {
  const store = new Pkcs11KeyStore({ modulePath: token.modulePath, tokenLabel: token.tokenLabel, pin: token.pin, keyLabel: 'attr-test' });
  await store.start();
  t.teardown(() => store.stop());
  t.equal(store.privateKeyFlag(pkcs11js.CKA_EXTRACTABLE), false);
  t.equal(store.privateKeyFlag(pkcs11js.CKA_SENSITIVE), true);
  t.equal(store.privateKeyFlag(pkcs11js.CKA_SIGN), true);
  t.throws(() => store.privateKeyAttribute(pkcs11js.CKA_VALUE), 'reading the key value fails');
  await store.stop();
  await rejectsWithCode(t, new Pkcs11KeyStore({ modulePath: token.modulePath, tokenLabel: token.tokenLabel, pin: '000000' }).start(), 'E_KEY_STORE');
  await rejectsWithCode(t, new Pkcs11KeyStore({ modulePath: token.modulePath, tokenLabel: 'nope', pin: token.pin }).start(), 'E_KEY_STORE', 'nope');
  await rejectsWithCode(t, new Pkcs11KeyStore({ modulePath: '/nonexistent.so', tokenLabel: 'x', pin: 'x' }).start(), 'E_KEY_STORE', 'nonexistent');
  await rejectsWithCode(
    t,
    new Pkcs11KeyStore({ modulePath: token.modulePath, tokenLabel: token.tokenLabel, pin: token.pin, keyLabel: 'absent', create: false }).start(),
    'E_KEY_STORE',
    'absent',
  );
});
