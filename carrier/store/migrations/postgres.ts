/**
 * PostgreSQL schema versions of all the carrier's stores (one database), recorded in
 * `schema_migrations`. Append new versions; never edit a shipped one. Times are epoch milliseconds
 * (bigint) as in the SQLite files, so the two backends map rows the same way.
 */
import type { Migration } from '../sqlite/migrate.js';

export const POSTGRES_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'carrier stores',
    sql: `
CREATE TABLE nonces (nonce text PRIMARY KEY, device text NOT NULL, issued bigint, expires bigint NOT NULL, jti text);

CREATE TABLE enrol_allowed (device text PRIMARY KEY);
CREATE TABLE enrol_tokens (device text PRIMARY KEY, hash bytea NOT NULL, used boolean NOT NULL DEFAULT false);
CREATE TABLE enrol_devices (device text PRIMARY KEY, key_sha256 text NOT NULL, serial text, not_after bigint,
  revoked boolean NOT NULL DEFAULT false);
CREATE TABLE enrol_certificates (serial text PRIMARY KEY, device text NOT NULL, not_after bigint NOT NULL,
  seq bigint GENERATED ALWAYS AS IDENTITY);
CREATE INDEX enrol_certificates_device ON enrol_certificates (device, seq);
CREATE TABLE enrol_renewals (device text PRIMARY KEY, at bigint NOT NULL);

CREATE TABLE ca_issued (serial text PRIMARY KEY, cn text NOT NULL, profile text NOT NULL, not_after bigint NOT NULL,
  issued_at bigint NOT NULL, seq bigint GENERATED ALWAYS AS IDENTITY);
CREATE INDEX ca_issued_cn ON ca_issued (cn, issued_at, seq);
CREATE TABLE ca_revoked (serial text PRIMARY KEY, revoked_at bigint NOT NULL, reason text NOT NULL);
CREATE TABLE ca_meta (name text PRIMARY KEY, value bigint NOT NULL);

CREATE TABLE rollouts (id text PRIMARY KEY, release text NOT NULL, release_sha256 text NOT NULL, kind text NOT NULL,
  version integer NOT NULL, rules text NOT NULL, created bigint NOT NULL, aborted text, aborted_wave integer);
CREATE TABLE rollout_kiosks (rollout text NOT NULL REFERENCES rollouts (id), kiosk text NOT NULL, ord integer NOT NULL,
  job_id text NOT NULL UNIQUE, wave integer, state text NOT NULL, reason text, sent_at bigint, updated_at bigint,
  PRIMARY KEY (rollout, kiosk));
`,
  },
];
