/**
 * Who may do what on the broker: the cases the tests against the real mosquitto assert (each names
 * its test), plus a few the exports must get right. `allowed` is mosquitto's outcome with our
 * dynamic-security policy; `differs` records, with the reason, where an export knowingly decides
 * otherwise. broker-policy-export.test.ts evaluates the AWS and EMQX exports on these;
 * broker-policy-cases.test.ts checks `allowed` against a running mosquitto.
 */
import type { PolicyInput } from '../../carrier/broker/policy.js';

/** The fleet of the cases (the identities of the mosquitto attack tests). */
export const CASE_POLICY: PolicyInput = {
  devices: ['kiosk-001', 'kiosk-002'],
  claims: ['claim-batch-1'],
  verifiers: ['carrier-verifier-1'],
  dispatchers: ['carrier-dispatch-1'],
  enrolment: ['carrier-enrol'],
  monitors: ['carrier-metrics'],
  operators: [{ username: 'carrier-op-alice', kiosks: ['kiosk-001'] }],
};

export interface BrokerCase {
  /** The certificate CN (= username; on AWS also the thing). */
  who: string;
  /** connect: `topic` is the client id asked for; allowed means "gets that id". */
  action: 'publish' | 'subscribe' | 'connect';
  topic: string;
  allowed: boolean;
  /** The mosquitto test that asserts it, or "export" for cases only the exports need. */
  from: string;
  differs?: { aws?: boolean; emqx?: boolean; why: string };
}

const ACL = 'broker-acl.test.ts';
const FOREIGN = 'attacks-foreign-command.test.ts';
const dispense = 'kiosk/v1/kiosk-001/cmd/authorize_dispense';

