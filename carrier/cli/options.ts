/** What the carrier's commands share. */

/** The `--dir` option every command that reads carrier state takes. */
export const DIR_OPTION = ['--dir <dir>', 'carrier state directory (ca.crt, ca.key, nonces.db)', 'carrier'] as const;

/** The CRL in the carrier state directory (written by `revoke`, `crl` and the enrolment service after a renewal). */
export const CRL_FILE = 'crl.pem';
