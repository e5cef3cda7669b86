/**
 * The carrier commands on a PostgreSQL store (`--store postgres://...` or $KIOSK_CARRIER_STORE): nonces
 * issued by one command are consumed by `verify` in another process, a device revoked with `revoke`
 * is refused by the next `verify` (the revocation is read from PostgreSQL), enrolment tokens land in
 * the shared registry, and no SQLite file is written in --dir.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { openCarrierStores } from '../../carrier/store/open.js';
import { ResultSigner } from '../../provisioning/result-signer.js';
import { hasPostgres, noPostgresReason, startPostgres } from '../helpers/postgres.js';
import { TestPki } from '../helpers/pki.js';
import { ownTempDir } from '../helpers/tempdir.js';

const carrier = (args: string[], env: NodeJS.ProcessEnv = {}) => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'carrier/cli/main.ts', ...args], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, KIOSK_CARRIER_STORE: '', ...env },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

t.test('nonce, verify, revoke, crl and enrol-token share one PostgreSQL store', { skip: hasPostgres ? false : noPostgresReason }, async (t) => {
  const dir = ownTempDir(t, 'carrier-store-cli-');
  const pg = await startPostgres(join(dir, 'pg'));
  t.teardown(() => pg.stop());
  const pki = await TestPki.create(join(dir, 'pki'));
  t.teardown(() => pki.ca.stop());
  const caDir = join(dir, 'pki', 'ca');
  const dev = await pki.issue('kiosk-001');
  const stores = await openCarrierStores({ kind: 'postgres', url: pg.url });
  t.teardown(() => stores.close());
  // The CA of this test recorded the certificate in its own file; a carrier on PostgreSQL records it there.
  await stores.revocations.recordIssued(dev.certificate, 'kiosk-001', 'device', new Date());

  const token = async (nonce: string) =>
    (
      await new ResultSigner({ keyStore: dev.keyStore, certificate: dev.certificate, measurements: [], dbgstat: 'disabled' }).sign(nonce, {
        verdict: 'accept',
        reasons: [],
      })
    ).token;
  const verify = (tok: string, env?: NodeJS.ProcessEnv, store: string[] = ['--store', pg.url]) =>
    carrier(['verify', tok, '--dir', caDir, '--skip-plan-check', '--skip-policy-check', ...store], env);

  const issued = carrier(['nonce', 'kiosk-001', '--dir', caDir, '--store', pg.url]);
  t.equal(issued.code, 0, issued.err);
  const tok = await token(issued.out.trim());
  const first = verify(tok);
  t.match({ code: first.code, ...JSON.parse(first.out) }, { code: 0, status: 'accepted', deviceId: 'kiosk-001' });
  t.match(JSON.parse(verify(tok, { KIOSK_CARRIER_STORE: pg.url }, []).out), { status: 'duplicate' }, 'the same store through the environment');
  const onSqlite = verify(tok, {}, []);
  t.match(JSON.parse(onSqlite.out), { status: 'rejected' }, 'the SQLite store in --dir never saw that nonce');

  const revoked = carrier(['revoke', 'kiosk-001', '--dir', caDir, '--store', pg.url]);
  t.equal(revoked.code, 0, revoked.err);
  t.match(JSON.parse(revoked.out), { revoked: 'kiosk-001', certificates: 1, newlyRevoked: [dev.certificate.serialNumber.toLowerCase().replace(/^0+/, '')] });
  t.equal(await stores.revocations.isRevoked(dev.certificate.serialNumber), true, 'recorded in PostgreSQL');
  t.equal((await stores.registry.device('kiosk-001'))?.revoked, true);
  const after = verify(await token(carrier(['nonce', 'kiosk-001', '--dir', caDir, '--store', pg.url]).out.trim()));
  t.match({ code: after.code, ...JSON.parse(after.out) }, { code: 1, status: 'rejected', reason: 'revoked' }, 'verify reads the revocation from PostgreSQL');
  const crl = carrier(['crl', '--dir', caDir, '--store', pg.url, '--out', join(dir, 'crl.pem')]);
  t.equal(crl.code, 0, crl.err);
  t.equal(await stores.revocations.nextCrlNumber(), 3, 'the revoke and crl commands numbered their CRLs in PostgreSQL');

  const enrol = carrier(['enrol-token', 'kiosk-002', '--dir', caDir, '--store', pg.url]);
  t.equal(enrol.code, 0, enrol.err);
  t.equal(await stores.registry.claim('kiosk-002', new Uint8Array(65).fill(4), enrol.out.trim()), 'ok', 'the token is in the shared registry');
  t.notOk(existsSync(join(caDir, 'enrolment.db')), 'no enrolment.db in --dir');

  t.match(carrier(['nonce', 'kiosk-001', '--dir', caDir, '--store', 'mysql://x']), { code: 2, err: /E_USAGE.*postgres/ }, 'an unknown store is refused');
  const denied = carrier(['nonce', 'kiosk-001', '--dir', caDir, '--store', pg.urlWithPassword('wrong')]);
  t.match(denied, { code: 2, err: /E_STORAGE.*password authentication failed/ }, 'a wrong password fails with E_STORAGE');
  t.notMatch(denied.err, /wrong/, 'and does not print the password');
});
