/** What the carrier's commands share. */

/** The `--dir` option every command that reads carrier state takes. */
export const DIR_OPTION = ['--dir <dir>', 'carrier state directory (ca.crt, ca.key, nonces.db)', 'carrier'] as const;

/** The `--store` option of the commands that open the carrier's stores (see carrier/store/README.md). */
export const STORE_OPTION = [
  '--store <url>',
  "carrier state: a postgres:// URL shared by many hosts (sslmode=verify-full etc. in the URL), or 'sqlite' for files in --dir (default $KIOSK_CARRIER_STORE, else sqlite)",
] as const;

/** The CRL in the carrier state directory (written by `revoke`, `crl` and the enrolment service after a renewal). */
export const CRL_FILE = 'crl.pem';
