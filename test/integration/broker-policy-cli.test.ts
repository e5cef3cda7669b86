/** `carrier broker-policy --format mosquitto|aws-iot|emqx [--out <file>]` writes each format; bad input exits 2 naming the option. */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { AwsIotPolicy } from '../../carrier/broker/aws-iot-policy.js';
import { emqxRules } from '../helpers/broker-policy-eval.js';

const carrier = (args: string[]) => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'carrier/cli/main.ts', 'broker-policy', ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
};
const fleet = [
  '--device',
  'kiosk-001',
  '--verifier',
  'carrier-verifier-1',
  '--dispatcher',
  'carrier-dispatch-1',
  '--monitor',
  'carrier-metrics',
  '--operator',
  'carrier-op-alice=kiosk-001',
];

t.test('mosquitto stays the default, on standard output', async (t) => {
  const r = carrier(fleet);
  t.equal(r.code, 0, r.err);
  t.match(JSON.parse(r.out), { defaultACLAccess: { publishClientSend: false }, clients: [{ username: 'kiosk-001' }] });
});

t.test('aws-iot and emqx into files (mode 0600)', async (t) => {
  const dir = t.testdir({});
  const awsFile = join(dir, 'aws.json');
  const a = carrier(['--format', 'aws-iot', '--aws-region', 'eu-west-1', '--aws-account', '123456789012', '--out', awsFile, ...fleet]);
  t.equal(a.code, 0, a.err);
  t.equal(statSync(awsFile).mode & 0o777, 0o600);
  const policies = JSON.parse(readFileSync(awsFile, 'utf8')) as AwsIotPolicy[];
  t.match(
    policies.map((p) => p.policyName),
    [
      'kiosk-device',
      'kiosk-device-2',
      'kiosk-claim',
      'kiosk-verifier',
      'kiosk-dispatcher',
      'kiosk-enrolment',
      'kiosk-monitor',
      'kiosk-operator-carrier-op-alice',
    ],
  );
  t.same(policies.find((p) => p.policyName === 'kiosk-operator-carrier-op-alice')?.attachTo, ['carrier-op-alice']);
  t.same(policies.find((p) => p.policyName === 'kiosk-monitor')?.attachTo, ['carrier-metrics'], 'the monitor role (--monitor) for the metrics exporter');
  const aclFile = join(dir, 'acl.conf');
  const e = carrier(['--format', 'emqx', '--out', aclFile, ...fleet]);
  t.equal(e.code, 0, e.err);
  t.match(emqxRules(readFileSync(aclFile, 'utf8')).at(-1), { permission: 'deny', who: 'all' });
});

t.test('bad input exits 2 and names what is wrong', async (t) => {
  t.match(carrier(['--format', 'hivemq']), { code: 2, err: /E_USAGE.*--format must be one of mosquitto, aws-iot, emqx/ });
  t.match(carrier(['--format', 'aws-iot', ...fleet]), { code: 2, err: /--aws-region and --aws-account/ });
  t.match(carrier(['--format', 'aws-iot', '--aws-region', 'eu-west-1', '--aws-account', '1234']), { code: 2, err: /12 digits/ });
  t.match(carrier(['--format', 'emqx', '--verifier', 'verifier-1']), { code: 2, err: /carrier-/ });
});
