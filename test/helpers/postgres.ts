/**
 * A throwaway PostgreSQL cluster for tests: Debian's `postgresql` binaries, `initdb` into a temp folder,
 * `pg_ctl start` on 127.0.0.1 and a free port, password (scram-sha-256) auth with a random password, the
 * unix socket inside the folder (never /var/run/postgresql), fsync on because durability is what the
 * carrier's stores are tested for. As root (CI), the server runs as the `postgres` user the package creates
 * (initdb refuses root) through `runuser`.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import postgres from 'postgres';
import { freePort } from '../../carrier/broker/local-broker.js';

/** Debian's versioned folder; never PATH, a clean CI machine has only the package. */
const PG_BIN = ['/usr/lib/postgresql/17/bin', '/usr/lib/postgresql/16/bin', '/usr/lib/postgresql/15/bin'].find((d) => existsSync(join(d, 'initdb')));

/** The postgres binaries are present; tests skip with a message when not. */
export const hasPostgres: boolean = PG_BIN !== undefined;

/** Why tests skip when `hasPostgres` is false. */
export const noPostgresReason = 'PostgreSQL binaries absent (apt-get install postgresql)';

export interface TestPostgres {
  /** postgres://kiosk:<password>@127.0.0.1:<port>/kiosk */
  url: string;
  /** The same server with another password (for the refusal test). */
  urlWithPassword(password: string): string;
  /** Creates a fresh database on this server and returns its URL (independent cases on one cluster). */
  newDatabase(name: string): Promise<string>;
  /** Stops the server (fast shutdown); the data folder stays so that `start()` brings the same data back. */
  halt(): Promise<void>;
  /** Starts the server again after `halt()` on the same port. */
  start(): Promise<void>;
  /** Stops the server and removes its data folder. */
  stop(): Promise<void>;
}

const asRoot = process.getuid?.() === 0;

/** Runs a postgres binary (as the `postgres` user when root) and resolves with its output; rejects on a non-zero exit. */
function run(cmd: string, args: string[], timeoutMs = 60_000): Promise<string> {
  const [file, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args[0] ?? ''} exited ${code}: ${out.slice(-800)}`));
    });
  });
}

/** Server TLS for {@link startPostgres}: PEM certificate (chain) and key. */
export interface PostgresTls {
  cert: string;
  key: string;
}

/** initdb + pg_ctl start of a throwaway cluster in `dir` (127.0.0.1, a free port, scram-sha-256 password auth); TLS on when `tls` is given. */
export async function startPostgres(dir: string, options: { tls?: PostgresTls } = {}): Promise<TestPostgres> {
  if (!PG_BIN) throw new Error(noPostgresReason);
  const bin = (name: string) => join(PG_BIN, name);
  mkdirSync(dir, { recursive: true });
  // The server user must traverse the test's folder (mkdtemp makes it 0700); everything the server
  // writes (data, socket, log) lives in `base`, owned by that user.
  chmodSync(dir, 0o755);
  const base = join(dir, 'pg');
  mkdirSync(base, { mode: 0o700 });
  const data = join(base, 'data');
  const sock = join(base, 'sock');
  mkdirSync(sock, { mode: 0o700 });
  const password = randomBytes(18).toString('base64url');
  const pwfile = join(base, 'pwfile');
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  const owned = [base, sock, pwfile];
  if (options.tls) {
    // The server refuses a key readable by others (and by anyone but its owner).
    writeFileSync(join(base, 'server.crt'), options.tls.cert, { mode: 0o600 });
    writeFileSync(join(base, 'server.key'), options.tls.key, { mode: 0o600 });
    owned.push(join(base, 'server.crt'), join(base, 'server.key'));
  }
  if (asRoot) {
    const { uid, gid } = pgUser();
    for (const p of owned) chownSync(p, uid, gid);
  }
  await run(bin('initdb'), ['-D', data, '-U', 'kiosk', `--pwfile=${pwfile}`, '--auth=scram-sha-256', '--encoding=UTF8', '--no-instructions']);
  await rm(pwfile, { force: true });
  const port = await freePort();
  const opts = [
    `-p ${port}`,
    "-c listen_addresses='127.0.0.1'",
    `-c unix_socket_directories='${sock}'`,
    '-c fsync=on',
    '-c synchronous_commit=on',
    '-c max_connections=200',
    ...(options.tls ? ['-c ssl=on', `-c ssl_cert_file='${join(base, 'server.crt')}'`, `-c ssl_key_file='${join(base, 'server.key')}'`] : []),
  ].join(' ');
  const logfile = join(base, 'postgres.log');
  const start = async () => {
    await run(bin('pg_ctl'), ['start', '-w', '-t', '60', '-D', data, '-l', logfile, '-o', opts]);
  };
  const halt = async () => {
    await run(bin('pg_ctl'), ['stop', '-m', 'fast', '-w', '-D', data]).catch(() => undefined);
  };
  await start();
  const urlWithPassword = (pw: string, db = 'kiosk') => `postgres://kiosk:${encodeURIComponent(pw)}@127.0.0.1:${port}/${db}`;
  await createDb(urlWithPassword(password, 'postgres'), 'kiosk');
  return {
    url: urlWithPassword(password),
    urlWithPassword: (pw: string) => urlWithPassword(pw),
    async newDatabase(name: string) {
      await createDb(urlWithPassword(password, 'postgres'), name);
      return urlWithPassword(password, name);
    },
    halt,
    start,
    async stop() {
      await halt();
      await rm(base, { recursive: true, force: true, maxRetries: 3 });
    },
  };
}

/** Creates database `name` (a fresh one per test keeps cases independent on one cluster). */
async function createDb(adminUrl: string, name: string): Promise<void> {
  const sql = postgres(adminUrl, { max: 1, onnotice: () => undefined });
  try {
    await sql`CREATE DATABASE ${sql(name)}`;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** uid/gid of the `postgres` system user (root runs only). */
function pgUser(): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('no postgres user: apt-get install postgresql creates it');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}
