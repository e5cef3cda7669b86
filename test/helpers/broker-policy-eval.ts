/**
 * Small evaluators of the AWS IoT Core and EMQX authorisation documents we generate: OUR READING
 * of their documentation (and, for EMQX, of emqx_authz_rule.erl / emqx_topic.erl), not their
 * brokers. Neither broker runs here; these let a test compare the generated rules with what the
 * real mosquitto allows. Kept plain on purpose: each rule of the semantics is one small function.
 */
import type { AwsPolicyDocument, AwsStatement } from '../../carrier/broker/aws-iot-policy.js';

// ---------------------------------------------------------------- AWS IoT Core

/** The connection as AWS sees it: the thing the certificate is attached to (exclusively), and the client id sent. */
export interface AwsConnection {
  thing?: string;
  clientId: string;
}

/** AWS IoT actions our documents may use. */
export const AWS_ACTIONS = ['iot:Connect', 'iot:Publish', 'iot:RetainPublish', 'iot:Subscribe', 'iot:Receive'] as const;

/**
 * `pattern` (IAM wildcards: `*` any run of characters, `/` included; `?` one character; MQTT's `+`
 * and `#` plain characters) with policy variables replaced, matched against `value`. A variable
 * that does not resolve makes the statement not apply (undefined).
 */
export function awsResourceMatches(pattern: string, value: string, c: AwsConnection): boolean | undefined {
  let re = '';
  for (const part of pattern.split(/(\$\{[^}]+\})/)) {
    if (part.startsWith('${')) {
      const v = variable(part.slice(2, -1), c);
      if (v === undefined) return undefined;
      re += reEscape(v);
    } else re += [...part].map((ch) => (ch === '*' ? '.*' : ch === '?' ? '.' : reEscape(ch))).join('');
  }
  return new RegExp(`^${re}$`, 's').test(value);
}

function variable(name: string, c: AwsConnection): string | undefined {
  if (name === 'iot:Connection.Thing.ThingName') return c.thing;
  if (name === 'iot:ClientId') return c.clientId;
  throw new Error(`policy variable the evaluator does not know: ${name}`);
}

function reEscape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function conditionHolds(s: AwsStatement, c: AwsConnection): boolean {
  for (const [op, keys] of Object.entries(s.Condition ?? {})) {
    if (op !== 'Bool') throw new Error(`condition operator the evaluator does not know: ${op}`);
    for (const [key, values] of Object.entries(keys)) {
      if (key !== 'iot:Connection.Thing.IsAttached') throw new Error(`condition key the evaluator does not know: ${key}`);
      if (!values.includes(String(c.thing !== undefined))) return false;
    }
  }
  return true;
}

function applies(s: AwsStatement, action: string, resource: string, c: AwsConnection): boolean {
  return s.Action.includes(action) && conditionHolds(s, c) && s.Resource.some((r) => awsResourceMatches(r, resource, c) === true);
}

/** IAM evaluation over every document attached to the certificate: an explicit deny wins, else any allow, else denied. */
export function awsAllows(docs: AwsPolicyDocument[], c: AwsConnection, action: string, resource: string): boolean {
  const all = docs.flatMap((d) => d.Statement);
  if (all.some((s) => s.Effect === 'Deny' && applies(s, action, resource, c))) return false;
  return all.some((s) => s.Effect === 'Allow' && applies(s, action, resource, c));
}

// ---------------------------------------------------------------- EMQX acl.conf

/** An Erlang term as acl.conf uses them. */
export type ErlTerm = { atom: string } | { str: string } | ErlTerm[] | { tuple: ErlTerm[] };

/** Parses acl.conf: `%` comments, and terms each ending with `.`; throws on anything unbalanced or unknown. */
export function parseErlangTerms(text: string): ErlTerm[] {
  const tokens = text.replace(/%[^\n]*/g, '').match(/"(?:[^"\\]|\\.)*"|'[^']*'|[a-z][a-zA-Z0-9_]*|[{}[\],.]|\S/g) ?? [];
  let i = 0;
  const next = () => tokens[i++];
  const term = (): ErlTerm => {
    const t = next();
    if (t === '{' || t === '[') {
      const items: ErlTerm[] = [];
      const close = t === '{' ? '}' : ']';
      if (tokens[i] === close) i++;
      else
        for (;;) {
          items.push(term());
          const sep = next();
          if (sep === close) break;
          if (sep !== ',') throw new Error(`expected , or ${close}, found ${sep}`);
        }
      return t === '{' ? { tuple: items } : items;
    }
    if (t?.startsWith('"')) return { str: JSON.parse(t) as string };
    if (t && /^([a-z]|')/.test(t)) return { atom: t.replace(/'/g, '') };
    throw new Error(`unexpected token ${t}`);
  };
  const out: ErlTerm[] = [];
  while (i < tokens.length) {
    out.push(term());
    if (next() !== '.') throw new Error(`a rule must end with "." (rule ${out.length})`);
  }
  return out;
}

