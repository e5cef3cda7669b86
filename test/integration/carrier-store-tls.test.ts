/**
 * The carrier's PostgreSQL store over TLS: `sslmode=verify-full&sslrootcert=<CA>` in the store URL
 * reaches the client, the session is encrypted, and a server whose certificate is not from that CA is
 * refused before the password is sent.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import postgres from 'postgres';
import { openCarrierStores } from '../../carrier/store/open.js';
import { hasPostgres, noPostgresReason, startPostgres } from '../helpers/postgres.js';
import { ownTempDir } from '../helpers/tempdir.js';

/** A CA (ca.crt) and a server certificate from it for 127.0.0.1; `other.crt` is a CA that signed nothing. */
function makeCerts(dir: string): { ca: string; other: string; cert: string; key: string } {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  ssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=test db ca', '-days', '2');
  ssl('req', '-x509', ...ec, '-keyout', 'other.key', '-out', 'other.crt', '-subj', '/CN=test db ca', '-days', '2');
  ssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'san.ext');
  return {
    ca: join(dir, 'ca.crt'),
    other: join(dir, 'other.crt'),
    cert: readFileSync(join(dir, 'server.crt'), 'utf8'),
    key: readFileSync(join(dir, 'server.key'), 'utf8'),
  };
}

t.test(
  'sslmode=verify-full in the store URL: verified TLS, and a foreign server certificate refused',
  { skip: hasPostgres ? false : noPostgresReason },
  async (t) => {
    const dir = ownTempDir(t, 'carrier-store-tls-');
    const certs = makeCerts(dir);
    const pg = await startPostgres(join(dir, 'server'), { tls: { cert: certs.cert, key: certs.key } });
    t.teardown(() => pg.stop());
    const url = `${pg.url}?sslmode=verify-full&sslrootcert=${encodeURIComponent(certs.ca)}`;

    const stores = await openCarrierStores({ kind: 'postgres', url });
    t.teardown(() => stores.close());
    const now = new Date();
    const n = await stores.nonces.issue('kiosk-001', now);
    t.equal(await stores.nonces.consume(n, 'kiosk-001', 'j', { now, iat: now, skewMs: 0 }), 'ok', 'the stores work over TLS');
    t.notOk(stores.describe.includes(new URL(pg.url).password), 'the store is described without its password');

    const sql = postgres(url, { max: 1, onnotice: false });
    t.teardown(() => sql.end());
    const [row] = await sql`SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()`;
    t.match(row, { ssl: true, version: /^TLSv1\.[23]$/ }, 'the session is encrypted');

    await t.rejects(
      openCarrierStores({ kind: 'postgres', url: `${pg.url}?sslmode=verify-full&sslrootcert=${encodeURIComponent(certs.other)}` }),
      { code: 'E_STORAGE', details: { store: 'carrier schema' } },
      'a server certificate from another CA is refused',
    );
  },
);
