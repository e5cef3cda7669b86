import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ResultSigner } from '../../provisioning/result-signer.js';
import { FileKeyStore } from '../../base/keys/file-key-store.js';
import { parseCertificate } from '../../base/keys/x509.js';
import { createSoftHsmToken } from '../helpers/softhsm.js';

/** The kiosk CLI, or the carrier's (a separate program, not in the kiosk package) for `carrier ...`. */
const cli = (args: string[], env: NodeJS.ProcessEnv = {}) => {
  const [script, rest] = args[0] === 'carrier' ? ['carrier/cli/main.ts', args.slice(1)] : ['agent/cli/main.ts', args];
  const r = spawnSync(process.execPath, ['--import', 'tsx', script, ...rest], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

t.test('offline enrolment: ca init, provision, sign-csr, install, nonce, verify', async (t) => {
  const dir = t.testdir({});
  const carrier = join(dir, 'carrier');
  const state = join(dir, 'state');
  t.equal(cli(['carrier', 'ca', 'init', '--dir', carrier]).code, 0);
  t.match(cli(['carrier', 'ca', 'init', '--dir', carrier]), { code: 2, err: /E_USAGE.*refusing to overwrite/ });
  const p = cli(['provision', 'kiosk-007', '--state', state]);
  t.equal(p.code, 0, p.err);
  t.match(JSON.parse(p.out), { csr: join(state, 'device.csr'), keyStore: 'file' });
  t.equal(statSync(join(state, 'device.key')).mode & 0o777, 0o600);
  t.match(cli(['carrier', 'sign-csr', join(state, 'device.csr'), '--dir', carrier, '--expect-cn', 'kiosk-008']), { code: 2, err: /E_NOT_AUTHORIZED/ });
  const crt = join(dir, 'kiosk-007.crt');
  t.equal(cli(['carrier', 'sign-csr', join(state, 'device.csr'), '--dir', carrier, '--out', crt]).code, 0);
  t.match(JSON.parse(cli(['provision', 'kiosk-007', '--state', state, '--certificate', crt]).out), { installed: join(state, 'device.crt') });
  t.match(cli(['provision', 'kiosk-009', '--state', state, '--certificate', crt]), { code: 2, err: /E_CERTIFICATE/ });

  const nonce = cli(['carrier', 'nonce', 'kiosk-007', '--dir', carrier]).out.trim();
  t.match(nonce, /^[0-9a-f]{64}$/);
  const keyStore = new FileKeyStore({ path: join(state, 'device.key'), create: false });
  await keyStore.start();
  const signer = new ResultSigner({
    keyStore,
    certificate: parseCertificate(readFileSync(join(state, 'device.crt'), 'utf8')),
    measurements: [{ id: 'agent' }],
  });
  const { token, jti } = await signer.sign(nonce, { verdict: 'accept', reasons: [] });
  await keyStore.stop();
  const tokenFile = join(dir, 'token.jws');
  writeFileSync(tokenFile, token);
  const tampered = token.slice(0, -3) + (token.endsWith('A') ? 'BBB' : 'AAA');
  t.match(cli(['carrier', 'verify', tampered, '--dir', carrier, '--skip-plan-check', '--skip-policy-check']), { code: 1 });
  const v = cli(['carrier', 'verify', `@${tokenFile}`, '--dir', carrier, '--skip-plan-check', '--skip-policy-check']);
  t.equal(v.code, 0, v.err);
  t.match(JSON.parse(v.out), { status: 'accepted', deviceId: 'kiosk-007', jti, result: { verdict: 'accept' } });
  t.match(
    JSON.parse(cli(['carrier', 'verify', token, '--dir', carrier, '--skip-plan-check', '--skip-policy-check']).out),
    { status: 'duplicate' },
    'the nonce is remembered across runs',
  );
});

t.test('provision with the key in a SoftHSM2 token', async (t) => {
  const token = createSoftHsmToken('provision');
  t.teardown(() => token.cleanup());
  const state = t.testdir({});
  const args = ['provision', 'kiosk-010', '--state', state, '--pkcs11-module', token.modulePath, '--token', token.tokenLabel];
  t.match(cli(args), { code: 2, err: /E_USAGE.*KIOSK_PKCS11_PIN/ });
  const r = cli(args, { KIOSK_PKCS11_PIN: token.pin, SOFTHSM2_CONF: token.conf });
  t.equal(r.code, 0, r.err);
  t.match(JSON.parse(r.out), { keyStore: 'pkcs11' });
  t.match(readFileSync(join(state, 'device.csr'), 'utf8'), /BEGIN CERTIFICATE REQUEST/);
});