type Who = 'all' | { username: string | RegExp } | { clientid: string | RegExp } | { and: Who[] } | { or: Who[] };
/** One acl.conf rule in the documented shape `{Permission, Who, Action, Topics}` or `{Permission, all}`. */
export interface EmqxRule {
  permission: 'allow' | 'deny';
  who: Who;
  action: 'publish' | 'subscribe' | 'all';
  topics: ({ eq: string } | string)[];
}

const atom = (t: ErlTerm | undefined): string | undefined => (t && 'atom' in t ? t.atom : undefined);
const string = (t: ErlTerm | undefined): string | undefined => (t && 'str' in t ? t.str : undefined);

function who(t: ErlTerm): Who {
  if (atom(t) === 'all') return 'all';
  if (!('tuple' in t) || t.tuple.length !== 2) throw new Error('who must be all or a 2-tuple');
  const [k, v] = t.tuple;
  const key = atom(k);
  if ((key === 'and' || key === 'or') && Array.isArray(v)) return key === 'and' ? { and: v.map(who) } : { or: v.map(who) };
  const value = string(v) ?? (v && 'tuple' in v && atom(v.tuple[0]) === 're' ? new RegExp(string(v.tuple[1]) ?? '') : undefined);
  if (value === undefined) throw new Error('who value must be a string or {re, String}');
  if (key === 'username' || key === 'user') return { username: value };
  if (key === 'clientid' || key === 'client') return { clientid: value };
  throw new Error(`unknown who: ${key}`);
}

/** The rules of an acl.conf text, each checked against the documented shape. */
export function emqxRules(text: string): EmqxRule[] {
  return parseErlangTerms(text).map((t, n) => {
    if (!('tuple' in t)) throw new Error(`rule ${n + 1} is not a tuple`);
    const [p, w, a, topics] = t.tuple;
    const permission = atom(p);
    if (permission !== 'allow' && permission !== 'deny') throw new Error(`rule ${n + 1}: permission must be allow or deny`);
    if (t.tuple.length === 2 && atom(w) === 'all') return { permission, who: 'all', action: 'all', topics: ['#'] };
    const action = atom(a);
    if (t.tuple.length !== 4 || (action !== 'publish' && action !== 'subscribe' && action !== 'all') || !Array.isArray(topics))
      throw new Error(`rule ${n + 1}: expected {Permission, Who, publish|subscribe|all, [Topic]}`);
    const list = topics.map((x) => {
      if (string(x) !== undefined) return string(x)!;
      if ('tuple' in x && atom(x.tuple[0]) === 'eq' && string(x.tuple[1]) !== undefined) return { eq: string(x.tuple[1])! };
      throw new Error(`rule ${n + 1}: a topic is a string or {eq, String}`);
    });
    return { permission, who: who(w), action, topics: list };
  });
}

/** The client as EMQX's authorizer sees it (username and client id both the certificate CN with our listener settings). */
export interface EmqxClient {
  username: string;
  clientid: string;
}

function whoMatches(w: Who, c: EmqxClient): boolean {
  if (w === 'all') return true;
  const test = (rule: string | RegExp, v: string) => (typeof rule === 'string' ? rule === v : rule.test(v));
  if ('username' in w) return test(w.username, c.username);
  if ('clientid' in w) return test(w.clientid, c.clientid);
  if ('and' in w) return w.and.every((x) => whoMatches(x, c));
  return w.or.some((x) => whoMatches(x, c));
}

/** emqx_topic:match on words: `+` in the rule takes any one word (a subscription's `#` too), `#` the rest; no wildcard-first rule matches a `$` topic. */
export function emqxTopicMatch(name: string, filter: string): boolean {
  const n = name.split('/');
  const f = filter.split('/');
  if (n[0].startsWith('$') && (f[0] === '+' || f[0] === '#')) return false;
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#' && i === f.length - 1) return true;
    if (i >= n.length || (f[i] !== '+' && f[i] !== n[i])) return false;
  }
  return n.length === f.length;
}

// biome-ignore lint/suspicious/noTemplateCurlyInString: EMQX's placeholders as acl.conf spells them
const PLACEHOLDERS = { username: '${username}', clientid: '${clientid}' };

/** First matching rule decides; no match is denied (authorization.no_match = deny). Subscriptions are checked on their real filter. */
export function emqxAllows(rules: EmqxRule[], c: EmqxClient, action: 'publish' | 'subscribe', topic: string): boolean {
  const real = action === 'subscribe' ? topic.replace(/^\$share\/[^/]+\//, '') : topic;
  for (const r of rules) {
    if (r.action !== 'all' && r.action !== action) continue;
    if (!whoMatches(r.who, c)) continue;
    const hit = r.topics.some((t) =>
      typeof t === 'string'
        ? emqxTopicMatch(real, t.replaceAll(PLACEHOLDERS.username, c.username).replaceAll(PLACEHOLDERS.clientid, c.clientid))
        : t.eq === real,
    );
    if (hit) return r.permission === 'allow';
  }
  return false;
}

// ---------------------------------------------------------------- MQTT

/** Standard MQTT matching of a topic name against a subscription filter (for "what you may subscribe to, you may receive"). */
export function mqttMatches(filter: string, topic: string): boolean {
  return emqxTopicMatch(topic, filter.replace(/^\$share\/[^/]+\//, ''));
}
