/**
 * Signed carrier commands. The MQTT payload of `<prefix><id>/cmd/<name>` is a compact JWS (ES256)
 * made with a carrier command key, a key of its own that no broker identity holds, so that neither
 * a compromised verifier or enrolment service nor the broker itself can make a kiosk act:
 *
 *   header  {"alg":"ES256","typ":"kiosk-cmd+jwt","kid":<the key's id in the kiosk's commands.keys>}
 *   payload {"cmd":<name, = the topic's last level>,"aud":<kiosk id>,"jti":<random, used once>,
 *            "iat":<s>,"exp":<s, short>,"args":{...the command's body}}
 *
 * `authorize_dispense` args name the accepted result's `jti` and its `session_id` (the result claim's
 * `session_id`, or `assist_id` for an operator's decision without one).
 */

/** The `typ` header of a command token. */
export const COMMAND_TYP = 'kiosk-cmd+jwt';

/** Longest a command token may live (exp - iat) unless the kiosk is configured otherwise, seconds. */
export const DEFAULT_COMMAND_LIFETIME_SEC = 120;

/** The claims of a command token. */
export interface CommandClaims {
  cmd: string;
  aud: string;
  jti: string;
  iat: number;
  exp: number;
  args: Record<string, unknown>;
}

/** What is wrong with `v` as command claims, or undefined when nothing is. */
export function commandClaimsProblem(v: Record<string, unknown>): string | undefined {
  if (typeof v.cmd !== 'string' || !/^[a-z_]{1,64}$/.test(v.cmd)) return 'cmd';
  if (typeof v.aud !== 'string') return 'aud';
  if (typeof v.jti !== 'string' || !/^[A-Za-z0-9_-]{16,128}$/.test(v.jti)) return 'jti';
  if (!Number.isInteger(v.iat)) return 'iat';
  if (!Number.isInteger(v.exp)) return 'exp';
  if (typeof v.args !== 'object' || v.args === null || Array.isArray(v.args)) return 'args';
  return undefined;
}

/** True when `v` holds well-formed command claims (their values are checked by the kiosk). */
export function isCommandClaims(v: Record<string, unknown>): v is Record<string, unknown> & CommandClaims {
  return commandClaimsProblem(v) === undefined;
}
