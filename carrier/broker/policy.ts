/**
 * The broker's authorisation policy as data: dynamic-security roles for devices, enrolment claims
 * and carrier services. The dynamic-security plugin is used instead of `acl_file` because mosquitto
 * 2.0.11 never denies SUBSCRIBE through `acl_file` (a device could join `$share/verifiers/...` and
 * swallow results); the plugin does deny, but does not expand %u, hence one role per device.
 */
import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { DEFAULT_PREFIX, DEVICE_ID_PATTERN, OPERATOR_NAME_PATTERN, VERIFIER_GROUP } from '../../protocol/names.js';
import { KioskError } from '../../base/errors.js';

type AclType = 'publishClientSend' | 'publishClientReceive' | 'subscribePattern' | 'subscribeLiteral' | 'unsubscribePattern';
export interface DynsecAcl {
  acltype: AclType;
  topic: string;
  allow: boolean;
  priority?: number;
}
export interface DynsecRole {
  rolename: string;
  acls: DynsecAcl[];
}
export interface DynsecClient {
  username: string;
  textName?: string;
  roles: { rolename: string }[];
  password?: string;
  salt?: string;
  iterations?: number;
}

/** A remote-assistance operator login: a password (browser over MQTT-over-WebSocket) or, without one, a service certificate with this CN. */
export interface OperatorLogin {
  username: string;
  password?: string;
}

/** Who may connect: device ids, claim CNs (claim-*), carrier service CNs (carrier-*). */
export interface PolicyInput {
  devices: string[];
  claims?: string[];
  services?: string[];
  /** Services that may also administer the policy at run time ($CONTROL/dynamic-security). */
  admins?: string[];
  /** Remote-assistance operators (role `operator`: assistance signalling with any kiosk, nothing else). */
  operators?: OperatorLogin[];
  prefix?: string;
}

const allow = (acltype: AclType, topic: string): DynsecAcl => ({ acltype, topic, allow: true });

/** The topics of one device: publish its own result/status/telemetry/events/replies/renewal; subscribe its own cmd/# and renewal replies. */
export function deviceRole(deviceId: string, prefix = DEFAULT_PREFIX): DynsecRole {
  if (!DEVICE_ID_PATTERN.test(deviceId)) throw new KioskError('E_USAGE', 'not a device id', { subject: deviceId });
  const base = `${prefix}${deviceId}/`;
  return {
    rolename: `device-${deviceId}`,
    acls: [
      ...['result', 'status', 'telemetry', 'events', 'renew', 'reply/#'].map((s) => allow('publishClientSend', base + s)),
      allow('publishClientSend', `${base}assist/signal/kiosk`),
      allow('subscribePattern', `${base}cmd/#`),
      allow('subscribePattern', `${base}renew/reply/+`),
      allow('subscribePattern', `${base}assist/signal/operator`),
    ],
  };
}

/** An enrolment claim: may only send requests and read replies on the enrolment topics. */
export function claimRole(prefix = DEFAULT_PREFIX): DynsecRole {
  return {
    rolename: 'claim',
    acls: [allow('publishClientSend', `${prefix}enrol/request`), allow('subscribePattern', `${prefix}enrol/reply/+`)],
  };
}

/** Carrier services: verifiers (shared subscription), command sender, enrolment service. */
export function carrierRole(prefix = DEFAULT_PREFIX): DynsecRole {
  return {
    rolename: 'carrier',
    acls: [
      allow('subscribePattern', `$share/${VERIFIER_GROUP}/${prefix}+/result`),
      allow('subscribePattern', `$share/enrol/${prefix}enrol/request`),
      allow('subscribePattern', `$share/enrol/${prefix}+/renew`),
      ...['+/status', '+/telemetry', '+/events', '+/reply/#', '+/result', '+/renew', 'enrol/request'].map((s) => allow('subscribePattern', prefix + s)),
      allow('publishClientSend', `${prefix}+/cmd/#`),
      allow('publishClientSend', `${prefix}enrol/reply/+`),
      allow('publishClientSend', `${prefix}+/renew/reply/+`),
    ],
  };
}

/** Remote-assistance operators: send signalling to any kiosk and read what kiosks send back; no commands, no results. */
export function operatorRole(prefix = DEFAULT_PREFIX): DynsecRole {
  return {
    rolename: 'operator',
    acls: [allow('publishClientSend', `${prefix}+/assist/signal/operator`), allow('subscribePattern', `${prefix}+/assist/signal/kiosk`)],
  };
}

/** The dynamic-security password fields of `password` (PBKDF2-HMAC-SHA512, 64 bytes, as mosquitto 2.0 checks it). */
export function dynsecPassword(password: string, iterations = 101, salt: Buffer = randomBytes(12)): { password: string; salt: string; iterations: number } {
  const hash = pbkdf2Sync(password, salt, iterations, 64, 'sha512');
  return { password: hash.toString('base64'), salt: salt.toString('base64'), iterations };
}

/** Run-time administration of this policy (adding enrolled devices). */
export function adminRole(): DynsecRole {
  return {
    rolename: 'dynsec-admin',
    acls: [
      allow('publishClientSend', '$CONTROL/dynamic-security/#'),
      allow('subscribePattern', '$CONTROL/dynamic-security/#'),
      allow('publishClientReceive', '$CONTROL/dynamic-security/#'),
    ],
  };
}

/** The whole dynamic-security configuration file for `input`. */
export function dynsecConfig(input: PolicyInput): Record<string, unknown> {
  const prefix = input.prefix ?? DEFAULT_PREFIX;
  const roles: DynsecRole[] = [claimRole(prefix), carrierRole(prefix), adminRole(), ...input.devices.map((d) => deviceRole(d, prefix))];
  const operators = input.operators ?? [];
  if (operators.length > 0) roles.push(operatorRole(prefix));
  for (const o of operators) {
    if (!OPERATOR_NAME_PATTERN.test(o.username)) throw new KioskError('E_USAGE', 'an operator name must match carrier-op-<name>', { subject: o.username });
    if ((input.services ?? []).includes(o.username)) throw new KioskError('E_USAGE', 'an operator cannot also be a carrier service', { subject: o.username });
  }
  const admins = new Set(input.admins ?? []);
  const clients: DynsecClient[] = [
    ...input.devices.map((d) => ({ username: d, roles: [{ rolename: `device-${d}` }] })),
    ...(input.claims ?? []).map((c) => ({ username: c, roles: [{ rolename: 'claim' }] })),
    ...(input.services ?? []).map((s) => ({ username: s, roles: [{ rolename: 'carrier' }, ...(admins.has(s) ? [{ rolename: 'dynsec-admin' }] : [])] })),
    ...operators.map((o) => ({ username: o.username, roles: [{ rolename: 'operator' }], ...(o.password ? dynsecPassword(o.password) : {}) })),
  ];
  return {
    clients,
    groups: [],
    roles,
    // Deny by default; receiving is allowed because what a client may subscribe to is already denied above.
    defaultACLAccess: { publishClientSend: false, publishClientReceive: true, subscribe: false, unsubscribe: true },
  };
}

/** The $CONTROL commands that add an enrolled device at run time (sent by an admin service). */
export function addDeviceCommands(deviceId: string, prefix = DEFAULT_PREFIX): Record<string, unknown>[] {
  const role = deviceRole(deviceId, prefix);
  return [
    { command: 'createRole', rolename: role.rolename, acls: role.acls },
    { command: 'createClient', username: deviceId, roles: [{ rolename: role.rolename }] },
  ];
}
