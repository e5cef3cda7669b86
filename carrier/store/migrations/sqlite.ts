/**
 * SQLite schema versions, one list per file (each store has its own file). The version is the file's
 * `user_version`. Version 1 is the schema the stores created before versioning, written with IF NOT
 * EXISTS so that a file from then is adopted as it is. Append new versions; never edit a shipped one.
 */
import type { Migration } from '../sqlite/migrate.js';

/** nonces.db */
export const NONCE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'nonces',
    sql: 'CREATE TABLE IF NOT EXISTS nonces (nonce TEXT PRIMARY KEY, device TEXT NOT NULL, expires INTEGER NOT NULL, jti TEXT, issued INTEGER)',
  },
];

/** enrolment.db */
export const REGISTRY_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'registry',
    sql: `CREATE TABLE IF NOT EXISTS allowed (device TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS tokens (device TEXT PRIMARY KEY, hash BLOB NOT NULL, used INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS devices (device TEXT PRIMARY KEY, key_sha256 TEXT NOT NULL, serial TEXT, not_after INTEGER, revoked INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS certificates (serial TEXT PRIMARY KEY, device TEXT NOT NULL, not_after INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS certificates_device ON certificates (device);
CREATE TABLE IF NOT EXISTS renewals (device TEXT PRIMARY KEY, at INTEGER NOT NULL)`,
  },
];

/** ca.db */
export const CA_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'ca records',
    sql: `CREATE TABLE IF NOT EXISTS issued (serial TEXT PRIMARY KEY, cn TEXT NOT NULL, profile TEXT NOT NULL, not_after INTEGER NOT NULL, issued_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS issued_cn ON issued (cn);
CREATE TABLE IF NOT EXISTS revoked (serial TEXT PRIMARY KEY, revoked_at INTEGER NOT NULL, reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL)`,
  },
];

/** rollouts.db */
export const ROLLOUT_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'rollouts',
    sql: `CREATE TABLE IF NOT EXISTS rollouts (id TEXT PRIMARY KEY, release TEXT NOT NULL, release_sha256 TEXT NOT NULL, kind TEXT NOT NULL,
  version INTEGER NOT NULL, rules TEXT NOT NULL, created INTEGER NOT NULL, aborted TEXT, aborted_wave INTEGER);
CREATE TABLE IF NOT EXISTS kiosks (rollout TEXT NOT NULL, kiosk TEXT NOT NULL, ord INTEGER NOT NULL, job_id TEXT NOT NULL UNIQUE,
  wave INTEGER, state TEXT NOT NULL, reason TEXT, sent_at INTEGER, updated_at INTEGER, PRIMARY KEY (rollout, kiosk))`,
  },
];
