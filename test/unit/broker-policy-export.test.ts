/**
 * The AWS IoT Core policies and the EMQX acl.conf generated from the broker role model: they follow
 * the documented grammar, and on the case table of the mosquitto tests (test/helpers/broker-cases.ts,
 * measured on mosquitto by broker-policy-cases.test.ts) they decide as mosquitto does, except where
 * the table records a known difference. Evaluated with test/helpers/broker-policy-eval.ts: our
 * reading of AWS's and EMQX's documentation, not their brokers (neither runs here).
 */
import t from 'tap';
import { type AwsIotPolicy, type AwsPolicyDocument, MAX_POLICY_CHARS, THING, awsIotPolicies, policyLength } from '../../carrier/broker/aws-iot-policy.js';
import { emqxAcl } from '../../carrier/broker/emqx-acl.js';
import type { PolicyInput } from '../../carrier/broker/policy.js';
import { BROKER_CASES, type BrokerCase, CASE_POLICY } from '../helpers/broker-cases.js';
import { AWS_ACTIONS, awsAllows, emqxAllows, emqxRules, mqttMatches, parseErlangTerms } from '../helpers/broker-policy-eval.js';

const TARGET = { region: 'eu-west-1', account: '123456789012' };
const ARN = /^arn:aws:iot:eu-west-1:123456789012:(client|topic|topicfilter)\/(.+)$/;
const RESOURCE_KIND: Record<string, string> = {
  'iot:Connect': 'client',
  'iot:Publish': 'topic',
  'iot:RetainPublish': 'topic',
  'iot:Receive': 'topic',
  'iot:Subscribe': 'topicfilter',
};

const aws = awsIotPolicies(CASE_POLICY, TARGET);
const acl = emqxAcl(CASE_POLICY);
const rules = emqxRules(acl);
const docsOf = (cn: string, policies: AwsIotPolicy[] = aws) => policies.filter((p) => p.attachTo.includes(cn)).map((p) => p.policyDocument);

