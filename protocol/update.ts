/**
 * Update jobs and their reports, between the carrier's rollout tooling and the kiosk's updater.
 *
 * The carrier sends the signed command `cmd/update` (protocol/command.ts) whose `args` are an
 * {@link UpdateJobArgs}: a job id and the release manifest token (protocol/release.ts), itself signed
 * by a carrier release key. Two keys, two roles: the command key says "this kiosk, now"; the release
 * key says "this content". The manifest names the artifact (the agent's Debian package, or the
 * files of a model bundle), its version and sha256.
 *
 * The kiosk reports each state of the job as the daemon event `update` on `<prefix><id>/events`
 * (stored before it is published, removed after the PUBACK, so a report survives a crash or a lost
 * connection): an {@link UpdateReport}.
 */

/** The states of an update job on a kiosk, in the order they are reached. */
export const UPDATE_STATES = ['queued', 'downloading', 'verifying', 'installing', 'trial', 'committed', 'rolled_back', 'failed'] as const;
export type UpdateState = (typeof UPDATE_STATES)[number];

/** States after which nothing more happens for the job. */
export const FINAL_UPDATE_STATES: ReadonlySet<UpdateState> = new Set(['committed', 'rolled_back', 'failed']);

/** The body (`args`) of a `cmd/update` command. */
export interface UpdateJobArgs {
  /** The carrier's id of this job (one rollout, one kiosk, one release): [A-Za-z0-9_-]{8,64}. */
  job_id: string;
  /** The release manifest, a compact JWS by a carrier release key. */
  release: string;
}

/** JSON schema of {@link UpdateJobArgs} (the kiosk's command router validates `args` with it). */
export const UPDATE_JOB_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['job_id', 'release'],
  properties: {
    job_id: { type: 'string', pattern: '^[A-Za-z0-9_-]{8,64}$' },
    release: { type: 'string', minLength: 16, maxLength: 65536 },
  },
} as const;

/** Coded reasons of `failed` and `rolled_back` reports. */
export type UpdateFailure =
  /** The manifest or the repository signature did not verify (E_UPDATE_SIGNATURE). */
  | 'signature'
  /** The manifest is malformed (E_UPDATE_MANIFEST). */
  | 'manifest'
  /** A file's sha256 or size differs from the manifest (E_UPDATE_HASH). */
  | 'hash'
  /** The version is below the kiosk's security floor (E_UPDATE_DOWNGRADE). */
  | 'downgrade'
  /** Not enough disk for the release (E_UPDATE_DISK). */
  | 'disk'
  /** The download failed after its retries (E_UPDATE_DOWNLOAD). */
  | 'download'
  /** The new release did not start (no READY, crashed, or restarted during its trial). */
  | 'start'
  /** The new release's model self-test failed. */
  | 'self_test'
  /** The new release could not reach the broker and get its report through in time. */
  | 'broker'
  /** The trial did not finish within the configured time. */
  | 'trial_timeout'
  /** Another job is running, or the release is already current. */
  | 'busy'
  | 'already_current'
  /** Anything else (the message says what). */
  | 'internal';

/** The payload of the daemon event `update` (besides `type`, `eventId`, `at`). */
export interface UpdateReport {
  jobId: string;
  kind: 'agent' | 'models';
  version: number;
  state: UpdateState;
  /** `downloading`: bytes done and in all. */
  progress?: { bytes: number; total: number };
  /** `failed` / `rolled_back`: the coded reason and a short message (no personal data). */
  reason?: UpdateFailure;
  message?: string;
  /** The version running after this report (for `rolled_back`: the one returned to). */
  running?: number | null;
}
