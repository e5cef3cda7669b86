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

/**
 * A remote-assistance operator login: a password (browser over MQTT-over-WebSocket) or, without one,
 * a service certificate with this CN; `kiosks` are the devices it is assigned to (none: it reaches no kiosk).
 */
export interface OperatorLogin {
  username: string;
  password?: string;
  kiosks?: string[];
}

/**
 * Who may connect, by duty. Every client connects with the client id its certificate (or login)
 * names: the broker replaces the requested id with the username, and each client also carries it.
 * - verifiers: read results (their shared group), status, telemetry and events; publish nothing.
 * - dispatchers: the only ones that may publish commands (`<id>/cmd/...`) and read the replies.
 * - enrolment: the enrolment and renewal topics only.
 * - monitors: read status, telemetry and events (the metrics exporter); publish nothing.
 * - operators: assistance signalling with the kiosks each is assigned.
 */
export interface PolicyInput {
  devices: string[];
  /** Claim certificates' CNs (claim-*): enrolment requests only. */
  claims?: string[];
  verifiers?: string[];
  dispatchers?: string[];
  /** Read-only observers of the fleet (status, telemetry, events): the metrics exporter. */
  monitors?: string[];
  enrolment?: string[];
  /** Services that may also administer the policy at run time ($CONTROL/dynamic-security). */
  admins?: string[];
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
    acls: [
      allow('publishClientSend', `${prefix}enrol/request`),
      allow('subscribePattern', `${prefix}enrol/reply/+`),
      // subscribePattern admits the filter `.../reply/+` itself (measured on mosquitto 2.0.11): one
      // claimant would read every other claimant's reply. Literal wildcards are checked first and denied.
      ...['+', '#'].map((w): DynsecAcl => ({ acltype: 'subscribeLiteral', topic: `${prefix}enrol/reply/${w}`, allow: false, priority: 1 })),
    ],
  };
}

/** Monitors (the metrics exporter): read what kiosks report (status, telemetry, events); no results, no commands, nothing published. */
export function monitorRole(prefix = DEFAULT_PREFIX): DynsecRole {
  return { rolename: 'monitor', acls: ['+/status', '+/telemetry', '+/events'].map((s) => allow('subscribePattern', prefix + s)) };
}

/** Verifiers: results through the shared group, and what kiosks report; they send nothing to kiosks. */
export function verifierRole(prefix = DEFAULT_PREFIX): DynsecRole {
  return {
    rolename: 'verifier',
    acls: [
      allow('subscribePattern', `$share/${VERIFIER_GROUP}/${prefix}+/result`),
      ...['+/status', '+/telemetry', '+/events'].map((s) => allow('subscribePattern', prefix + s)),
    ],
  };
}

/** Dispatchers: the only carrier duty that may send commands to kiosks (which also check the command's signature). */
export function dispatcherRole(prefix = DEFAULT_PREFIX): DynsecRole {
  return {
    rolename: 'dispatcher',
    acls: [
      allow('publishClientSend', `${prefix}+/cmd/#`),
      allow('subscribePattern', `${prefix}+/reply/#`),
      ...['+/status', '+/telemetry', '+/events'].map((s) => allow('subscribePattern', prefix + s)),
    ],
  };
}

/** The enrolment service: enrolment requests and renewals, and their replies; nothing else. */
export function enrolmentRole(prefix = DEFAULT_PREFIX): DynsecRole {
  return {
    rolename: 'enrolment',
    acls: [
      allow('subscribePattern', `$share/enrol/${prefix}enrol/request`),
      allow('subscribePattern', `$share/enrol/${prefix}+/renew`),
      allow('publishClientSend', `${prefix}enrol/reply/+`),
      allow('publishClientSend', `${prefix}+/renew/reply/+`),
    ],
  };
}

/** One operator's role: signalling with the kiosks it is assigned, nothing else. */
export function operatorRole(o: OperatorLogin, prefix = DEFAULT_PREFIX): DynsecRole {
  const kiosks = o.kiosks ?? [];
  for (const k of kiosks) if (!DEVICE_ID_PATTERN.test(k)) throw new KioskError('E_USAGE', 'not a device id', { subject: k });
  return {
    rolename: `operator-${o.username}`,
    acls: kiosks.flatMap((k) => [
      allow('publishClientSend', `${prefix}${k}/assist/signal/operator`),
      allow('subscribePattern', `${prefix}${k}/assist/signal/kiosk`),
    ]),
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
  const operators = input.operators ?? [];
  const duties: [string, string[]][] = [
    ['verifier', input.verifiers ?? []],
    ['dispatcher', input.dispatchers ?? []],
    ['enrolment', input.enrolment ?? []],
    ['monitor', input.monitors ?? []],
  ];
  const services = new Map<string, string[]>();
  for (const [role, names] of duties)
    for (const n of names) {
      if (!n.startsWith('carrier-') || OPERATOR_NAME_PATTERN.test(n))
        throw new KioskError('E_USAGE', 'a carrier service name must start with carrier-', { subject: n });
      services.set(n, [...(services.get(n) ?? []), role]);
    }
  for (const o of operators) {
    if (!OPERATOR_NAME_PATTERN.test(o.username)) throw new KioskError('E_USAGE', 'an operator name must match carrier-op-<name>', { subject: o.username });
  }
  const admins = new Set(input.admins ?? []);
  const roles: DynsecRole[] = [
    claimRole(prefix),
    verifierRole(prefix),
    dispatcherRole(prefix),
    enrolmentRole(prefix),
    monitorRole(prefix),
    adminRole(),
    ...input.devices.map((d) => deviceRole(d, prefix)),
    ...operators.map((o) => operatorRole(o, prefix)),
  ];
  // No dynamic-security `clientid`: the broker sets every client id to the username
  // (use_username_as_clientid, mosquitto-conf.ts); the plugin would check it only for password logins.
  const client = (username: string, rolenames: string[]): DynsecClient => ({ username, roles: rolenames.map((rolename) => ({ rolename })) });
  const clients: DynsecClient[] = [
    ...input.devices.map((d) => client(d, [`device-${d}`])),
    ...(input.claims ?? []).map((c) => client(c, ['claim'])),
    ...[...services].map(([s, r]) => client(s, [...r, ...(admins.has(s) ? ['dynsec-admin'] : [])])),
    ...operators.map((o) => ({ ...client(o.username, [`operator-${o.username}`]), ...(o.password ? dynsecPassword(o.password) : {}) })),
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
