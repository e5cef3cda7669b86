/**
 * AWS IoT Core policies for the broker role model (role-grants.ts): one policy per duty, attached
 * to the certificates that hold it. Every client is a thing named by its certificate CN, and the
 * certificate is attached to that thing only, so `${iot:Connection.Thing.ThingName}` is the CN:
 * `iot:Connect` is allowed only with that client id (mosquitto's use_username_as_clientid), and a
 * kiosk's topics name its own thing. One device policy serves the whole fleet.
 *
 * AWS policy resources use `*` and `?` as wildcards and treat MQTT's `+` and `#` as plain
 * characters, and `*` also spans `/`. Hence: subscriptions are granted as the literal filters the
 * services use; a reply level (`.../reply/+`) becomes `*` with explicit denies on `+` and `#`;
 * publish patterns become `*`, and a `*` at the device level can cross levels into a kiosk's
 * commands, so each such duty but the dispatcher gets an explicit deny on `<prefix>*\/cmd/*`; and
 * `$aws/...` reserved topics are denied to all. A document over AWS's size limit is split in parts.
 */
import { KioskError } from '../../base/errors.js';
import { DEFAULT_PREFIX } from '../../protocol/names.js';
import type { PolicyInput } from './policy.js';
import { type Duty, SELF, duties, isReplyLevel, splitShared } from './role-grants.js';

/** The thing-name policy variable: the CN of the certificate's (only) thing. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: AWS's policy variable, written literally into the document
export const THING = '${iot:Connection.Thing.ThingName}';

/** One statement of an AWS IoT Core policy document. */
export interface AwsStatement {
  Effect: 'Allow' | 'Deny';
  Action: string[];
  Resource: string[];
  Condition?: Record<string, Record<string, string[]>>;
}

/** An AWS IoT Core policy document (IAM grammar, version 2012-10-17). */
export interface AwsPolicyDocument {
  Version: '2012-10-17';
  Statement: AwsStatement[];
}

/** A named policy and the certificates (by CN) to attach it to. */
export interface AwsIotPolicy {
  policyName: string;
  /** CNs known now; a device enrolled later gets the device policy at registration. */
  attachTo: string[];
  policyDocument: AwsPolicyDocument;
}

/** Where the policies live. */
export interface AwsTarget {
  /** e.g. eu-west-1 */
  region: string;
  /** the 12-digit account id */
  account: string;
}

/** Prefix of every generated policy name. */
export const POLICY_NAME_PREFIX = 'kiosk-';

/** AWS refuses a policy document longer than this, not counting whitespace (CreatePolicy). */
export const MAX_POLICY_CHARS = 2048;

/** The length AWS counts: the JSON without whitespace. */
export function policyLength(doc: AwsPolicyDocument): number {
  return JSON.stringify(doc).replace(/\s/g, '').length;
}

/** The AWS IoT Core policies for `input` in `target`. */
export function awsIotPolicies(input: PolicyInput, target: AwsTarget): AwsIotPolicy[] {
  if (!/^[a-z]{2}(-[a-z]+)+-\d$/.test(target.region)) throw new KioskError('E_USAGE', 'not an AWS region name', { subject: target.region });
  if (!/^\d{12}$/.test(target.account)) throw new KioskError('E_USAGE', 'an AWS account id is 12 digits', { subject: target.account });
  const prefix = input.prefix ?? DEFAULT_PREFIX;
  return duties(input).flatMap((d) =>
    pack(statements(d, prefix, `arn:aws:iot:${target.region}:${target.account}:`)).map((doc, i) => ({
      policyName: `${POLICY_NAME_PREFIX}${d.name}${i ? `-${i + 1}` : ''}`,
      attachTo: d.usernames,
      policyDocument: doc,
    })),
  );
}

