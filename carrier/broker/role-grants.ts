/**
 * The broker role model of policy.ts, read back as duties with MQTT topic grants, so that the
 * AWS IoT Core and EMQX exports are generated from the very roles mosquitto enforces (and the
 * same name checks) instead of from a second hand-written list.
 */
import { DEFAULT_PREFIX } from '../../protocol/names.js';
import { type DynsecClient, type DynsecRole, type PolicyInput, deviceRole, dynsecConfig } from './policy.js';

/** Stands for "the connecting device's own id" in a device duty's topics. */
export const SELF = '{self}';

/** One duty: who holds it and which topics it may publish to and subscribe to (MQTT filters). */
export interface Duty {
  /** `device`, `claim`, `verifier`, `dispatcher`, `enrolment` or `operator-<name>`. */
  name: string;
  /** The certificate CNs (or operator logins) that hold it; for `device`, the devices known now. */
  usernames: string[];
  publish: string[];
  subscribe: string[];
}

// Any id the device pattern accepts; only used to find the device's own topic level.
const SAMPLE_DEVICE = 'sample-device-id';

/** The duties of `input` (validated as dynsecConfig validates it); the mosquitto-only `dynsec-admin` role is left out. */
export function duties(input: PolicyInput): Duty[] {
  const prefix = input.prefix ?? DEFAULT_PREFIX;
  const config = dynsecConfig(input) as { roles: DynsecRole[]; clients: DynsecClient[] };
  const holders = (rolename: string) => config.clients.filter((c) => c.roles.some((r) => r.rolename === rolename)).map((c) => c.username);
  const grants = (role: DynsecRole) => ({
    publish: role.acls.filter((a) => a.allow && a.acltype === 'publishClientSend').map((a) => a.topic),
    subscribe: role.acls.filter((a) => a.allow && a.acltype === 'subscribePattern').map((a) => a.topic),
  });
  const own = `${prefix}${SAMPLE_DEVICE}/`;
  const device = grants(deviceRole(SAMPLE_DEVICE, prefix));
  const self = (t: string) => (t.startsWith(own) ? `${prefix}${SELF}/${t.slice(own.length)}` : t);
  const shared = config.roles
    .filter((r) => !r.rolename.startsWith('device-') && r.rolename !== 'dynsec-admin')
    .map((r) => ({ name: r.rolename, usernames: holders(r.rolename), ...grants(r) }))
    .filter((d) => d.usernames.length > 0 || !d.name.startsWith('operator-'));
  return [{ name: 'device', usernames: [...input.devices], publish: device.publish.map(self), subscribe: device.subscribe.map(self) }, ...shared];
}

/** `filter` without a leading `$share/<group>/`, and the group (undefined for a plain filter). */
export function splitShared(filter: string): { group?: string; filter: string } {
  const m = /^\$share\/([^/+#]+)\/(.+)$/.exec(filter);
  return m ? { group: m[1], filter: m[2] } : { filter };
}

/**
 * True when the last level of `filter` is a `+` that stands for a fresh random reply id (the
 * enrolment and renewal replies), not for "every kiosk" at the device level after `prefix`.
 */
export function isReplyLevel(filter: string, prefix = DEFAULT_PREFIX): boolean {
  const levels = filter.split('/');
  const deviceLevel = prefix.split('/').length - 1;
  return levels.at(-1) === '+' && levels.length - 1 !== deviceLevel;
}