/** Every documented-grammar property we can check without AWS; returns the problems found. */
function grammarProblems(p: AwsIotPolicy, set: AwsIotPolicy[] = aws): string[] {
  const problems: string[] = [];
  const doc = JSON.parse(JSON.stringify(p.policyDocument)) as AwsPolicyDocument;
  if (!/^[\w+=,.@-]{1,128}$/.test(p.policyName)) problems.push(`policy name ${p.policyName}`);
  if (doc.Version !== '2012-10-17') problems.push('Version');
  if (!Array.isArray(doc.Statement) || doc.Statement.length === 0) problems.push('no statements');
  if (policyLength(doc) > MAX_POLICY_CHARS) problems.push(`${policyLength(doc)} characters`);
  for (const s of doc.Statement) {
    if (s.Effect !== 'Allow' && s.Effect !== 'Deny') problems.push(`Effect ${s.Effect}`);
    for (const a of s.Action) if (!(AWS_ACTIONS as readonly string[]).includes(a)) problems.push(`Action ${a}`);
    for (const r of s.Resource) {
      const m = ARN.exec(r);
      if (!m) {
        problems.push(`ARN ${r}`);
        continue;
      }
      for (const a of s.Action) if (RESOURCE_KIND[a] !== m[1]) problems.push(`${a} on a ${m[1]} ARN: ${r}`);
      const variables = m[2].match(/\$\{[^}]*\}/g) ?? [];
      for (const v of variables) if (v !== THING) problems.push(`policy variable ${v}`);
      // A topic name never holds + or #: in a topic ARN they could only be a mistaken MQTT wildcard.
      if (m[1] === 'topic' && /[+#]/.test(m[2])) problems.push(`MQTT wildcard in a topic ARN: ${r}`);
    }
  }
  // The reserved topics are denied by the policy or by another part of it (same certificates).
  const parts = set.filter((q) => q.policyName.replace(/-\d+$/, '') === p.policyName.replace(/-\d+$/, ''));
  const denied = (suffix: string) =>
    parts.some((q) => q.policyDocument.Statement.some((s) => s.Effect === 'Deny' && s.Resource.some((r) => r.endsWith(suffix))));
  if (!denied(':topic/$aws/*') || !denied(':topicfilter/$aws/*')) problems.push('$aws reserved topics not denied');
  return problems;
}

t.test('AWS IoT Core: every policy follows the documented grammar and fits the size limit', async (t) => {
  t.ok(aws.length >= 6, 'device, claim, verifier, dispatcher, enrolment, operator');
  for (const p of aws) t.same(grammarProblems(p), [], p.policyName);
  const many: PolicyInput = { ...CASE_POLICY, operators: [{ username: 'carrier-op-bob', kiosks: Array.from({ length: 60 }, (_, i) => `kiosk-${100 + i}`) }] };
  const parts = awsIotPolicies(many, TARGET).filter((p) => p.policyName.startsWith('kiosk-operator-carrier-op-bob'));
  t.ok(parts.length > 1, 'an operator with 60 kiosks needs more than one policy');
  for (const p of parts) t.same(grammarProblems(p, parts), [], p.policyName);
  const bob = { thing: 'carrier-op-bob', clientId: 'carrier-op-bob' };
  const reaches = (k: string) =>
    awsAllows(docsOf('carrier-op-bob', parts), bob, 'iot:Publish', `arn:aws:iot:eu-west-1:123456789012:topic/kiosk/v1/${k}/assist/signal/operator`);
  t.ok(reaches('kiosk-100') && reaches('kiosk-159'), 'across the parts, bob reaches every kiosk he is assigned');
  t.notOk(reaches('kiosk-001'), 'and no other');
  t.throws(() => awsIotPolicies(CASE_POLICY, { region: 'eu-west-1', account: '42' }), { code: 'E_USAGE' });
});

t.test('EMQX: acl.conf parses as Erlang terms of the documented rule shapes, {deny, all} last', async (t) => {
  t.ok(rules.length >= 10);
  t.same(rules.at(-1), { permission: 'deny', who: 'all', action: 'all', topics: ['#'] }, '{deny, all}. closes the file');
  t.notMatch(acl.replace(/\$\{username\}/g, ''), /\$\{/, 'no placeholder but the username one');
  t.throws(() => parseErlangTerms('{allow, all'), 'unbalanced');
  t.throws(() => parseErlangTerms('{allow, all}'), 'a rule without its "."');
  t.throws(() => emqxRules('{allow, {username, "x"}, publish, "t"}.'), 'topics must be a list');
  t.throws(() => emqxRules('{maybe, all}.'), 'permission');
});

function awsDecides(c: BrokerCase): boolean {
  const arn = 'arn:aws:iot:eu-west-1:123456789012:';
  // The client sends its CN as client id (AWS does not replace it): a takeover asks for another.
  const conn = { thing: c.who, clientId: c.action === 'connect' ? c.topic : c.who };
  const docs = docsOf(c.who);
  if (c.action === 'connect') return awsAllows(docs, conn, 'iot:Connect', `${arn}client/${c.topic}`);
  if (c.action === 'publish') return awsAllows(docs, conn, 'iot:Publish', `${arn}topic/${c.topic}`);
  return awsAllows(docs, conn, 'iot:Subscribe', `${arn}topicfilter/${c.topic}`);
}

function emqxDecides(c: BrokerCase): boolean {
  // peer_cert_as_clientid = cn: the broker uses the CN whatever id is asked for.
  if (c.action === 'connect') return c.topic === c.who;
  return emqxAllows(rules, { username: c.who, clientid: c.who }, c.action, c.topic);
}

t.test('equivalence with mosquitto on the case table', async (t) => {
  for (const c of BROKER_CASES) {
    const name = `${c.who} ${c.action} ${c.topic}`;
    t.equal(awsDecides(c), c.differs?.aws ?? c.allowed, `AWS IoT Core: ${name}${c.differs?.aws !== undefined ? ` (differs: ${c.differs.why})` : ''}`);
    t.equal(emqxDecides(c), c.differs?.emqx ?? c.allowed, `EMQX: ${name}${c.differs?.emqx !== undefined ? ` (differs: ${c.differs.why})` : ''}`);
  }
});

t.test('AWS IoT Core: what a client may subscribe to, it may also receive (Receive is checked per message)', async (t) => {
  for (const c of BROKER_CASES.filter((x) => x.action === 'subscribe' && awsDecides(x))) {
    const topic = c.topic
      .replace(/^\$share\/[^/]+\//, '')
      .split('/')
      .map((l) => (l === '+' ? 'kiosk-001' : l === '#' ? 'start_session' : l))
      .join('/');
    t.ok(mqttMatches(c.topic, topic));
    t.ok(
      awsAllows(docsOf(c.who), { thing: c.who, clientId: c.who }, 'iot:Receive', `arn:aws:iot:eu-west-1:123456789012:topic/${topic}`),
      `${c.who} receives ${topic}`,
    );
  }
});

t.test('retained messages, and a kiosk enrolled after the export', async (t) => {
  const arn = 'arn:aws:iot:eu-west-1:123456789012:topic/';
  const k1 = { thing: 'kiosk-001', clientId: 'kiosk-001' };
  t.ok(awsAllows(docsOf('kiosk-001'), k1, 'iot:RetainPublish', `${arn}kiosk/v1/kiosk-001/status`), 'the kiosk retains its status (and its Last Will)');
  t.notOk(awsAllows(docsOf('kiosk-001'), k1, 'iot:RetainPublish', `${arn}kiosk/v1/kiosk-002/status`), "not another kiosk's");
  const d = { thing: 'carrier-dispatch-1', clientId: 'carrier-dispatch-1' };
  t.notOk(awsAllows(docsOf('carrier-dispatch-1'), d, 'iot:RetainPublish', `${arn}kiosk/v1/kiosk-001/cmd/start_session`), 'no retained command');
  // kiosk-003: its certificate gets the device policy at registration; the EMQX file needs nothing.
  const k3 = { thing: 'kiosk-003', clientId: 'kiosk-003' };
  const devicePolicies = aws.filter((p) => p.policyName.startsWith('kiosk-device')).map((p) => p.policyDocument);
  t.ok(awsAllows(devicePolicies, k3, 'iot:Publish', `${arn}kiosk/v1/kiosk-003/result`));
  t.notOk(awsAllows(devicePolicies, k3, 'iot:Publish', `${arn}kiosk/v1/kiosk-001/result`));
  t.notOk(
    awsAllows(devicePolicies, { clientId: 'kiosk-003' }, 'iot:Connect', 'arn:aws:iot:eu-west-1:123456789012:client/kiosk-003'),
    'no thing attached: no connection',
  );
  t.ok(emqxAllows(rules, { username: 'kiosk-003', clientid: 'kiosk-003' }, 'publish', 'kiosk/v1/kiosk-003/result'));
  t.notOk(emqxAllows(rules, { username: 'kiosk-003', clientid: 'kiosk-003' }, 'publish', 'kiosk/v1/kiosk-001/result'));
  t.notOk(emqxAllows(rules, { username: 'claim-batch-9', clientid: 'claim-batch-9' }, 'publish', 'kiosk/v1/claim-batch-9/result'), 'a claim is not a device');
});