/** `s` split by resources into statements that each fit a document alone (an operator with many kiosks). */
function fit(s: AwsStatement): AwsStatement[] {
  const fits = (r: string[]) => policyLength({ Version: '2012-10-17', Statement: [{ ...s, Resource: r }] }) <= MAX_POLICY_CHARS;
  if (fits(s.Resource)) return [s];
  const parts: AwsStatement[] = [];
  for (const r of s.Resource) {
    const last = parts.at(-1);
    if (last && fits([...last.Resource, r])) last.Resource.push(r);
    else parts.push({ ...s, Resource: [r] });
  }
  return parts;
}

/**
 * Statements packed into as few documents as fit AWS's size limit: a device's needs more than one.
 * All parts go to the same certificates, and AWS evaluates the union (an explicit deny in one part
 * still overrides an allow in another).
 */
function pack(all: AwsStatement[]): AwsPolicyDocument[] {
  const docs: AwsPolicyDocument[] = [];
  for (const s of all.flatMap(fit)) {
    const last = docs.at(-1);
    if (last && policyLength({ ...last, Statement: [...last.Statement, s] }) <= MAX_POLICY_CHARS) last.Statement.push(s);
    else docs.push({ Version: '2012-10-17', Statement: [s] });
  }
  return docs;
}

function statements(d: Duty, prefix: string, arn: string): AwsStatement[] {
  const deviceLevel = prefix.split('/').length - 1;
  const own = (t: string) => t.replaceAll(SELF, THING);
  const glob = (t: string) => own(t).replaceAll('+', '*').replace(/#$/, '*');
  const subscribe = d.subscribe.map((f) => (isReplyLevel(splitShared(f).filter, prefix) ? glob(f) : own(f)));
  // Receive is checked per delivered message against its topic: the filters' topics, and (as AWS's
  // shared-subscription samples grant it) the same under the group's $share prefix.
  const receive = d.subscribe.flatMap((f) => {
    const { group, filter } = splitShared(f);
    return group ? [glob(filter), `$share/${group}/${glob(filter)}`] : [glob(filter)];
  });
  const replyWildcards = d.subscribe
    .map((f) => own(f))
    .filter((f) => isReplyLevel(f, prefix))
    .flatMap((f) => [f, `${f.slice(0, -1)}#`]);
  const out: AwsStatement[] = [
    {
      Effect: 'Allow',
      Action: ['iot:Connect'],
      Resource: [`${arn}client/${THING}`],
      Condition: { Bool: { 'iot:Connection.Thing.IsAttached': ['true'] } },
    },
  ];
  const allow = (action: string, kind: 'topic' | 'topicfilter', topics: string[]) => {
    if (topics.length) out.push({ Effect: 'Allow', Action: [action], Resource: [...new Set(topics)].map((t) => `${arn}${kind}/${t}`) });
  };
  allow('iot:Publish', 'topic', d.publish.map(glob));
  // Retained: only the kiosk's online/offline status (and its Last Will), as the agent publishes it.
  allow('iot:RetainPublish', 'topic', d.publish.filter((t) => t.endsWith(`${SELF}/status`)).map(own));
  allow('iot:Subscribe', 'topicfilter', subscribe);
  allow('iot:Receive', 'topic', receive);
  if (replyWildcards.length) out.push({ Effect: 'Deny', Action: ['iot:Subscribe'], Resource: replyWildcards.map((f) => `${arn}topicfilter/${f}`) });
  // Only a `*` standing for the device level can reach into another kiosk's commands.
  if (d.name !== 'dispatcher' && d.publish.some((t) => t.split('/')[deviceLevel] === '+'))
    out.push({ Effect: 'Deny', Action: ['iot:Publish', 'iot:RetainPublish'], Resource: [`${arn}topic/${prefix}*/cmd/*`] });
  out.push(
    { Effect: 'Deny', Action: ['iot:Publish', 'iot:RetainPublish', 'iot:Receive'], Resource: [`${arn}topic/$aws/*`] },
    { Effect: 'Deny', Action: ['iot:Subscribe'], Resource: [`${arn}topicfilter/$aws/*`] },
  );
  return out;
}
