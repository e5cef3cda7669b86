/** Exit code after an update's switch or rollback: systemd restarts the unit (RestartForceExitStatus=75, EX_TEMPFAIL). */
export const RESTART_EXIT_CODE = 75;