/** The table. */
export const BROKER_CASES: BrokerCase[] = [
  { who: 'kiosk-001', action: 'publish', topic: 'kiosk/v1/kiosk-001/result', allowed: true, from: ACL },
  { who: 'kiosk-001', action: 'subscribe', topic: 'kiosk/v1/kiosk-001/cmd/#', allowed: true, from: ACL },
  { who: 'kiosk-001', action: 'publish', topic: 'kiosk/v1/kiosk-002/result', allowed: false, from: ACL },
  { who: 'kiosk-001', action: 'subscribe', topic: 'kiosk/v1/kiosk-002/cmd/#', allowed: false, from: ACL },
  { who: 'kiosk-001', action: 'subscribe', topic: '$share/verifiers/kiosk/v1/+/result', allowed: false, from: ACL },
  { who: 'kiosk-001', action: 'subscribe', topic: 'kiosk/v1/+/result', allowed: false, from: ACL },
  { who: 'kiosk-001', action: 'subscribe', topic: '#', allowed: false, from: ACL },
  { who: 'kiosk-001', action: 'publish', topic: 'kiosk/v1/kiosk-002/cmd/start_session', allowed: false, from: ACL },
  { who: 'claim-batch-1', action: 'publish', topic: 'kiosk/v1/enrol/request', allowed: true, from: ACL },
  { who: 'claim-batch-1', action: 'subscribe', topic: 'kiosk/v1/enrol/reply/abc', allowed: true, from: ACL },
  { who: 'claim-batch-1', action: 'publish', topic: 'kiosk/v1/kiosk-001/result', allowed: false, from: ACL },
  { who: 'claim-batch-1', action: 'subscribe', topic: 'kiosk/v1/kiosk-001/cmd/#', allowed: false, from: ACL },
  { who: 'carrier-verifier-1', action: 'subscribe', topic: '$share/verifiers/kiosk/v1/+/result', allowed: true, from: ACL },
  { who: 'carrier-verifier-1', action: 'publish', topic: 'kiosk/v1/kiosk-001/result', allowed: false, from: ACL },
  { who: 'carrier-verifier-1', action: 'publish', topic: dispense, allowed: false, from: FOREIGN },
  { who: 'carrier-verifier-1', action: 'publish', topic: 'kiosk/v1/kiosk-001/cmd/start_session', allowed: false, from: FOREIGN },
  { who: 'carrier-verifier-1', action: 'publish', topic: 'kiosk/v1/kiosk-001/renew/reply/abcdefghijklmnop', allowed: false, from: FOREIGN },
  { who: 'carrier-enrol', action: 'publish', topic: dispense, allowed: false, from: FOREIGN },
  { who: 'carrier-enrol', action: 'publish', topic: 'kiosk/v1/kiosk-002/cmd/clear_alarm', allowed: false, from: FOREIGN },
  { who: 'carrier-enrol', action: 'subscribe', topic: '$share/verifiers/kiosk/v1/+/result', allowed: false, from: FOREIGN },
  { who: 'carrier-enrol', action: 'subscribe', topic: '$share/enrol/kiosk/v1/enrol/request', allowed: true, from: FOREIGN },
  { who: 'carrier-dispatch-1', action: 'publish', topic: dispense, allowed: true, from: FOREIGN },
  { who: 'carrier-dispatch-1', action: 'subscribe', topic: '$share/verifiers/kiosk/v1/+/result', allowed: false, from: FOREIGN },
  { who: 'carrier-op-alice', action: 'publish', topic: 'kiosk/v1/kiosk-001/assist/signal/operator', allowed: true, from: FOREIGN },
  { who: 'carrier-op-alice', action: 'publish', topic: 'kiosk/v1/kiosk-002/assist/signal/operator', allowed: false, from: FOREIGN },
  { who: 'carrier-op-alice', action: 'subscribe', topic: 'kiosk/v1/kiosk-002/assist/signal/kiosk', allowed: false, from: FOREIGN },
  { who: 'carrier-op-alice', action: 'publish', topic: dispense, allowed: false, from: FOREIGN },
  { who: 'carrier-op-alice', action: 'publish', topic: 'kiosk/v1/kiosk-001/cmd/start_session', allowed: false, from: 'assist-webrtc.test.ts' },
  { who: 'carrier-op-alice', action: 'publish', topic: 'kiosk/v1/kiosk-001/assist/signal/kiosk', allowed: false, from: 'assist-webrtc.test.ts' },
  { who: 'carrier-op-alice', action: 'subscribe', topic: 'kiosk/v1/+/result', allowed: false, from: 'assist-webrtc.test.ts' },
  { who: 'claim-batch-1', action: 'publish', topic: 'kiosk/v1/kiosk-001/renew', allowed: false, from: 'enrol-mqtt.test.ts' },
  { who: 'kiosk-002', action: 'publish', topic: 'kiosk/v1/kiosk-001/events', allowed: false, from: 'rollout-mqtt.test.ts' },
  { who: 'kiosk-002', action: 'connect', topic: 'kiosk-001', allowed: false, from: 'attacks-client-id-takeover.test.ts' },
  { who: 'claim-batch-1', action: 'connect', topic: 'carrier-verifier-1', allowed: false, from: 'attacks-client-id-takeover.test.ts' },
  // What the services and kiosks themselves do, so an export that refuses them fails here too.
  { who: 'kiosk-001', action: 'publish', topic: 'kiosk/v1/kiosk-001/status', allowed: true, from: 'export' },
  { who: 'kiosk-001', action: 'subscribe', topic: 'kiosk/v1/kiosk-001/renew/reply/Zm9vYmFy', allowed: true, from: 'export' },
  { who: 'kiosk-001', action: 'connect', topic: 'kiosk-001', allowed: true, from: 'export' },
  { who: 'carrier-verifier-1', action: 'subscribe', topic: 'kiosk/v1/+/status', allowed: true, from: 'export' },
  { who: 'carrier-enrol', action: 'subscribe', topic: '$share/enrol/kiosk/v1/+/renew', allowed: true, from: 'export' },
  { who: 'carrier-enrol', action: 'publish', topic: 'kiosk/v1/kiosk-001/renew/reply/abc', allowed: true, from: 'export' },
  { who: 'carrier-dispatch-1', action: 'subscribe', topic: 'kiosk/v1/+/reply/#', allowed: true, from: 'export' },
  // Where an AWS `*` crosses levels: the enrolment service must still not reach a kiosk's commands.
  { who: 'carrier-enrol', action: 'publish', topic: 'kiosk/v1/kiosk-001/cmd/authorize_dispense/renew/reply/x', allowed: false, from: 'export' },
  // Where an EMQX "+" would admit "#": no claimant reads every enrolment reply.
  { who: 'claim-batch-1', action: 'subscribe', topic: 'kiosk/v1/enrol/reply/#', allowed: false, from: 'export' },
  // mosquitto's subscribePattern alone admitted the literal '+' filter (a claimant read every enrolment reply); policy.ts denies it literally.
  { who: 'claim-batch-1', action: 'subscribe', topic: 'kiosk/v1/enrol/reply/+', allowed: false, from: 'export' },
  { who: 'kiosk-001', action: 'publish', topic: '$aws/things/kiosk-001/shadow/update', allowed: false, from: 'export' },
  // The metrics exporter (monitor role): what kiosks report, nothing else.
  { who: 'carrier-metrics', action: 'subscribe', topic: 'kiosk/v1/+/telemetry', allowed: true, from: 'export' },
  { who: 'carrier-metrics', action: 'subscribe', topic: '$share/verifiers/kiosk/v1/+/result', allowed: false, from: 'export' },
  { who: 'carrier-metrics', action: 'publish', topic: 'kiosk/v1/kiosk-001/cmd/authorize_dispense', allowed: false, from: 'export' },
  // Services and claims hold device-shaped names too: none gets a device's rights on "its own" topics.
  { who: 'claim-batch-1', action: 'publish', topic: 'kiosk/v1/claim-batch-1/result', allowed: false, from: 'export' },
  { who: 'carrier-verifier-1', action: 'subscribe', topic: 'kiosk/v1/carrier-verifier-1/cmd/#', allowed: false, from: 'export' },
  // Known differences: EMQX authorises a shared subscription on its real filter, so it cannot pin the group.
  {
    who: 'carrier-verifier-1',
    action: 'subscribe',
    topic: 'kiosk/v1/+/result',
    allowed: false,
    from: 'export',
    differs: { emqx: true, why: 'EMQX checks $share/<group>/<filter> as <filter>: a verifier may read results outside the group' },
  },
  {
    who: 'carrier-verifier-1',
    action: 'subscribe',
    topic: '$share/elsewhere/kiosk/v1/+/result',
    allowed: false,
    from: 'export',
    differs: { emqx: true, why: 'EMQX cannot restrict the group name of a shared subscription' },
  },
];
