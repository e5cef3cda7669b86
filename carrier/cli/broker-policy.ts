/** Carrier CLI: the broker policy for mosquitto (dynamic security), AWS IoT Core or EMQX, from one role model. */
import type { Command } from 'commander';
import { writeFile } from 'node:fs/promises';
import { KioskError } from '../../base/errors.js';
import { reportError } from '../../base/cli.js';
import type { OperatorLogin, PolicyInput } from '../broker/policy.js';

/** The formats `broker-policy --format` writes. */
export const BROKER_POLICY_FORMATS = ['mosquitto', 'aws-iot', 'emqx'] as const;
type Format = (typeof BROKER_POLICY_FORMATS)[number];

interface Options {
  format: string;
  out?: string;
  device: string[];
  claim: string[];
  verifier: string[];
  dispatcher: string[];
  enrolment: string[];
  monitor: string[];
  admin: string[];
  operator: string[];
  prefix?: string;
  awsRegion?: string;
  awsAccount?: string;
}

/** `carrier-op-alice=kiosk-001,kiosk-002` (no `=`: an operator assigned no kiosk). */
function operatorSpec(spec: string): OperatorLogin {
  const [username, kiosks = ''] = spec.split('=', 2);
  return { username, kiosks: kiosks.split(',').filter(Boolean) };
}

/** The document for `format` as text. */
async function render(format: Format, input: PolicyInput, o: Options): Promise<string> {
  if (format === 'emqx') return (await import('../broker/emqx-acl.js')).emqxAcl(input);
  if (format === 'aws-iot') {
    if (!o.awsRegion || !o.awsAccount) throw new KioskError('E_USAGE', '--format aws-iot needs --aws-region and --aws-account', { subject: '--format' });
    const { awsIotPolicies } = await import('../broker/aws-iot-policy.js');
    return `${JSON.stringify(awsIotPolicies(input, { region: o.awsRegion, account: o.awsAccount }), null, 2)}\n`;
  }
  return `${JSON.stringify((await import('../broker/policy.js')).dynsecConfig(input), null, 2)}\n`;
}

/** Registers `broker-policy` on `carrier`. */
export function registerBrokerPolicy(carrier: Command): void {
  carrier
    .command('broker-policy')
    .description('write the broker policy: mosquitto dynamic-security JSON (default), AWS IoT Core policies (JSON) or an EMQX 5 acl.conf')
    .option('--format <format>', `one of ${BROKER_POLICY_FORMATS.join(', ')}`, 'mosquitto')
    .option('--out <file>', 'write here (mode 0600) instead of standard output')
    .option('--device <id...>', 'device ids (AWS: the certificates to attach the device policy to; EMQX: not needed, one rule serves all)', [])
    .option('--claim <cn...>', 'claim CNs', [])
    .option('--verifier <cn...>', 'verifier service CNs (read results, status, events; send nothing)', [])
    .option('--dispatcher <cn...>', 'dispatcher service CNs (the only ones that may send commands)', [])
    .option('--enrolment <cn...>', 'enrolment service CNs (enrolment and renewal topics only)', [])
    .option('--monitor <cn...>', 'monitor service CNs (the metrics exporter: read status, telemetry, events; send nothing)', [])
    .option('--admin <cn...>', 'mosquitto only: services that may add enrolled devices at run time ($CONTROL/dynamic-security)', [])
    .option('--operator <spec...>', 'remote-assistance operators: carrier-op-<name>=<kiosk>,<kiosk>', [])
    .option('--prefix <prefix>', 'topic prefix (default kiosk/v1/)')
    .option('--aws-region <region>', 'aws-iot: the region of the policies ARNs, e.g. eu-west-1')
    .option('--aws-account <id>', 'aws-iot: the 12-digit account id of the policies ARNs')
    .action(async (o: Options) => {
      try {
        if (!(BROKER_POLICY_FORMATS as readonly string[]).includes(o.format))
          throw new KioskError('E_USAGE', `--format must be one of ${BROKER_POLICY_FORMATS.join(', ')}`, { subject: o.format });
        const input: PolicyInput = {
          devices: o.device,
          claims: o.claim,
          verifiers: o.verifier,
          dispatchers: o.dispatcher,
          enrolment: o.enrolment,
          monitors: o.monitor,
          admins: o.admin,
          operators: o.operator.map(operatorSpec),
          ...(o.prefix ? { prefix: o.prefix } : {}),
        };
        const text = await render(o.format as Format, input, o);
        if (o.out) await writeFile(o.out, text, { mode: 0o600 });
        else process.stdout.write(text);
      } catch (err) {
        reportError(err);
      }
    });
}
