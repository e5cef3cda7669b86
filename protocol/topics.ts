/** The topic layout under a configurable prefix (default `kiosk/v1/`). */
import { KioskError } from '../base/errors.js';
import { DEFAULT_PREFIX } from './names.js';

/** All topics of one device. */
export interface DeviceTopics {
  /** Signed results, QoS 1, consumed by verifiers through `$share/verifiers/...`. */
  result: string;
  /** `{"state":"online"|"offline"}`, retained; the Last Will sets offline. */
  status: string;
  /** Health figures, QoS 0 with a message expiry. */
  telemetry: string;
  /** Operator-facing events (outbox full, rejected result, refused command), QoS 1. */
  events: string;
  /** Filter the device subscribes to: carrier commands. */
  commands: string;
  /** Prefix of the command topics (`.../cmd/`). */
  commandPrefix: string;
  /** Prefix every command response topic must start with (`.../reply/`). */
  replyPrefix: string;
  /** Certificate renewal requests. */
  renew: string;
  /** Remote-assistance signalling the kiosk sends to the operator (offer, ICE), QoS 1. */
  assistToOperator: string;
  /** Remote-assistance signalling the kiosk receives from an operator (answer, ICE, hang-up). */
  assistFromOperator: string;
}

/** Topics of `deviceId` under `prefix`. */
export function deviceTopics(deviceId: string, prefix = DEFAULT_PREFIX): DeviceTopics {
  if (!/^[a-z0-9][a-z0-9-]{2,62}$/.test(deviceId))
    throw new KioskError('E_CONFIG_INVALID', 'device id must be 3..63 lower-case letters, digits or dashes', { subject: deviceId });
  if (!/^([A-Za-z0-9_-]+\/)+$/.test(prefix))
    throw new KioskError('E_CONFIG_INVALID', 'topic prefix must be levels ending with "/", without wildcards', { subject: prefix });
  const base = `${prefix}${deviceId}/`;
  return {
    result: `${base}result`,
    status: `${base}status`,
    telemetry: `${base}telemetry`,
    events: `${base}events`,
    commands: `${base}cmd/#`,
    commandPrefix: `${base}cmd/`,
    replyPrefix: `${base}reply/`,
    renew: `${base}renew`,
    assistToOperator: `${base}assist/signal/kiosk`,
    assistFromOperator: `${base}assist/signal/operator`,
  };
}
